//! Meta-learning: Meta-SGD (MAML with a learned inner learning rate per parameter), first
//! order, and few-shot adaptation and evaluation under HELP's protocol.

use ndarray::{Array2, ArrayView2, Axis};
use rand::seq::SliceRandom;
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::device::{trimmed, Device, Normalizer};
use crate::metrics::{kendall_tau_b, spearman, within};
use crate::model::{Loss, Model};
use crate::params::{Adam, ParamSet};

/// A meta-learned predictor: initial weights, per-parameter inner learning rates, and how to
/// adapt them to a device.
#[derive(Debug, Clone)]
pub struct Learner {
    pub model: Model,
    pub params: ParamSet,
    pub inner_lr: ParamSet,
    pub inner_steps: usize,
    pub loss: Loss,
    pub adaptation: Adaptation,
}

/// How a meta-learned predictor adapts to a device's support measurements.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Adaptation {
    /// MAML's inner loop: `inner_steps` steps of `θ ← θ - α ⊙ ∇L(support)` (HELP).
    Sgd,
    /// The inner loop, then the output layer refitted in closed form: ridge regression on the
    /// head's features, shrunk towards the adapted weights with strength `lambda`.
    SgdThenRidge { lambda: f32 },
}

impl Learner {
    pub fn adapt(&self, x: ArrayView2<f32>, y: &[f32], hw: &[f32]) -> ParamSet {
        let mut p = self.params.clone();
        for _ in 0..self.inner_steps {
            let (_, g) = self.model.loss_grad(&p, x, hw, y, self.loss);
            p.sub_elementwise(&self.inner_lr, &g);
        }
        if let Adaptation::SgdThenRidge { lambda } = self.adaptation {
            refit_output_layer(&self.model, &mut p, x, y, hw, lambda as f64);
        }
        p
    }

    pub fn predict(&self, params: &ParamSet, x: ArrayView2<f32>, hw: &[f32]) -> Vec<f32> {
        // In chunks: the GCN's activations for all 15,625 NB201 archs at once would be 60 MB.
        let mut out = Vec::with_capacity(x.nrows());
        for chunk in x.axis_chunks_iter(Axis(0), 1024) {
            out.extend(self.model.predict(params, chunk, hw));
        }
        out
    }
}

/// Ridge regression of the output layer `[w; b]` on the head's features `Φ` (with a ones
/// column), shrunk towards its current value θ₀: θ = θ₀ + Φᵀ (ΦΦᵀ + λI)⁻¹ (y - Φθ₀). The dual
/// form needs only an n×n solve for n support samples.
fn refit_output_layer(
    model: &Model,
    p: &mut ParamSet,
    x: ArrayView2<f32>,
    y: &[f32],
    hw: &[f32],
    lambda: f64,
) {
    let phi = model.head_features(p, x, hw);
    let (n, h) = phi.dim();
    let out = model.output_layer();
    let w0: Vec<f64> = p.tensors[out].data.iter().map(|&v| v as f64).collect();
    let b0 = p.tensors[out + 1].data[0] as f64;
    let row = |i: usize| {
        phi.row(i)
            .iter()
            .map(|&v| v as f64)
            .chain([1.0])
            .collect::<Vec<f64>>()
    };
    let rows: Vec<Vec<f64>> = (0..n).map(row).collect();
    let theta0: Vec<f64> = w0.iter().copied().chain([b0]).collect();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let mut k = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            k[i * n + j] = dot(&rows[i], &rows[j]) + if i == j { lambda } else { 0.0 };
        }
    }
    let r: Vec<f64> = (0..n)
        .map(|i| y[i] as f64 - dot(&rows[i], &theta0))
        .collect();
    let Some(alpha) = solve_spd(k, n, r) else {
        return;
    };
    let mut theta = theta0;
    for (i, a) in alpha.iter().enumerate() {
        for (t, v) in theta.iter_mut().zip(&rows[i]) {
            *t += a * v;
        }
    }
    for (dst, &v) in p.tensors[out].data.iter_mut().zip(&theta[..h]) {
        *dst = v as f32;
    }
    p.tensors[out + 1].data[0] = theta[h] as f32;
}

