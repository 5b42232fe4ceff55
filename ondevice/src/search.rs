//! Latency-constrained search with the adapted predictor, and verification by measurement.
//!
//! NB201 is small enough to be exact: every cell is predicted and its accuracy looked up, and
//! the Pareto front of accuracy against predicted latency falls out. FBNet and OFA are searched
//! by aging evolution under the predicted budget with a training-free objective. Either way,
//! [`verify`] then measures the best candidates for real and keeps only what fits by
//! measurement.

use std::collections::HashMap;
use std::path::Path;

use edgenas_nas::search::{aging_evolution, EvolutionOptions};
use edgenas_nas::{Arch, Nb201Arch, Space};
use rand::SeedableRng;

use crate::accuracy::{nb201_accuracy, Dataset};
use crate::adapted::{AdaptedPredictor, Prediction};
use crate::features::ArchFeatures;
use crate::measure::{Measured, Measurer};
use crate::report::Reporter;
use crate::tally::Purpose;
use crate::LoopError;

/// What the search maximises.
pub enum Objective {
    /// NATS-Bench test accuracy, compiled in (NB201 only).
    Nats(Dataset),
    /// Accuracy looked up in a user's table; archs missing from it are never picked.
    Table {
        source: String,
        column: String,
        values: HashMap<Arch, f64>,
    },
    /// The NASWOT training-free proxy, computed here with tract on random inputs.
    Naswot { samples: usize, seed: u64 },
}

impl Objective {
    /// What the objective's value is, for a summary line: "cifar10 accuracy", else "objective".
    pub fn label(&self) -> String {
        match self {
            Objective::Nats(d) => format!("{} accuracy", d.name()),
            _ => "objective".to_string(),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Objective::Nats(d) => format!(
                "NATS-Bench {} test accuracy (%, compiled in)",
                d.name()
            ),
            Objective::Table { source, column, .. } => {
                format!("accuracy table {source}, column {column}")
            }
            Objective::Naswot { samples, .. } => format!(
                "NASWOT training-free proxy (log|det K| of ReLU patterns over {samples} random inputs, run here with tract)"
            ),
        }
    }

    /// The objective of `arch`; `None` when it has none (not in the table, not computable).
    pub fn score(&self, arch: &Arch) -> Option<f64> {
        match (self, arch) {
            (Objective::Nats(d), Arch::Nb201(a)) => Some(nb201_accuracy(a, *d)),
            (Objective::Nats(_), _) => None,
            (Objective::Table { values, .. }, a) => values.get(a).copied(),
            (Objective::Naswot { samples, seed }, a) => {
                edgenas_runtime::naswot::naswot_score(&a.build(), *samples, *seed)
                    .ok()
                    .filter(|s| s.is_finite())
            }
        }
    }

    /// Reads `column` of an accuracy CSV holding `space`'s arch columns.
    pub fn from_table(space: Space, path: &Path, column: &str) -> Result<Objective, LoopError> {
        let wrap = |m: String| LoopError::Invalid(m);
        let pick = |header: &csv::StringRecord| {
            header
                .iter()
                .position(|h| h == column)
                .ok_or_else(|| format!("no column '{column}'"))
        };
        let mut values = HashMap::new();
        for row in crate::table::read_rows(space, path, &pick, &wrap)? {
            let v: f64 = row
                .cell
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .ok_or_else(|| {
                    LoopError::Invalid(format!(
                        "{} line {}: '{}' is not a number",
                        path.display(),
                        row.line,
                        row.cell
                    ))
                })?;
            values.insert(row.arch, v);
        }
        Ok(Objective::Table {
            source: path.display().to_string(),
            column: column.to_string(),
            values,
        })
    }
}

/// A scored candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub arch: Arch,
    pub prediction: Prediction,
    pub objective: f64,
}

