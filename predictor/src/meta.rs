//! Meta-learning: Meta-SGD (MAML with a learned inner learning rate per parameter), first
//! order, and few-shot adaptation and evaluation under HELP's protocol.

use ndarray::{Array2, ArrayView2, Axis};
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::additive::AdditivePrior;
use crate::device::{query_truth, support_rows, trimmed, Device, Normalizer};
use crate::linalg::{dot, solve_spd};
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
    /// The empirical-Bayes additive model, blended with the network (see [`crate::additive`]).
    pub additive: Option<AdditivePrior>,
    /// Weight of the network in the blend (1: the network alone, 0: the additive model alone).
    pub blend: f32,
}

/// How a meta-learned predictor adapts to a device's support measurements.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Adaptation {
    /// MAML's inner loop: `inner_steps` steps of `θ ← θ - α ⊙ ∇L(support)` (HELP).
    Sgd,
    /// The inner loop, then the output layer refitted in closed form: ridge regression on the
    /// head's features, shrunk towards the adapted weights with strength `lambda`.
    SgdThenRidge { lambda: f32 },
    /// The inner loop, then a joint closed-form refit of the output layer (shrunk towards the
    /// adapted weights by `lambda_head`) and of a linear term over the arch encoding itself
    /// (shrunk towards zero by `lambda_linear`). The linear term lets 20 measurements correct
    /// what the network's prior gets wrong about a device unlike the training devices, in the
    /// additive per-choice form latency mostly has.
    SgdThenResidual {
        lambda_head: f32,
        lambda_linear: f32,
    },
}

/// A predictor adapted to one device.
#[derive(Debug, Clone)]
pub struct Adapted {
    pub params: ParamSet,
    /// The additive model's posterior coefficients (when it takes part in the blend).
    pub additive: Option<Vec<f64>>,
    /// Weights of the linear term over the encoding ([`Adaptation::SgdThenResidual`]).
    pub linear: Option<Vec<f32>>,
}

impl Learner {
    pub fn adapt(&self, x: ArrayView2<f32>, y: &[f32], hw: &[f32]) -> Adapted {
        let additive = match &self.additive {
            Some(prior) if self.blend < 1.0 => prior.posterior(x, y),
            _ => None,
        };
        let mut p = self.params.clone();
        if self.blend <= 0.0 && additive.is_some() {
            return Adapted {
                params: p,
                additive,
                linear: None,
            };
        }
        for _ in 0..self.inner_steps {
            let (_, g) = self.model.loss_grad(&p, x, hw, y, self.loss);
            p.sub_elementwise(&self.inner_lr, &g);
        }
        let mut linear = None;
        match self.adaptation {
            Adaptation::Sgd => {}
            Adaptation::SgdThenRidge { lambda } => {
                refit(&self.model, &mut p, x, y, hw, lambda as f64, None);
            }
            Adaptation::SgdThenResidual {
                lambda_head,
                lambda_linear,
            } => {
                linear = refit(
                    &self.model,
                    &mut p,
                    x,
                    y,
                    hw,
                    lambda_head as f64,
                    Some(lambda_linear as f64),
                );
            }
        }
        Adapted {
            params: p,
            additive,
            linear,
        }
    }

    pub fn predict(&self, adapted: &Adapted, x: ArrayView2<f32>, hw: &[f32]) -> Vec<f32> {
        let additive = adapted
            .additive
            .as_ref()
            .map(|beta| AdditivePrior::predict(beta, x));
        match additive {
            Some(a) if self.blend <= 0.0 => a,
            Some(a) => {
                let net = self.predict_network(adapted, x, hw);
                net.iter()
                    .zip(&a)
                    .map(|(n, a)| self.blend * n + (1.0 - self.blend) * a)
                    .collect()
            }
            None => self.predict_network(adapted, x, hw),
        }
    }

    fn predict_network(&self, adapted: &Adapted, x: ArrayView2<f32>, hw: &[f32]) -> Vec<f32> {
        // In chunks: the GCN's activations for all 15,625 NB201 archs at once would be 60 MB.
        let mut out = Vec::with_capacity(x.nrows());
        for chunk in x.axis_chunks_iter(Axis(0), 1024) {
            out.extend(self.model.predict(&adapted.params, chunk, hw));
        }
        if let Some(v) = &adapted.linear {
            for (o, row) in out.iter_mut().zip(x.rows()) {
                *o += row.iter().zip(v).map(|(a, b)| a * b).sum::<f32>();
            }
        }
        out
    }
}