/// Solves K a = r for a symmetric positive definite K (Cholesky); None if K is not.
fn solve_spd(mut k: Vec<f64>, n: usize, mut r: Vec<f64>) -> Option<Vec<f64>> {
    for j in 0..n {
        let mut d = k[j * n + j];
        for m in 0..j {
            d -= k[j * n + m] * k[j * n + m];
        }
        if d <= 0.0 {
            return None;
        }
        let d = d.sqrt();
        k[j * n + j] = d;
        for i in j + 1..n {
            let mut v = k[i * n + j];
            for m in 0..j {
                v -= k[i * n + m] * k[j * n + m];
            }
            k[i * n + j] = v / d;
        }
    }
    for i in 0..n {
        for m in 0..i {
            r[i] -= k[i * n + m] * r[m];
        }
        r[i] /= k[i * n + i];
    }
    for i in (0..n).rev() {
        for m in i + 1..n {
            r[i] -= k[m * n + i] * r[m];
        }
        r[i] /= k[i * n + i];
    }
    Some(r)
}

/// Scores of one device, averaged over support draws.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub spearman: f64,
    pub kendall: f64,
    pub within_10pct: f64,
}

/// The support set of one draw: the references, then `samples` other archs of the train pool.
pub fn support_rows(device: &Device, samples: usize, rng: &mut impl Rng) -> Vec<usize> {
    let mut rows = device.refs.clone();
    let mut pool: Vec<usize> = device
        .train_pool
        .iter()
        .copied()
        .filter(|r| !device.refs.contains(r))
        .collect();
    pool.shuffle(rng);
    rows.extend(pool.into_iter().take(samples));
    rows
}

