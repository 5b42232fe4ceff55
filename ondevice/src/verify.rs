//! The search step: candidates under a latency budget (exact for NB201, evolutionary
//! otherwise), their Pareto front, and verification of the best picks by measurement, each
//! batch of which refits the predictor; and the winner's export.

use std::path::{Path, PathBuf};
use std::time::Instant;

use edgenas_nas::search::EvolutionOptions;
use edgenas_nas::{Arch, Space};

use crate::adapted::AdaptedPredictor;
use crate::export::{export_model, ExportFormat};
use crate::features::prior_for;
use crate::measure::Measurer;
use crate::report::Reporter;
use crate::search::{self, Candidate, Objective, Verification, Verified};
use crate::session::Session;
use crate::tally::Tally;
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
    /// The pick: the best verified arch that fits, else (without verification, or when the
    /// cap on measurements was spent before any pick) the best predicted.
    pub best: Option<Pick>,
    /// Why verification stopped early (`--max-measurements` spent), if it did.
    pub stopped: Option<String>,
    /// Every figure the measurer gave until the search ended, by purpose and origin.
    pub measurements: Tally,
    pub seconds: f64,
}

#[derive(Debug, Clone)]
pub struct Pick {
    pub candidate: Candidate,
    pub measured_ms: Option<f64>,
    pub fits: bool,
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
        let (runtime, precision) = self
            .measurer
            .setup()
            .map(|s| (s.runtime, s.precision))
            .unwrap_or_default();
        let format = ExportFormat::for_runtime(runtime, path);
        let qdq = edgenas_runtime::QdqStyle::for_runtime(runtime);
        export_model(arch, path, seed, format, (precision, qdq)).map(|_| ())
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
    // In oracle mode only the table's archs have figures to verify with.
    let pool = measurer
        .as_deref()
        .and_then(Measurer::oracle_table)
        .map(|t| t.archs.clone());
    let (mut candidates, features) = if exact {
        search::exact_nb201(predictor, &plan.objective, plan.cache_dir.as_deref())?
    } else if let Some(pool) = pool.filter(|_| plan.verify > 0) {
        let total = plan.evolution.evaluations;
        search::sampled_from_pool(
            &pool,
            predictor,
            &plan.objective,
            plan.budget_ms,
            &plan.evolution,
            &mut |k| reporter.evaluated(k, total),
        )?
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
    let unverified = Pick {
        candidate: candidates[best_predicted].clone(),
        measured_ms: None,
        fits: true,
    };
    let (mut verified, mut stopped, mut measurements) = (Vec::new(), None, Tally::default());
    let best = match measurer {
        Some(m) if plan.verify > 0 => {
            let refit = |extra: &[(Arch, f64)]| predictor.refit(&prior, extra);
            let v = verify_picks(plan, &mut candidates, &features, refit, m, reporter)?;
            (verified, stopped, measurements) = (v.verified, v.stopped, m.tally().clone());
            match (verified.is_empty(), &stopped) {
                // The cap was spent before a single pick: the best predicted, said so.
                (true, Some(_)) => unverified,
                _ => best_verified(plan, &verified, stopped.as_deref())?,
            }
        }
        Some(m) => {
            measurements = m.tally().clone();
            unverified
        }
        None => unverified,
    };
    Ok(SearchReport {
        candidates,
        front,
        verified,
        best: Some(best),
        stopped,
        measurements,
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
) -> Result<Verification, LoopError> {
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
fn best_verified(
    plan: &SearchPlan,
    verified: &[Verified],
    stopped: Option<&str>,
) -> Result<Pick, LoopError> {
    let Some(v) = verified.iter().find(|v| v.fits) else {
        let fastest = verified
            .iter()
            .map(|v| v.measured.median_ms)
            .fold(f64::INFINITY, f64::min);
        let remedy = match stopped {
            Some(_) => "raise --max-measurements or --budget-ms",
            None => "raise --budget-ms",
        };
        return Err(LoopError::Invalid(format!(
            "none of the {} picks measured fits {} ms (the fastest measured {}); {remedy}",
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
