//! Results as plain data for people and scripts: what `--json` prints and the export tables
//! hold, built from the loop's results (the binary serialises and writes them).

use std::path::PathBuf;

use edgenas_format::table::Table;
use edgenas_profiler::Fingerprint;
use serde::Serialize;

use crate::run::{RunFinish, RunOutcome};
use crate::search::Candidate;
use crate::steps::{Adapted, Embedded, Validation};
use crate::tally::Tally;
use crate::verify::{Pick, SearchPlan, SearchReport};

/// A pick as plain data (`--json`): the arch, its prediction and interval, what it measured.
#[derive(Debug, Clone, Serialize)]
pub struct PickSummary {
    pub arch: String,
    pub predicted_ms: f64,
    pub low_ms: f64,
    pub high_ms: f64,
    pub measured_ms: Option<f64>,
    pub accuracy: f64,
    pub fits: bool,
}

impl Pick {
    pub fn summary(&self) -> PickSummary {
        let p = &self.candidate.prediction;
        PickSummary {
            arch: self.candidate.arch.to_string(),
            predicted_ms: p.predicted_ms,
            low_ms: p.low_ms,
            high_ms: p.high_ms,
            measured_ms: self.measured_ms,
            accuracy: self.candidate.objective,
            fits: self.fits,
        }
    }
}

/// What `run` reports about its predictor.
#[derive(Debug, Clone, Serialize)]
pub struct PredictorSummary {
    pub loo_spearman: f64,
    pub loo_mape: f64,
    pub loo_coverage: f64,
    /// Whether its figures scattered like an unsteady sitting's
    /// ([`crate::adapted::Quality::scattered`]).
    pub scattered: bool,
    /// The commands that measure its figures again, when they scattered and were measured
    /// (not an oracle's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remeasure: Option<String>,
    /// References and support measured for it.
    pub measurements: usize,
}

/// `run`'s pick as plain data (`--json`): the conditions, the pick and how it was reached.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub space: &'static str,
    pub budget_ms: f64,
    pub fingerprint: Fingerprint,
    pub objective: String,
    pub best: PickSummary,
    /// Picks measured to verify.
    pub verified: usize,
    pub embedding_seconds: f64,
    pub embedding_inference_seconds: f64,
    pub embedding_reused: bool,
    pub predictor: PredictorSummary,
    /// Every figure the run took or reused, by purpose (references, support, verification)
    /// and origin.
    pub measurements: Tally,
    /// Why verification stopped early (`--max-measurements` spent), if it did.
    pub verification_stopped: Option<String>,
    /// Why a space with kernels went without them (`--kernels`); absent when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernels_skipped: Option<crate::measure::KernelsSkipped>,
    pub exported: PathBuf,
}

impl RunOutcome {
    /// The pick's summary; None when no budget was given (budgets were proposed).
    pub fn summary(&self) -> Option<RunSummary> {
        let RunFinish::Picked {
            plan,
            report,
            best,
            exported,
        } = &self.finish
        else {
            return None;
        };
        let p = &self.adapted.predictor;
        let q = &p.quality;
        Some(RunSummary {
            space: self.space.name(),
            budget_ms: plan.budget_ms,
            fingerprint: p.fingerprint.clone(),
            objective: plan.objective.describe(),
            best: best.summary(),
            verified: report.verified.len(),
            embedding_seconds: self.embedded.seconds,
            embedding_inference_seconds: self.embedded.inference_seconds(),
            embedding_reused: self.embedded.reused,
            predictor: PredictorSummary {
                loo_spearman: q.loo_spearman,
                loo_mape: q.loo_mape,
                loo_coverage: q.loo_coverage,
                scattered: q.scattered(),
                remeasure: self.adapted.remeasure.clone(),
                measurements: p.references.len() + p.support.len(),
            },
            measurements: self.measurements.clone(),
            verification_stopped: report.stopped.clone(),
            kernels_skipped: self.adapted.kernels_skipped,
            exported: exported.clone(),
        })
    }
}

/// A Pareto-front point (`search --json`).
#[derive(Debug, Clone, Serialize)]
pub struct FrontPoint {
    pub arch: String,
    pub predicted_ms: f64,
    pub accuracy: f64,
}

/// A pick measured to verify it (`search --json`).
#[derive(Debug, Clone, Serialize)]
pub struct VerifiedSummary {
    pub arch: String,
    pub predicted_ms: f64,
    pub measured_ms: f64,
    /// measured, journal or oracle.
    pub origin: &'static str,
    pub accuracy: f64,
    pub fits: bool,
}

