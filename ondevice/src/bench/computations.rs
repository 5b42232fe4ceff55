//! The loop's computations without measurement, on a table device's figures: adapting,
//! predicting a whole space, exact and evolutionary search, and HELP's network for comparison.

use std::path::Path;
use std::time::Instant;

use edgenas_nas::search::EvolutionOptions;
use edgenas_nas::{Arch, Nb201Arch, Space};
use edgenas_predictor::{Adaptation, Learner, PredictorFile};
use rand::SeedableRng;

use super::timed_ms;
use crate::adapted::{choose_support, AdaptedPredictor};
use crate::features::{features_of, prior_for, KernelTable};
use crate::help::{encode_archs, TableLearner};
use crate::oracle::OracleTable;
use crate::search::{best_predicted, exact_nb201, pareto, Objective};
use crate::LoopError;

/// Medians (ms) of the on-device loop's computations over NB201.
#[derive(Debug, Clone)]
pub struct LoopSpeed {
    /// Prior settings the adaptation chooses among.
    pub settings: usize,
    pub adapt_ms: f64,
    pub features_ms: f64,
    pub predict_ms: f64,
    pub search_ms: f64,
    /// Building the feature cache once.
    pub cold_cache_ms: f64,
}

/// Adapting on 10 references + 10 informative support archs of `device`'s column, features
/// and predictions of all 15,625 cells, exact search with cached features.
pub fn loop_speed(data: &Path, device: &str, repeats: usize) -> Result<LoopSpeed, LoopError> {
    let space = Space::Nb201;
    let table = OracleTable::read(space, data, device)?;
    let file = crate::shipped::load(space, None)?;
    let prior = prior_for(space, &file)?;
    let figure = |a: Arch| {
        let ms = table.latency_ms(&a).ok_or_else(|| {
            LoopError::Oracle(format!("{a} is not in the table {}", data.display()))
        })?;
        Ok::<_, LoopError>((a, ms))
    };
    let refs: Vec<(Arch, f64)> = space
        .references()
        .into_iter()
        .map(figure)
        .collect::<Result<_, _>>()?;
    let support: Vec<(Arch, f64)> = choose_support(
        space,
        &prior,
        &KernelTable::default(),
        10,
        0,
        Some(&table.archs),
        &[],
    )?
    .into_iter()
    .map(figure)
    .collect::<Result<_, _>>()?;
    let fp = crate::measure::oracle_fingerprint(&table);
    let mut predictor = None;
    let adapt_ms = timed_ms(repeats, &mut || {
        predictor = Some(AdaptedPredictor::adapt(
            space,
            &prior,
            "shipped",
            fp.clone(),
            &refs,
            &support,
            &KernelTable::default(),
            crate::anchor::PRIOR_REL_SD,
        ));
    });
    let predictor = predictor.expect("adapted at least once")?;
    let all: Vec<Arch> = Nb201Arch::all().into_iter().map(Arch::Nb201).collect();
    let mut feats = Vec::new();
    let features_ms = timed_ms(repeats, &mut || feats = features_of(&all));
    let predict_ms = timed_ms(repeats, &mut || {
        predictor.predict_features(&feats);
    });
    let objective = Objective::Nats(crate::accuracy::Dataset::Cifar10);
    let cache = std::env::temp_dir().join(format!("edgenas-bench-cache-{}", std::process::id()));
    let t = Instant::now();
    let _ = crate::features::nb201_all(Some(&cache));
    let cold_cache_ms = t.elapsed().as_secs_f64() * 1e3;
    let mut searched = Ok(());
    let search_ms = timed_ms(repeats, &mut || {
        searched = exact_nb201(&predictor, &objective, Some(&cache)).map(|(c, _)| {
            pareto(&c);
            best_predicted(&c, 10.0);
        });
    });
    let _ = std::fs::remove_dir_all(&cache);
    searched?;
    Ok(LoopSpeed {
        settings: prior.grid().len(),
        adapt_ms,
        features_ms,
        predict_ms,
        search_ms,
        cold_cache_ms,
    })
}

/// One configuration of HELP's network: adaptation and prediction times.
#[derive(Debug, Clone)]
pub struct LearnerSpeed {
    pub name: &'static str,
    pub adaptation: Adaptation,
    /// The network's weight in the blend.
    pub blend: f32,
    pub adapt_ms: f64,
    pub predict_ms: f64,
}

#[derive(Debug, Clone)]
pub struct PredictorSpeed {
    pub archs: usize,
    pub support: usize,
    pub encode_ms: f64,
    pub learners: Vec<LearnerSpeed>,
}