/// Closed-form refit by ridge regression, in the dual form (an n×n solve for n support
/// samples). Group 1: the output layer `[w; b]` over the head's features, shrunk towards its
/// current value with `lambda_head`. Group 2 (when `lambda_linear` is given): a linear term over
/// the encoding `x`, shrunk towards zero. With residual r = y - Φθ₀ and
/// K = Σ_g Φ_g Φ_gᵀ / λ_g + I, the solution is θ_g = θ₀_g + Φ_gᵀ K⁻¹ r / λ_g.
fn refit(
    model: &Model,
    p: &mut ParamSet,
    x: ArrayView2<f32>,
    y: &[f32],
    hw: &[f32],
    lambda_head: f64,
    lambda_linear: Option<f64>,
) -> Option<Vec<f32>> {
    let phi = model.head_features(p, x, hw);
    let (n, h) = phi.dim();
    let out = model.output_layer();
    let head_rows: Vec<Vec<f64>> = (0..n)
        .map(|i| phi.row(i).iter().map(|&v| v as f64).chain([1.0]).collect())
        .collect();
    let theta0: Vec<f64> = p.tensors[out]
        .data
        .iter()
        .map(|&v| v as f64)
        .chain([p.tensors[out + 1].data[0] as f64])
        .collect();
    let lin_rows: Vec<Vec<f64>> = (0..n)
        .map(|i| x.row(i).iter().map(|&v| v as f64).collect())
        .collect();
    let mut k = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            let mut v = dot(&head_rows[i], &head_rows[j]) / lambda_head;
            if let Some(l) = lambda_linear {
                v += dot(&lin_rows[i], &lin_rows[j]) / l;
            }
            k[i * n + j] = v + if i == j { 1.0 } else { 0.0 };
        }
    }
    let r: Vec<f64> = (0..n)
        .map(|i| y[i] as f64 - dot(&head_rows[i], &theta0))
        .collect();
    let alpha = solve_spd(k, n, r)?;
    let mut theta = theta0;
    for (i, a) in alpha.iter().enumerate() {
        for (t, v) in theta.iter_mut().zip(&head_rows[i]) {
            *t += a * v / lambda_head;
        }
    }
    for (dst, &v) in p.tensors[out].data.iter_mut().zip(&theta[..h]) {
        *dst = v as f32;
    }
    p.tensors[out + 1].data[0] = theta[h] as f32;
    lambda_linear.map(|l| {
        let mut v = vec![0.0f64; x.ncols()];
        for (i, a) in alpha.iter().enumerate() {
            for (t, xv) in v.iter_mut().zip(&lin_rows[i]) {
                *t += a * xv / l;
            }
        }
        v.into_iter().map(|t| t as f32).collect()
    })
}

/// Scores of one device, averaged over support draws.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub spearman: f64,
    pub kendall: f64,
    pub within_10pct: f64,
}

impl Score {
    /// Adds one draw's ranking of the query pool (`pred` on the model's scale, `pred_ms` in ms).
    pub fn add(&mut self, pred: &[f32], pred_ms: &[f32], truth: &[f32]) {
        self.spearman += spearman(pred, truth);
        self.kendall += kendall_tau_b(pred, truth);
        self.within_10pct += within(pred_ms, truth, 0.1);
    }