/// HELP's protocol for one device: adapt on the support of each seed's draw, rank the query pool.
pub fn evaluate(
    learner: &Learner,
    features: &Array2<f32>,
    device: &Device,
    samples: usize,
    seeds: &[u64],
) -> Score {
    let query = features.select(Axis(0), &device.query_pool);
    let truth: Vec<f32> = device
        .query_pool
        .iter()
        .map(|&r| device.latency_ms[r])
        .collect();
    let mut total = Score::default();
    for &seed in seeds {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let rows = support_rows(device, samples, &mut rng);
        let xs = features.select(Axis(0), &rows);
        let ys: Vec<f32> = rows.iter().map(|&r| device.y[r]).collect();
        let adapted = learner.adapt(xs.view(), &ys, &device.hw);
        let pred = learner.predict(&adapted, query.view(), &device.hw);
        let pred_ms: Vec<f32> = pred.iter().map(|&p| device.norm.to_ms(p)).collect();
        total.spearman += spearman(&pred, &truth);
        total.kendall += kendall_tau_b(&pred, &truth);
        total.within_10pct += within(&pred_ms, &truth, 0.1);
    }
    let n = seeds.len().max(1) as f64;
    Score {
        spearman: total.spearman / n,
        kendall: total.kendall / n,
        within_10pct: total.within_10pct / n,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MetaTrainOptions {
    pub iterations: usize,
    /// Devices (tasks) per outer step.
    pub tasks_per_step: usize,
    /// Support samples beside the references, as at test time.
    pub support_samples: usize,
    pub query_size: usize,
    pub inner_steps: usize,
    pub init_inner_lr: f32,
    pub outer_lr: f32,
    pub loss: Loss,
    /// Share of tasks that are random mixtures of the training devices (task augmentation:
    /// nine real devices are few tasks for a meta-learner).
    pub mixture_share: f32,
    pub valid_every: usize,
    pub valid_samples: usize,
    pub valid_seeds: Vec<u64>,
    pub seed: u64,
}

impl Default for MetaTrainOptions {
    fn default() -> Self {
        MetaTrainOptions {
            iterations: 3000,
            tasks_per_step: 4,
            support_samples: 10,
            query_size: 100,
            inner_steps: 2,
            init_inner_lr: 0.01,
            outer_lr: 1e-3,
            loss: Loss::Mse,
            mixture_share: 0.5,
            valid_every: 100,
            valid_samples: 10,
            valid_seeds: vec![0, 1, 2],
            seed: 0,
        }
    }
}

/// Reported while training.
#[derive(Debug, Clone)]
pub struct Progress {
    pub iteration: usize,
    pub iterations: usize,
    pub train_loss: f32,
    /// Mean validation Spearman, when this iteration validated.
    pub valid_spearman: Option<f64>,
    pub best_spearman: f64,
}

#[derive(Debug, Clone)]
pub struct Trained {
    pub learner: Learner,
    pub best_iteration: usize,
    pub best_valid_spearman: f64,
}

/// One training task: normalised latency by row, its embedding and the rows to sample from.
struct TaskData {
    y: Vec<f32>,
    hw: Vec<f32>,
    refs: Vec<usize>,
    pool: Vec<usize>,
}

/// A device that is a random convex mixture of the training devices, renormalised by its own
/// reference latencies. Sparse Dirichlet weights keep it close to a real device now and then.
fn mixture_task(train: &[Device], rng: &mut impl Rng) -> TaskData {
    let rows = train[0].latency_ms.len();
    let mut w: Vec<f32> = (0..train.len())
        .map(|_| -rng.random_range(f32::EPSILON..1.0f32).ln())
        .map(|v| v * v)
        .collect();
    let sum: f32 = w.iter().sum();
    w.iter_mut().for_each(|v| *v /= sum);
    let mut ms = vec![0.0f32; rows];
    for (d, &wd) in train.iter().zip(&w) {
        for (m, &y) in ms.iter_mut().zip(&d.y) {
            *m += wd * y;
        }
    }
    let refs = train[0].refs.clone();
    let refs_ms: Vec<f32> = refs.iter().map(|&r| ms[r]).collect();
    let norm = Normalizer::from_references(&refs_ms).unwrap_or(Normalizer {
        min_ms: 0.0,
        max_ms: 1.0,
    });
    let y: Vec<f32> = ms.iter().map(|&v| norm.normalize(v)).collect();
    let hw = refs.iter().map(|&r| y[r]).collect();
    let pool = trimmed(&ms, 0..rows);
    TaskData { y, hw, refs, pool }
}

fn device_task(d: &Device) -> TaskData {
    TaskData {
        y: d.y.clone(),
        hw: d.hw.clone(),
        refs: d.refs.clone(),
        pool: d.train_pool.clone(),
    }
}

fn sample_rows(pool: &[usize], n: usize, rng: &mut impl Rng) -> Vec<usize> {
    (0..n)
        .map(|_| pool[rng.random_range(0..pool.len())])
        .collect()
}

/// Mean validation Spearman of a learner.
pub fn validate(
    learner: &Learner,
    features: &Array2<f32>,
    valid: &[Device],
    samples: usize,
    seeds: &[u64],
) -> f64 {
    let sum: f64 = valid
        .iter()
        .map(|d| evaluate(learner, features, d, samples, seeds).spearman)
        .sum();
    sum / valid.len().max(1) as f64
}

/// Picks how the learner adapts (HELP's inner steps alone, or followed by a ridge refit of the
/// output layer at a few strengths) by validation Spearman; returns every candidate's score.
pub fn select_adaptation(
    learner: &mut Learner,
    features: &Array2<f32>,
    valid: &[Device],
    opt: &MetaTrainOptions,
) -> Vec<(Adaptation, f64)> {
    let mut candidates = vec![Adaptation::Sgd];
    candidates.extend([0.1f32, 1.0, 10.0].map(|lambda| Adaptation::SgdThenRidge { lambda }));
    let scores: Vec<(Adaptation, f64)> = candidates
        .into_iter()
        .map(|a| {
            learner.adaptation = a;
            (
                a,
                validate(
                    learner,
                    features,
                    valid,
                    opt.valid_samples,
                    &opt.valid_seeds,
                ),
            )
        })
        .collect();
    learner.adaptation = scores
        .iter()
        .copied()
        .fold((Adaptation::Sgd, f64::NEG_INFINITY), |best, c| {
            if c.1 > best.1 {
                c
            } else {
                best
            }
        })
        .0;
    scores
}

/// Bounds of the learned inner learning rates.
pub const MAX_INNER_LR: f32 = 0.5;
/// The learned rates move slower than the weights (Adam steps ~lr each iteration).
const INNER_LR_LR_SCALE: f32 = 0.3;
/// Meta-gradient norm clip: one bad task batch must not undo the training so far.
const MAX_GRAD_NORM: f32 = 5.0;

/// Meta-trains from `train` devices, selecting the best weights on the `valid` devices.
pub fn meta_train(
    model: Model,
    features: &Array2<f32>,
    train: &[Device],
    valid: &[Device],
    opt: &MetaTrainOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Trained {
    let mut rng = ChaCha8Rng::seed_from_u64(opt.seed);
    let params = model.init_params(&mut rng);
    let inner_lr = params.filled_like(opt.init_inner_lr);
    let mut learner = Learner {
        model,
        params,
        inner_lr,
        inner_steps: opt.inner_steps,
        loss: opt.loss,
        adaptation: Adaptation::Sgd,
    };
    let mut adam_p = Adam::new(&learner.params, opt.outer_lr);
    let mut adam_a = Adam::new(&learner.inner_lr, opt.outer_lr * INNER_LR_LR_SCALE);
    let mut best = (
        f64::NEG_INFINITY,
        0usize,
        learner.params.clone(),
        learner.inner_lr.clone(),
    );

    for it in 1..=opt.iterations {
        let mut grad_p = learner.params.zeros_like();
        let mut grad_a = learner.inner_lr.zeros_like();
        let mut loss_sum = 0.0;
        for _ in 0..opt.tasks_per_step {
            let task = if rng.random_range(0.0f32..1.0) < opt.mixture_share {
                mixture_task(train, &mut rng)
            } else {
                device_task(&train[rng.random_range(0..train.len())])
            };
            let mut support = task.refs.clone();
            support.extend(sample_rows(&task.pool, opt.support_samples, &mut rng));
            let query = sample_rows(&task.pool, opt.query_size, &mut rng);
            let xs = features.select(Axis(0), &support);
            let ys: Vec<f32> = support.iter().map(|&r| task.y[r]).collect();
            let xq = features.select(Axis(0), &query);
            let yq: Vec<f32> = query.iter().map(|&r| task.y[r]).collect();

            // Inner loop, keeping each step's support gradient for the learning rates' gradient.
            let mut p = learner.params.clone();
            let mut inner_grads = learner.params.zeros_like();
            for _ in 0..opt.inner_steps {
                let (_, g) = learner
                    .model
                    .loss_grad(&p, xs.view(), &task.hw, &ys, opt.loss);
                p.sub_elementwise(&learner.inner_lr, &g);
                inner_grads.add_scaled(1.0, &g);
            }
            let (lq, gq) = learner
                .model
                .loss_grad(&p, xq.view(), &task.hw, &yq, opt.loss);
            loss_sum += lq;
            // First order: dL/dθ ≈ ∇L(θ'), dL/dα = -Σ_k g_k ⊙ ∇L(θ').
            grad_p.add_scaled(1.0, &gq);
            grad_a.add_product(-1.0, &inner_grads, &gq);
        }
        let k = 1.0 / opt.tasks_per_step as f32;
        grad_p.scale(k);
        grad_a.scale(k);
        if grad_p.all_finite() && grad_a.all_finite() {
            grad_p.clip_norm(MAX_GRAD_NORM);
            adam_p.step(&mut learner.params, &grad_p);
            adam_a.step(&mut learner.inner_lr, &grad_a);
            // First-order Meta-SGD does not see the curvature that punishes an overshooting
            // inner step, so the learned rates are kept in a range where steps stay steps.
            learner.inner_lr.clamp(0.0, MAX_INNER_LR);
        }
        let mut valid_spearman = None;
        if it % opt.valid_every == 0 || it == opt.iterations {
            let s = validate(
                &learner,
                features,
                valid,
                opt.valid_samples,
                &opt.valid_seeds,
            );
            if s > best.0 {
                best = (s, it, learner.params.clone(), learner.inner_lr.clone());
            }
            valid_spearman = Some(s);
        }
        progress(&Progress {
            iteration: it,
            iterations: opt.iterations,
            train_loss: loss_sum * k,
            valid_spearman,
            best_spearman: best.0,
        });
    }
    learner.params = best.2;
    learner.inner_lr = best.3;
    Trained {
        learner,
        best_iteration: best.1,
        best_valid_spearman: best.0,
    }
}
