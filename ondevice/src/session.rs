//! The loop as one API: a [`Session`] over the state directory and the [`Measurer`], whose
//! steps are `embed`, `adapt`, `validate`, `search` (with verification by measurement) and
//! `export`; [`Session::run`] is those steps in order. Results are plain data; progress goes
//! through a [`Reporter`]. Commands open a session, call one step and print what it returns.

use std::path::{Path, PathBuf};
use std::time::Instant;

use edgenas_nas::search::EvolutionOptions;
use edgenas_nas::{Arch, Space};
use edgenas_predictor::PredictorFile;
use rand::SeedableRng;

use crate::adapted::AdaptedPredictor;
use crate::export::{export_model, ExportFormat};
use crate::features::prior_for;
use crate::measure::Measurer;
use crate::report::{Reporter, Step};
use crate::search::{self, Candidate, Objective, Verified};
use crate::state::StateDir;
use crate::steps::{self, AdaptPlan, Adapted, Embedded, Validation};
use crate::LoopError;

/// How a search is run (`search`, and `run`'s third step).
pub struct SearchPlan {
    pub space: Space,
    pub budget_ms: f64,
    pub objective: Objective,
    /// Picks to verify by measurement (0: none).
    pub verify: usize,
    pub evolution: EvolutionOptions,
    /// Where computed-once data is kept (the NB201 features).
    pub cache_dir: Option<PathBuf>,
}

/// What a search found.
pub struct SearchReport {
    pub candidates: Vec<Candidate>,
    pub front: Vec<usize>,
    pub verified: Vec<Verified>,
    /// The pick: the best verified arch that fits, else (without verification) the best
    /// predicted.
    pub best: Option<Pick>,
    pub seconds: f64,
}

#[derive(Debug, Clone)]
pub struct Pick {
    pub candidate: Candidate,
    pub measured_ms: Option<f64>,
    pub fits: bool,
}

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

/// The loop over one state directory and one source of figures.
pub struct Session {
    pub state: StateDir,
    pub measurer: Measurer,
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

impl SearchPlan {
    /// A budget is a positive number of milliseconds.
    pub fn check_budget(budget_ms: f64) -> Result<(), LoopError> {
        if !(budget_ms.is_finite() && budget_ms > 0.0) {
            return Err(LoopError::Invalid(format!(
                "--budget-ms must be a positive number of milliseconds, got {budget_ms}"
            )));
        }
        Ok(())
    }
}

impl SearchReport {
    /// The candidates, the front, the budget and the verified picks as an SVG plot.
    pub fn svg(&self, title: &str, plan: &SearchPlan) -> String {
        crate::plot::pareto_svg(
            title,
            &plan.objective.describe(),
            &self.candidates,
            &self.front,
            Some(plan.budget_ms),
            &self.verified,
        )
    }
}

impl Session {
    pub fn new(root: &Path, measurer: Measurer) -> Session {
        Session {
            state: StateDir::new(root),
            measurer,
        }
    }

    /// The archs support and validation draw from: the oracle table's, in oracle mode.
    fn pool(&self) -> Option<Vec<Arch>> {
        self.measurer.oracle_table().map(|t| t.archs.clone())
    }

    pub fn embed(
        &mut self,
        space: Space,
        force: bool,
        reporter: &mut dyn Reporter,
    ) -> Result<Embedded, LoopError> {
        steps::embed(space, &mut self.measurer, &self.state, force, reporter)
    }

    pub fn adapt(
        &mut self,
        space: Space,
        prior_file: &PredictorFile,
        plan: AdaptPlan,
        reporter: &mut dyn Reporter,
    ) -> Result<Adapted, LoopError> {
        let pool = self.pool();
        steps::adapt(
            space,
            prior_file,
            &mut self.measurer,
            &self.state,
            plan,
            pool.as_deref(),
            reporter,
        )
    }

    /// The adapted predictor stored for the live Fingerprint, or one clear error.
    pub fn stored_predictor(&self, space: Space) -> Result<AdaptedPredictor, LoopError> {
        steps::stored_predictor(space, &self.measurer, &self.state)
    }

    pub fn validate(
        &mut self,
        space: Space,
        predictor: &AdaptedPredictor,
        count: usize,
        seed: u64,
        reporter: &mut dyn Reporter,
    ) -> Result<Validation, LoopError> {
        let pool = self.pool();
        steps::validate(
            space,
            predictor,
            &mut self.measurer,
            count,
            seed,
            pool.as_deref(),
            reporter,
        )
    }