/// A search as plain data (`search --json`).
#[derive(Debug, Clone, Serialize)]
pub struct SearchSummary {
    pub space: &'static str,
    pub budget_ms: f64,
    pub objective: String,
    pub best: Option<PickSummary>,
    pub pareto: Vec<FrontPoint>,
    pub verified: Vec<VerifiedSummary>,
    /// Candidates considered.
    pub candidates: usize,
    /// Every figure the search took or reused, by purpose and origin (with --verify).
    pub measurements: Tally,
    /// Why verification stopped early (`--max-measurements` spent), if it did.
    pub verification_stopped: Option<String>,
    pub seconds: f64,
}

impl SearchReport {
    pub fn summary(&self, plan: &SearchPlan) -> SearchSummary {
        SearchSummary {
            space: plan.space.name(),
            budget_ms: plan.budget_ms,
            objective: plan.objective.describe(),
            best: self.best.as_ref().map(Pick::summary),
            pareto: self
                .front
                .iter()
                .map(|&i| {
                    let c = &self.candidates[i];
                    FrontPoint {
                        arch: c.arch.to_string(),
                        predicted_ms: c.prediction.predicted_ms,
                        accuracy: c.objective,
                    }
                })
                .collect(),
            verified: self
                .verified
                .iter()
                .map(|v| VerifiedSummary {
                    arch: v.candidate.arch.to_string(),
                    predicted_ms: v.candidate.prediction.predicted_ms,
                    measured_ms: v.measured.median_ms,
                    origin: v.measured.origin.name(),
                    accuracy: v.candidate.objective,
                    fits: v.fits,
                })
                .collect(),
            candidates: self.candidates.len(),
            measurements: self.measurements.clone(),
            verification_stopped: self.stopped.clone(),
            seconds: self.seconds,
        }
    }

    /// The export table: the Pareto front, then the picks verified by measurement, then the
    /// best pick, one row each (`role` says which).
    pub fn table(&self) -> Table {
        let mut t = Table::new(&[
            "role",
            "arch",
            "predicted_ms",
            "low_ms",
            "high_ms",
            "measured_ms",
            "objective",
            "fits",
        ]);
        let mut row = |role: &str, c: &Candidate, measured: Option<f64>, fits: Option<bool>| {
            t.push(vec![
                role.into(),
                c.arch.to_string().into(),
                c.prediction.predicted_ms.into(),
                c.prediction.low_ms.into(),
                c.prediction.high_ms.into(),
                measured.into(),
                c.objective.into(),
                fits.into(),
            ])
        };
        for &i in &self.front {
            row("front", &self.candidates[i], None, None);
        }
        for v in &self.verified {
            let measured = Some(v.measured.median_ms);
            row("verified", &v.candidate, measured, Some(v.fits));
        }
        if let Some(b) = &self.best {
            row("best", &b.candidate, b.measured_ms, Some(b.fits));
        }
        t
    }
}

/// One validated arch (`validate --json`, its export table).
#[derive(Debug, Clone, Serialize)]
pub struct ValidatedArch {
    pub arch: String,
    pub predicted_ms: f64,
    pub low_ms: f64,
    pub high_ms: f64,
    pub measured_ms: f64,
    pub measured_ci95_rel: f64,
    /// The median `measured_ci95_rel` of the batch the figure was taken in, where known: the
    /// noise its interval carries.
    pub batch_ci95_rel: Option<f64>,
    /// The anchor's figure in that batch, where it held the anchor: the level the prediction
    /// was set at.
    pub batch_anchor_ms: Option<f64>,
    /// measured, journal or oracle.
    pub origin: &'static str,
}

impl Validation {
    /// Predicted against measured, with the intervals and the ±10 % band, as SVG.
    pub fn svg(&self, title: &str) -> String {
        let labels: Vec<String> = self.archs.iter().map(|a| a.to_string()).collect();
        let points: Vec<crate::plot::ValidationPoint> = labels
            .iter()
            .zip(self.predicted.iter().zip(&self.measured))
            .map(|(label, (p, m))| crate::plot::ValidationPoint {
                label,
                predicted_ms: p.predicted_ms,
                low_ms: p.low_ms,
                high_ms: p.high_ms,
                measured_ms: m.median_ms,
            })
            .collect();
        crate::plot::validation_svg(title, &points)
    }

    /// Each arch with its prediction and its measurement.
    pub fn rows(&self) -> Vec<ValidatedArch> {
        self.archs
            .iter()
            .zip(self.predicted.iter().zip(&self.measured))
            .map(|(arch, (p, m))| ValidatedArch {
                arch: arch.to_string(),
                predicted_ms: p.predicted_ms,
                low_ms: p.low_ms,
                high_ms: p.high_ms,
                measured_ms: m.median_ms,
                measured_ci95_rel: m.ci_rel,
                batch_ci95_rel: m.batch.ci_rel,
                batch_anchor_ms: m.batch.anchor_ms,
                origin: m.origin.name(),
            })
            .collect()
    }

