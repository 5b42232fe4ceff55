//! `run`: probe → embed (or reuse) → adapt → search → verify → export, as one call over a
//! [`Session`]; what it was asked and what it did.

use std::path::PathBuf;

use edgenas_nas::search::EvolutionOptions;
use edgenas_nas::Space;
use edgenas_predictor::PredictorFile;
use rand::SeedableRng;

use crate::adapted::AdaptedPredictor;
use crate::report::{Reporter, Step};
use crate::search::{self, Candidate, Objective};
use crate::session::Session;
use crate::steps::{AdaptPlan, Adapted, Embedded};
use crate::tally::Tally;
use crate::verify::{Pick, SearchPlan, SearchReport};
use crate::LoopError;

/// What `run` was asked to do.
pub struct RunPlan {
    pub space: Space,
    pub objective: Objective,
    pub adapt: AdaptPlan,
    /// None: stop after adapting and propose budgets.
    pub budget_ms: Option<f64>,
    pub verify: usize,
    pub evolution: EvolutionOptions,
    /// Where the winner goes (default: `runs/` of the state directory).
    pub output: Option<PathBuf>,
    /// Seed of the exported weights.
    pub weight_seed: u64,
}

/// What `run` did: the embedding and the predictor, then either the verified pick and where
/// it was exported, or (without a budget) three proposed budgets.
pub struct RunOutcome {
    pub space: Space,
    pub embedded: Embedded,
    pub adapted: Adapted,
    pub finish: RunFinish,
    /// Every figure the run took or reused, by purpose and origin.
    pub measurements: Tally,
}

pub enum RunFinish {
    /// No budget was given: the predicted range and three budgets spread over it.
    Proposed {
        budgets: Vec<f64>,
        fastest_ms: f64,
        slowest_ms: f64,
    },
    Picked {
        plan: Box<SearchPlan>,
        report: Box<SearchReport>,
        best: Box<Pick>,
        exported: PathBuf,
    },
}

impl RunPlan {
    /// `run` in `space` as the user asked for it: the objective and search for the space,
    /// `samples` informative support archs; no budget, one pick verified, no output path.
    pub fn new(
        space: Space,
        dataset: &str,
        seed: u64,
        samples: usize,
        evaluations: usize,
    ) -> Result<RunPlan, LoopError> {
        Ok(RunPlan {
            space,
            objective: RunPlan::objective(space, dataset, seed)?,
            adapt: AdaptPlan::informative(samples, seed),
            budget_ms: None,
            verify: 1,
            evolution: RunPlan::evolution(evaluations, seed)?,
            output: None,
            weight_seed: 0,
        })
    }

    /// The search `run` does: aging evolution of `evaluations` (at least a population).
    pub fn evolution(evaluations: usize, seed: u64) -> Result<EvolutionOptions, LoopError> {
        let evolution = EvolutionOptions {
            evaluations,
            seed,
            ..EvolutionOptions::default()
        };
        if evaluations < evolution.population {
            return Err(LoopError::Invalid(format!(
                "--evaluations must be at least the search's population ({}), got {evaluations}",
                evolution.population
            )));
        }
        Ok(evolution)
    }

    /// What `run` maximises: NATS-Bench accuracy on `dataset` for NB201, NASWOT otherwise.
    pub fn objective(space: Space, dataset: &str, seed: u64) -> Result<Objective, LoopError> {
        Ok(match space {
            Space::Nb201 => Objective::Nats(crate::accuracy::Dataset::parse(dataset)?),
            _ => Objective::Naswot { samples: 8, seed },
        })
    }
}

impl Session {
    /// probe → embed (or reuse) → adapt → search → verify → export. Everything measured is in
    /// the journal, so a rerun after an interruption skips what is done.
    pub fn run(
        &mut self,
        plan: RunPlan,
        prior_file: &PredictorFile,
        reporter: &mut dyn Reporter,
    ) -> Result<RunOutcome, LoopError> {
        let space = plan.space;
        reporter.step(Step::Start {
            space,
            fingerprint: self.measurer.fingerprint(),
        });
        reporter.step(Step::Embedding);
        let embedded = self.embed(space, false, reporter)?;
        reporter.step(Step::Embedded {
            reused: embedded.reused,
            seconds: embedded.seconds,
        });
        reporter.step(Step::Adapting {
            samples: plan.adapt.samples,
        });
        let adapted = self.adapt(space, prior_file, plan.adapt, reporter)?;
        let q = &adapted.predictor.quality;
        reporter.step(Step::Adapted {
            loo_spearman: q.loo_spearman,
            loo_mape: q.loo_mape,
            seconds: adapted.seconds,
        });
        let predictor = &adapted.predictor;
        let Some(budget_ms) = plan.budget_ms else {
            let finish = self.propose_budgets(space, predictor, &plan)?;
            return Ok(RunOutcome {
                space,
                embedded,
                adapted,
                finish,
                measurements: self.measurer.tally().clone(),
            });
        };
        let verify = plan.verify.max(1);
        reporter.step(Step::Searching { budget_ms, verify });
        let search_plan = SearchPlan {
            space,
            budget_ms,
            objective: plan.objective,
            verify,
            evolution: plan.evolution,
            cache_dir: Some(self.state.cache()),
        };
        let report = self.search(&search_plan, predictor, reporter)?;
        let best = report.best.clone().ok_or_else(|| {
            LoopError::Invalid("the search verified no pick (raise --budget-ms)".into())
        })?;
        let runtime = self.measurer.setup().map(|s| s.runtime).unwrap_or_default();
        let exported = plan.output.unwrap_or_else(|| {
            self.state.root.join("runs").join(format!(
                "{}-{}-best.{}",
                space.name(),
                crate::state::fingerprint_id(&predictor.fingerprint),
                runtime.file_extension()
            ))
        });
        reporter.step(Step::Exporting(&exported));
        self.export(&best.candidate.arch, &exported, plan.weight_seed)?;
        Ok(RunOutcome {
            space,
            embedded,
            adapted,
            measurements: self.measurer.tally().clone(),
            finish: RunFinish::Picked {
                plan: Box::new(search_plan),
                report: Box::new(report),
                best: Box::new(best),
                exported,
            },
        })
    }

    /// No budget: the predicted latencies of the space (exact for NB201, 2,000 random archs
    /// otherwise) and three budgets spread over them.
    fn propose_budgets(
        &self,
        space: Space,
        predictor: &AdaptedPredictor,
        plan: &RunPlan,
    ) -> Result<RunFinish, LoopError> {
        let cands = match space {
            Space::Nb201 => {
                search::exact_nb201(predictor, &plan.objective, Some(&self.state.cache()))?.0
            }
            _ => {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(plan.adapt.seed);
                let archs: Vec<_> = (0..2000).map(|_| space.sample(&mut rng)).collect();
                let preds = predictor.predict(&archs)?;
                archs
                    .into_iter()
                    .zip(preds)
                    .map(|(arch, prediction)| Candidate {
                        arch,
                        prediction,
                        objective: 0.0,
                    })
                    .collect()
            }
        };
        let predicted = cands.iter().map(|c| c.prediction.predicted_ms);
        Ok(RunFinish::Proposed {
            budgets: search::proposed_budgets(&cands),
            fastest_ms: predicted.clone().fold(f64::INFINITY, f64::min),
            slowest_ms: predicted.fold(f64::NEG_INFINITY, f64::max),
        })
    }
}