    /// The mean over `draws` added draws.
    pub fn mean(self, draws: usize) -> Score {
        let n = draws.max(1) as f64;
        Score {
            spearman: self.spearman / n,
            kendall: self.kendall / n,
            within_10pct: self.within_10pct / n,
        }
    }
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
    let truth = query_truth(device);
    let mut total = Score::default();
    for &seed in seeds {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let rows = support_rows(device, samples, &mut rng);
        let xs = features.select(Axis(0), &rows);
        let ys: Vec<f32> = rows.iter().map(|&r| device.y[r]).collect();
        let adapted = learner.adapt(xs.view(), &ys, &device.hw);
        let pred = learner.predict(&adapted, query.view(), &device.hw);
        let pred_ms: Vec<f32> = pred.iter().map(|&p| device.norm.to_ms(p)).collect();
        total.add(&pred, &pred_ms, &truth);
    }
    total.mean(seeds.len())
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

/// Model selection on the validation devices, after meta-training: how the network adapts
/// (HELP's inner steps alone, or followed by a closed-form refit), the additive prior's
/// variances, and the blend of the two. Returns every candidate tried with its validation
/// Spearman; leaves the best in `learner`.
pub fn select_on_validation(
    learner: &mut Learner,
    features: &Array2<f32>,
    train: &[Device],
    valid: &[Device],
    opt: &MetaTrainOptions,
) -> Result<Vec<(String, f64)>, crate::PredictorError> {
    let mut tried = Vec::new();
    let score = |l: &Learner, tried: &mut Vec<(String, f64)>| {
        let s = validate(l, features, valid, opt.valid_samples, &opt.valid_seeds);
        tried.push((setting_label(l), s));
        s
    };
    // 1. The network alone.
    learner.additive = None;
    learner.blend = 1.0;
    let mut best = (f64::NEG_INFINITY, Adaptation::Sgd);
    for a in adaptation_grid() {
        learner.adaptation = a;
        let s = score(learner, &mut tried);
        if s > best.0 {
            best = (s, a);
        }
    }
    learner.adaptation = best.1;
    let network_alone = best.0;
    // 2. The additive model alone, over its variances.
    let fitted = AdditivePrior::fit(features, train, 0.0, 0.0)?;
    let mut best_prior = (f64::NEG_INFINITY, fitted.clone());
    learner.blend = 0.0;
    for tau2 in [0.0, 1e-5, 1e-4] {
        for noise in [1e-3, 3e-3, 1e-2] {
            learner.additive = Some(AdditivePrior {
                tau2,
                noise,
                ..fitted.clone()
            });
            let s = score(learner, &mut tried);
            if s > best_prior.0 {
                best_prior = (s, learner.additive.clone().expect("set"));
            }
        }
    }
    // 3. The blend.
    learner.additive = Some(best_prior.1);
    let mut best_blend = if best_prior.0 >= network_alone {
        (best_prior.0, 0.0)
    } else {
        (network_alone, 1.0)
    };
    for blend in [0.25f32, 0.5, 0.75] {
        learner.blend = blend;
        let s = score(learner, &mut tried);
        if s > best_blend.0 {
            best_blend = (s, blend);
        }
    }
    // The network joins the additive model only for a gain beyond the validation estimate's
    // noise: predicting with the GCN costs ~100x more (all 15,625 NB201 archs: ~1 s vs ~10 ms).
    if best_blend.1 > 0.0 && best_blend.0 < best_prior.0 + MIN_BLEND_GAIN {
        best_blend = (best_prior.0, 0.0);
    }
    learner.blend = best_blend.1;
    if learner.blend >= 1.0 {
        learner.additive = None;
    }
    Ok(tried)
}

/// The network's adaptations tried: SGD, then ridge or residual refits of the head.
fn adaptation_grid() -> Vec<Adaptation> {
    let mut adaptations = vec![Adaptation::Sgd];
    adaptations.extend([0.1f32, 1.0, 10.0].map(|lambda| Adaptation::SgdThenRidge { lambda }));
    for lambda_head in [1.0f32, 10.0] {
        for lambda_linear in [3.0f32, 10.0, 30.0] {
            adaptations.push(Adaptation::SgdThenResidual {
                lambda_head,
                lambda_linear,
            });
        }
    }
    adaptations
}

/// A learner's settings in one line, as `meta-train` reports each one it tried.
fn setting_label(l: &Learner) -> String {
    let additive = l
        .additive
        .as_ref()
        .map(|a| format!("tau2={},noise={}", a.tau2, a.noise))
        .unwrap_or_else(|| "none".into());
    format!("{:?} additive={additive} blend={}", l.adaptation, l.blend)
}

/// Validation gain the network must bring to be blended in (see [`select_on_validation`]).
pub const MIN_BLEND_GAIN: f64 = 0.002;

/// Bounds of the learned inner learning rates.
pub const MAX_INNER_LR: f32 = 0.5;
/// The learned rates move slower than the weights (Adam steps ~lr each iteration).
const INNER_LR_LR_SCALE: f32 = 0.3;
/// Meta-gradient norm clip: one bad task batch must not undo the training so far.
const MAX_GRAD_NORM: f32 = 5.0;

/// The learner meta-training starts from: seeded weights, every inner rate at its initial
/// value, Meta-SGD adaptation, the network alone.
fn initial_learner(model: Model, opt: &MetaTrainOptions, rng: &mut ChaCha8Rng) -> Learner {
    let params = model.init_params(rng);
    let inner_lr = params.filled_like(opt.init_inner_lr);
    Learner {
        model,
        params,
        inner_lr,
        inner_steps: opt.inner_steps,
        loss: opt.loss,
        adaptation: Adaptation::Sgd,
        additive: None,
        blend: 1.0,
    }
}

/// One task of a meta-training step: a support and a query drawn from its pool, the inner
/// loop on the support, and the first-order gradients of the query loss added to `grad_p`
/// (weights) and `grad_a` (inner learning rates). Returns the query loss.
fn task_gradient(
    learner: &Learner,
    features: &Array2<f32>,
    task: &TaskData,
    opt: &MetaTrainOptions,
    rng: &mut ChaCha8Rng,
    (grad_p, grad_a): (&mut ParamSet, &mut ParamSet),
) -> f32 {
    let mut support = task.refs.clone();
    support.extend(sample_rows(&task.pool, opt.support_samples, rng));
    let query = sample_rows(&task.pool, opt.query_size, rng);
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
    // First order: dL/dθ ≈ ∇L(θ'), dL/dα = -Σ_k g_k ⊙ ∇L(θ').
    grad_p.add_scaled(1.0, &gq);
    grad_a.add_product(-1.0, &inner_grads, &gq);
    lq
}

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
    let mut learner = initial_learner(model, opt, &mut rng);
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
            loss_sum += task_gradient(
                &learner,
                features,
                &task,
                opt,
                &mut rng,
                (&mut grad_p, &mut grad_a),
            );
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
        let valid_spearman = (it % opt.valid_every == 0 || it == opt.iterations).then(|| {
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
            s
        });
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