    /// The export table: [`Validation::rows`], one each.
    pub fn table(&self) -> Table {
        let mut table = Table::new(&[
            "arch",
            "predicted_ms",
            "low_ms",
            "high_ms",
            "measured_ms",
            "measured_ci95_rel",
            "batch_ci95_rel",
            "batch_anchor_ms",
            "origin",
        ]);
        for r in self.rows() {
            table.push(vec![
                r.arch.into(),
                r.predicted_ms.into(),
                r.low_ms.into(),
                r.high_ms.into(),
                r.measured_ms.into(),
                r.measured_ci95_rel.into(),
                r.batch_ci95_rel.into(),
                r.batch_anchor_ms.into(),
                r.origin.into(),
            ]);
        }
        table
    }
}

/// One reference of an embedding (`embed --json`).
#[derive(Debug, Clone, Serialize)]
pub struct ReferenceFigure {
    pub arch: String,
    pub median_ms: f64,
    /// None when the embedding was reused.
    pub ci95_rel: Option<f64>,
    /// measured, journal, oracle, or stored (reused).
    pub origin: &'static str,
}

/// `embed --json`.
#[derive(Debug, Clone, Serialize)]
pub struct EmbedSummary {
    pub space: String,
    pub fingerprint: Fingerprint,
    pub references: Vec<ReferenceFigure>,
    pub seconds: f64,
    pub reused: bool,
    pub path: PathBuf,
}

impl Embedded {
    pub fn summary(&self) -> EmbedSummary {
        let e = &self.embedding;
        EmbedSummary {
            space: e.space.clone(),
            fingerprint: e.fingerprint.clone(),
            references: e
                .references
                .iter()
                .zip(&e.raw_ms)
                .enumerate()
                .map(|(i, (arch, &median_ms))| {
                    let m = self.measured.get(i);
                    ReferenceFigure {
                        arch: arch.clone(),
                        median_ms,
                        ci95_rel: m.map(|m| m.ci_rel),
                        origin: m.map(|m| m.origin.name()).unwrap_or("stored"),
                    }
                })
                .collect(),
            seconds: self.seconds,
            reused: self.reused,
            path: self.path.clone(),
        }
    }
}

/// One support arch of an adapted predictor (`adapt --json`).
#[derive(Debug, Clone, Serialize)]
pub struct SupportFigure {
    pub arch: String,
    pub median_ms: f64,
    pub origin: &'static str,
}

/// `adapt --json`: the support, the quality, the prior settings chosen.
#[derive(Debug, Clone, Serialize)]
pub struct AdaptSummary<'a> {
    pub space: &'a str,
    pub fingerprint: &'a Fingerprint,
    pub support: Vec<SupportFigure>,
    /// random or informative.
    pub selection: &'static str,
    pub quality: &'a crate::adapted::Quality,
    /// Whether the fit's own figures scatter more than a steady sitting's
    /// ([`crate::adapted::Quality::scattered`]).
    pub scattered: bool,
    /// The commands that measure the fit's figures again, when they scattered and were
    /// measured (not an oracle's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remeasure: Option<&'a str>,
    /// The device's kernel figures the model reads (0: none), and the seconds taking them
    /// took (0 when the journal had them).
    pub kernels: usize,
    pub kernel_seconds: f64,
    /// Why a space with kernels went without them (`--kernels`); absent when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernels_skipped: Option<crate::measure::KernelsSkipped>,
    pub hyper: &'a edgenas_predictor::Hyper,
    pub prior: &'a str,
    pub seconds: f64,
    pub path: &'a std::path::Path,
}

impl Adapted {
    pub fn summary(&self, random_support: bool) -> AdaptSummary<'_> {
        let p = &self.predictor;
        AdaptSummary {
            space: &p.space,
            fingerprint: &p.fingerprint,
            support: p
                .support
                .iter()
                .zip(&self.support)
                .map(|((arch, v), m)| SupportFigure {
                    arch: arch.clone(),
                    median_ms: *v,
                    origin: m.origin.name(),
                })
                .collect(),
            selection: if random_support {
                "random"
            } else {
                "informative"
            },
            quality: &p.quality,
            scattered: p.quality.scattered(),
            remeasure: self.remeasure.as_deref(),
            kernels: p.kernels.figures.len(),
            kernel_seconds: self.kernel_seconds,
            kernels_skipped: self.kernels_skipped,
            hyper: &p.model.hyper,
            prior: &p.prior,
            seconds: self.seconds,
            path: &self.path,
        }
    }
}