/// Every NB201 cell with its prediction and objective (cells without one are left out), and
/// their features (for re-predicting after verification).
pub fn exact_nb201(
    predictor: &AdaptedPredictor,
    objective: &Objective,
    cache_dir: Option<&std::path::Path>,
) -> Result<(Vec<Candidate>, Vec<ArchFeatures>), LoopError> {
    if predictor.space != Space::Nb201.name() {
        return Err(LoopError::Invalid(
            "exact search is for the nb201 space".into(),
        ));
    }
    let all = crate::features::nb201_all(cache_dir);
    let preds = predictor.predict_features(&all);
    let mut cands = Vec::with_capacity(all.len());
    let mut feats = Vec::with_capacity(all.len());
    for ((arch, f), prediction) in Nb201Arch::all()
        .into_iter()
        .map(Arch::Nb201)
        .zip(all)
        .zip(preds)
    {
        if let Some(objective) = objective.score(&arch) {
            cands.push(Candidate {
                arch,
                prediction,
                objective,
            });
            feats.push(f);
        }
    }
    Ok((cands, feats))
}

/// Aging evolution under the predicted budget (FBNet, OFA; NB201 too where the objective is
/// not a table). Returns every evaluated candidate.
pub fn evolutionary(
    space: Space,
    predictor: &AdaptedPredictor,
    objective: &Objective,
    budget_ms: f64,
    opts: &EvolutionOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<(Vec<Candidate>, Vec<ArchFeatures>), LoopError> {
    let mut evaluated = 0usize;
    let out = aging_evolution(
        space,
        budget_ms,
        opts,
        &mut |archs| {
            // A loaded or adapted predictor has a figure of every kernel of its space, so this
            // fails for no arch of it; were one missing, no arch would fit.
            match predictor.features(archs) {
                Ok(f) => predictor
                    .predict_features(&f)
                    .iter()
                    .map(|p| p.predicted_ms)
                    .collect(),
                Err(_) => vec![f64::INFINITY; archs.len()],
            }
        },
        &mut |a| {
            evaluated += 1;
            progress(evaluated);
            objective.score(a).unwrap_or(f64::NEG_INFINITY)
        },
    );
    let kept: Vec<_> = out
        .history
        .into_iter()
        .filter(|c| c.objective.is_finite())
        .collect();
    let archs: Vec<Arch> = kept.iter().map(|c| c.arch.clone()).collect();
    let feats = predictor.features(&archs)?;
    let preds = predictor.predict_features(&feats);
    let cands = kept
        .into_iter()
        .zip(preds)
        .map(|(c, prediction)| Candidate {
            arch: c.arch,
            prediction,
            objective: c.objective,
        })
        .collect();
    Ok((cands, feats))
}

/// Oracle mode: only the table's archs have figures, so instead of evolving (whose children
/// would leave the table) the search scores `opts.evaluations` of the table's archs, drawn at
/// random (seeded) among those that plausibly fit the budget by prediction; where none does,
/// the fastest predicted (so that the refusal names them).
pub fn sampled_from_pool(
    pool: &[Arch],
    predictor: &AdaptedPredictor,
    objective: &Objective,
    budget_ms: f64,
    opts: &EvolutionOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<(Vec<Candidate>, Vec<ArchFeatures>), LoopError> {
    let feats = predictor.features(pool)?;
    let preds = predictor.predict_features(&feats);
    let mut order: Vec<usize> = (0..pool.len())
        .filter(|&i| preds[i].predicted_ms - PLAUSIBLE_Z * preds[i].std_ms <= budget_ms)
        .collect();
    if order.is_empty() {
        order = (0..pool.len()).collect();
        order.sort_by(|&a, &b| preds[a].predicted_ms.total_cmp(&preds[b].predicted_ms));
        order.truncate(opts.evaluations);
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(opts.seed);
    for i in (1..order.len()).rev() {
        order.swap(i, rand::RngExt::random_range(&mut rng, 0..=i));
    }
    order.truncate(opts.evaluations);
    let (mut cands, mut kept) = (Vec::new(), Vec::new());
    for (k, &i) in order.iter().enumerate() {
        progress(k + 1);
        if let Some(score) = objective.score(&pool[i]).filter(|s| s.is_finite()) {
            cands.push(Candidate {
                arch: pool[i].clone(),
                prediction: preds[i],
                objective: score,
            });
            kept.push(feats[i].clone());
        }
    }
    Ok((cands, kept))
}

/// Indices of the Pareto front: no other candidate is both faster (predicted) and better.
/// In order of increasing predicted latency.
pub fn pareto(cands: &[Candidate]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..cands.len()).collect();
    order.sort_by(|&a, &b| {
        cands[a]
            .prediction
            .predicted_ms
            .total_cmp(&cands[b].prediction.predicted_ms)
            .then(cands[b].objective.total_cmp(&cands[a].objective))
    });
    let mut front = Vec::new();
    let mut best = f64::NEG_INFINITY;
    for i in order {
        if cands[i].objective > best {
            best = cands[i].objective;
            front.push(i);
        }
    }
    front
}

/// The best candidate whose prediction is within the budget.
pub fn best_predicted(cands: &[Candidate], budget_ms: f64) -> Option<usize> {
    (0..cands.len())
        .filter(|&i| cands[i].prediction.predicted_ms <= budget_ms)
        .max_by(|&a, &b| {
            cands[a].objective.total_cmp(&cands[b].objective).then(
                cands[b]
                    .prediction
                    .predicted_ms
                    .total_cmp(&cands[a].prediction.predicted_ms),
            )
        })
}

/// The fastest predicted latency (what to say when nothing fits).
pub fn fastest_predicted(cands: &[Candidate]) -> Option<&Candidate> {
    cands.iter().min_by(|a, b| {
        a.prediction
            .predicted_ms
            .total_cmp(&b.prediction.predicted_ms)
    })
}

/// A candidate measured for real.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub candidate: Candidate,
    pub measured: Measured,
    pub fits: bool,
}

/// Candidates considered for verification: those that fit the budget with a probability of
/// at least 20 % under the predictor's interval.
const PLAUSIBLE_Z: f64 = 0.8416;

/// Re-adapts the predictor with the verification measurements taken so far.
pub type Refit<'a> = dyn FnMut(&[(Arch, f64)]) -> Result<AdaptedPredictor, LoopError> + 'a;

/// What verification measured, and whether `--max-measurements` stopped it.
pub struct Verification {
    /// Every verified candidate, fitting ones first, best first.
    pub verified: Vec<Verified>,
    /// Set when the cap on measurements was spent before `k` picks fit: why verification
    /// stopped, in words.
    pub stopped: Option<String>,
}

/// Measures the best candidates until `k` of them fit the budget by measurement (or the
/// plausible candidates run out, or `max_measurements` were taken, or the measurer's cap is
/// spent). Candidates are tried in order of objective among those that plausibly fit, so a
/// pick that breaks the budget is dropped and the next one is measured. With `refit`, every
/// batch's measurements also adapt the predictor (they are the most informative archs there
/// are: near the budget) and the candidates are predicted anew. Returns every verified
/// candidate, fitting ones first, best first.
#[allow(clippy::too_many_arguments)]
pub fn verify(
    cands: &mut [Candidate],
    features: &[ArchFeatures],
    mut refit: Option<&mut Refit>,
    budget_ms: f64,
    k: usize,
    max_measurements: usize,
    measurer: &mut Measurer,
    reporter: &mut dyn Reporter,
) -> Result<Verification, LoopError> {
    let mut verified: Vec<Verified> = Vec::new();
    let mut tried = vec![false; cands.len()];
    let mut stopped = None;
    loop {
        let fits = verified.iter().filter(|v| v.fits).count();
        if fits >= k || verified.len() >= max_measurements {
            break;
        }
        let remaining = measurer.remaining().unwrap_or(usize::MAX);
        if remaining == 0 {
            let why = format!(
                "the --max-measurements cap of {} is spent: verification stopped after {} pick(s), {fits} of them fitting",
                measurer.limit().unwrap_or(0),
                verified.len()
            );
            reporter.note(&why);
            stopped = Some(why);
            break;
        }
        // Likely fits first (predicted within the budget), then the merely plausible.
        let mut order: Vec<usize> = (0..cands.len())
            .filter(|&i| !tried[i] && cands[i].prediction.predicted_ms <= budget_ms)
            .collect();
        if order.is_empty() {
            order = (0..cands.len())
                .filter(|&i| {
                    let p = &cands[i].prediction;
                    !tried[i] && p.predicted_ms - PLAUSIBLE_Z * p.std_ms <= budget_ms
                })
                .collect();
        }
        if order.is_empty() {
            break;
        }
        order.sort_by(|&a, &b| {
            cands[b].objective.total_cmp(&cands[a].objective).then(
                cands[a]
                    .prediction
                    .predicted_ms
                    .total_cmp(&cands[b].prediction.predicted_ms),
            )
        });
        let want = (k - fits)
            .min(max_measurements - verified.len())
            .min(remaining)
            .min(order.len());
        let batch: Vec<usize> = order[..want].to_vec();
        let archs: Vec<Arch> = batch.iter().map(|&i| cands[i].arch.clone()).collect();
        let measured = measurer.measure(&archs, Purpose::Verification, reporter)?;
        for (i, m) in batch.into_iter().zip(measured) {
            tried[i] = true;
            let fits = m.median_ms <= budget_ms;
            if !fits {
                reporter.note(&format!(
                    "dropped {}: measured {:.3} ms breaks the {budget_ms} ms budget (predicted {:.3} ms)",
                    cands[i].arch, m.median_ms, cands[i].prediction.predicted_ms
                ));
            }
            verified.push(Verified {
                candidate: cands[i].clone(),
                measured: m,
                fits,
            });
        }
        if let Some(refit) = refit.as_mut() {
            let extra: Vec<(Arch, f64)> = verified
                .iter()
                .map(|v| (v.candidate.arch.clone(), v.measured.median_ms))
                .collect();
            let p = refit(&extra)?;
            for (c, pred) in cands.iter_mut().zip(p.predict_features(features)) {
                c.prediction = pred;
            }
        }
    }
    verified.sort_by(|a, b| {
        b.fits
            .cmp(&a.fits)
            .then(b.candidate.objective.total_cmp(&a.candidate.objective))
    });
    Ok(Verification { verified, stopped })
}

/// Three budgets spread over the predicted latencies (their 25th, 50th and 75th percentiles),
/// for a user who has not chosen one.
pub fn proposed_budgets(cands: &[Candidate]) -> Vec<f64> {
    let mut v: Vec<f64> = cands.iter().map(|c| c.prediction.predicted_ms).collect();
    if v.is_empty() {
        return Vec::new();
    }
    v.sort_by(f64::total_cmp);
    [0.25, 0.5, 0.75]
        .iter()
        .map(|q| {
            let x = v[((v.len() - 1) as f64 * q).round() as usize];
            // Two significant digits: a budget is a round number.
            let mag = 10f64.powf(x.abs().log10().floor() - 1.0);
            (x / mag).round() * mag
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(ms: f64, obj: f64) -> Candidate {
        Candidate {
            arch: Arch::Nb201(Nb201Arch::from_ordinal((ms * 10.0) as usize)),
            prediction: Prediction {
                predicted_ms: ms,
                std_ms: 0.1,
                low_ms: ms - 0.2,
                high_ms: ms + 0.2,
            },
            objective: obj,
        }
    }

    #[test]
    fn the_front_is_what_nothing_dominates() {
        let c = vec![
            cand(1.0, 50.0),
            cand(2.0, 40.0), // dominated by the first
            cand(3.0, 60.0),
            cand(4.0, 60.0), // as good as a faster one: dominated
            cand(5.0, 70.0),
        ];
        assert_eq!(pareto(&c), vec![0, 2, 4]);
        assert_eq!(best_predicted(&c, 3.5), Some(2));
        assert_eq!(best_predicted(&c, 0.5), None);
        assert_eq!(fastest_predicted(&c).unwrap().prediction.predicted_ms, 1.0);
    }

    #[test]
    fn proposed_budgets_are_round_and_ordered() {
        let c: Vec<Candidate> = (1..=100).map(|i| cand(i as f64 * 0.37, 1.0)).collect();
        let b = proposed_budgets(&c);
        assert_eq!(b.len(), 3);
        assert!(b[0] < b[1] && b[1] < b[2], "{b:?}");
    }
}