/// HELP's network (shipped, and alone) adapted on 10 references + 10 samples, predicting the
/// whole space (NB201: all 15,625 archs; others: 15,625 random ones), single-threaded.
pub fn predictor_speed(
    space: Space,
    data: &Path,
    device: &str,
    model: &PredictorFile,
    repeats: usize,
) -> Result<PredictorSpeed, LoopError> {
    let adapted = TableLearner::from_table(space, data, device, 10, model, 0)?;
    let archs: Vec<Arch> = match space {
        Space::Nb201 => Nb201Arch::all().into_iter().map(Arch::Nb201).collect(),
        _ => {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
            (0..15_625).map(|_| space.sample(&mut rng)).collect()
        }
    };
    // The support set as the command adapts on it.
    let support: Vec<Arch> = space
        .references()
        .into_iter()
        .chain(archs.iter().take(10).cloned())
        .collect();
    let xs = encode_archs(&support);
    let hw = &adapted.device.hw;
    let ys: Vec<f32> = hw
        .iter()
        .copied()
        .chain(std::iter::repeat_n(0.5, 10))
        .collect();
    // The shipped configuration, and HELP's network alone (Meta-SGD inner steps, no prior).
    let shipped = adapted.learner.clone();
    let mut network = shipped.clone();
    network.blend = 1.0;
    network.additive = None;
    network.adaptation = Adaptation::Sgd;
    let mut x = encode_archs(&archs[..1]);
    let encode_ms = timed_ms(repeats, &mut || x = encode_archs(&archs));
    let time = |name, learner: &Learner| {
        let (mut adapt, mut predict) = (Vec::new(), Vec::new());
        for _ in 0..repeats {
            let t = Instant::now();
            let a = learner.adapt(xs.view(), &ys, hw);
            adapt.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            learner.predict(&a, x.view(), hw);
            predict.push(t.elapsed().as_secs_f64() * 1e3);
        }
        LearnerSpeed {
            name,
            adaptation: learner.adaptation,
            blend: learner.blend,
            adapt_ms: super::median(adapt),
            predict_ms: super::median(predict),
        }
    };
    Ok(PredictorSpeed {
        archs: archs.len(),
        support: support.len(),
        encode_ms,
        learners: vec![
            time("shipped", &shipped),
            time("HELP network alone", &network),
        ],
    })
}

#[derive(Debug, Clone)]
pub struct SearchSpeed {
    pub budget_ms: f64,
    /// Seconds until the first arch within the budget was found and scored.
    pub first_s: f64,
    pub evaluations: usize,
    pub total_s: f64,
    pub best_ms: f64,
    pub best_objective: f64,
    pub best: Arch,
}

/// Aging evolution with NASWOT under a budget at `quantile` of HELP's predicted latencies.
pub fn search_speed(
    space: Space,
    data: &Path,
    device: &str,
    quantile: f64,
    evaluations: usize,
    model: &PredictorFile,
) -> Result<SearchSpeed, LoopError> {
    let adapted = TableLearner::from_table(space, data, device, 10, model, 0)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let sample: Vec<Arch> = (0..1000).map(|_| space.sample(&mut rng)).collect();
    let mut lats = adapted.predict_ms(&sample);
    lats.sort_by(f64::total_cmp);
    let budget_ms = lats[((lats.len() as f64 * quantile) as usize).min(lats.len() - 1)];
    let objective = Objective::Naswot {
        samples: 8,
        seed: 0,
    };
    let opts = EvolutionOptions {
        evaluations,
        population: 10,
        tournament: 3,
        ..Default::default()
    };
    let start = Instant::now();
    let mut first = None::<f64>;
    let out = edgenas_nas::search::aging_evolution(
        space,
        budget_ms,
        &opts,
        &mut |archs| adapted.predict_ms(archs),
        &mut |a| {
            let score = objective.score(a).unwrap_or(f64::NEG_INFINITY);
            first.get_or_insert(start.elapsed().as_secs_f64());
            score
        },
    );
    let total_s = start.elapsed().as_secs_f64();
    let best = out
        .best
        .ok_or_else(|| LoopError::Invalid("no arch within the budget was found".into()))?;
    Ok(SearchSpeed {
        budget_ms,
        first_s: first.unwrap_or(total_s),
        evaluations: out.history.len(),
        total_s,
        best_ms: best.latency_ms,
        best_objective: best.objective,
        best: best.arch,
    })
}