    /// Search under `plan`, verifying its picks with this session's measurer.
    pub fn search(
        &mut self,
        plan: &SearchPlan,
        predictor: &AdaptedPredictor,
        reporter: &mut dyn Reporter,
    ) -> Result<SearchReport, LoopError> {
        search_and_verify(plan, predictor, Some(&mut self.measurer), reporter)
    }

    /// Writes `arch` in the format of the runtime that timed it (or the one `path` names).
    pub fn export(&self, arch: &Arch, path: &Path, seed: u64) -> Result<(), LoopError> {
        let runtime = self.measurer.setup().map(|s| s.runtime).unwrap_or_default();
        export_model(arch, path, seed, ExportFormat::for_runtime(runtime, path)).map(|_| ())
    }

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

/// Candidates (exact for NB201 with a table objective, evolutionary otherwise), the front,
/// and, with a measurer and `plan.verify > 0`, verification of the picks (each verification
/// batch refits the predictor with the shipped prior).
pub fn search_and_verify(
    plan: &SearchPlan,
    predictor: &AdaptedPredictor,
    measurer: Option<&mut Measurer>,
    reporter: &mut dyn Reporter,
) -> Result<SearchReport, LoopError> {
    let file = crate::shipped::load(plan.space, None)?;
    let prior = prior_for(plan.space, &file)?;
    let start = Instant::now();
    let exact = plan.space == Space::Nb201 && !matches!(plan.objective, Objective::Naswot { .. });
    let (mut candidates, features) = if exact {
        search::exact_nb201(predictor, &plan.objective, plan.cache_dir.as_deref())?
    } else {
        let total = plan.evolution.evaluations;
        search::evolutionary(
            plan.space,
            predictor,
            &plan.objective,
            plan.budget_ms,
            &plan.evolution,
            &mut |k| reporter.evaluated(k, total),
        )?
    };
    if candidates.is_empty() {
        return Err(LoopError::Invalid(
            "no candidate has an objective (is the accuracy table for this space?)".into(),
        ));
    }
    let front = search::pareto(&candidates);
    let Some(best_predicted) = search::best_predicted(&candidates, plan.budget_ms) else {
        let fastest = search::fastest_predicted(&candidates).expect("not empty");
        return Err(LoopError::Invalid(format!(
            "no arch is predicted within {} ms: the fastest {} the search saw is predicted at {} ({}); raise --budget-ms",
            plan.budget_ms,
            plan.space.name(),
            crate::ms(fastest.prediction.predicted_ms),
            fastest.arch
        )));
    };
    let mut verified = Vec::new();
    let best = match measurer {
        Some(m) if plan.verify > 0 => {
            let refit = |extra: &[(Arch, f64)]| predictor.refit(&prior, extra);
            verified = verify_picks(plan, &mut candidates, &features, refit, m, reporter)?;
            best_verified(plan, &verified)?
        }
        _ => Pick {
            candidate: candidates[best_predicted].clone(),
            measured_ms: None,
            fits: true,
        },
    };
    Ok(SearchReport {
        candidates,
        front,
        verified,
        best: Some(best),
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Measures the best candidates until `plan.verify` fit by measurement; each batch of
/// measurements refits the predictor and predicts the candidates anew.
fn verify_picks(
    plan: &SearchPlan,
    candidates: &mut [Candidate],
    features: &[crate::features::ArchFeatures],
    mut refit: impl FnMut(&[(Arch, f64)]) -> Result<AdaptedPredictor, LoopError>,
    measurer: &mut Measurer,
    reporter: &mut dyn Reporter,
) -> Result<Vec<Verified>, LoopError> {
    search::verify(
        candidates,
        features,
        Some(&mut refit),
        plan.budget_ms,
        plan.verify,
        (plan.verify * 5).max(plan.verify + 10),
        measurer,
        reporter,
    )
}

/// The best verified pick that fits, or why none does.
fn best_verified(plan: &SearchPlan, verified: &[Verified]) -> Result<Pick, LoopError> {
    let Some(v) = verified.iter().find(|v| v.fits) else {
        let fastest = verified
            .iter()
            .map(|v| v.measured.median_ms)
            .fold(f64::INFINITY, f64::min);
        return Err(LoopError::Invalid(format!(
            "none of the {} picks measured fits {} ms (the fastest measured {}); raise --budget-ms",
            verified.len(),
            plan.budget_ms,
            crate::ms(fastest)
        )));
    };
    Ok(Pick {
        candidate: v.candidate.clone(),
        measured_ms: Some(v.measured.median_ms),
        fits: true,
    })
}
