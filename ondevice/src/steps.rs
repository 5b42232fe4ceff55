//! The loop's steps as [`Session`] methods: each reuses what is stored and still valid,
//! measures what is missing through the session's one [`Measurer`], and stores its result
//! atomically.

use std::path::PathBuf;
use std::time::Instant;

use edgenas_nas::{Arch, Space};
use edgenas_predictor::metrics::{calibrated_coverage_range, kendall_tau_b, spearman};
use edgenas_profiler::embedding::HardwareEmbedding;
use rand::SeedableRng;

use crate::adapted::{choose_support, AdaptedPredictor, Prediction};
use crate::anchor::Drift;
use crate::features::prior_for;
use crate::measure::{Batch, KernelFigures, KernelMode, KernelsSkipped, Measured, Measurer};
use crate::report::Reporter;
use crate::session::Session;
use crate::tally::Purpose;
use crate::LoopError;

/// A stored embedding, whether it was reused, and how long the step took.
pub struct Embedded {
    pub embedding: HardwareEmbedding,
    pub path: PathBuf,
    pub reused: bool,
    pub measured: Vec<Measured>,
    pub seconds: f64,
}

impl Embedded {
    /// The embedding's physical floor: the references' latencies × the runs the protocol
    /// took, in seconds (0 when reused).
    pub fn inference_seconds(&self) -> f64 {
        self.measured
            .iter()
            .map(|m| m.median_ms * m.runs as f64)
            .sum::<f64>()
            / 1e3
    }
}

fn measure_fresh(
    measurer: &mut Measurer,
    archs: &[Arch],
    purpose: Purpose,
    reporter: &mut dyn Reporter,
) -> Result<Vec<Measured>, LoopError> {
    if measurer.is_oracle() {
        return measurer.measure(archs, purpose, reporter);
    }
    measurer.measure_ignoring_journal(archs, purpose, reporter)
}

pub struct Adapted {
    pub predictor: AdaptedPredictor,
    pub path: PathBuf,
    pub support: Vec<Measured>,
    /// Seconds the kernel figures took (0 when the journal had them).
    pub kernel_seconds: f64,
    /// Why a space with kernels went without them (`--kernels`).
    pub kernels_skipped: Option<KernelsSkipped>,
    /// The commands that take the fit's figures again, when they scattered and were measured
    /// here (not an oracle's: a table has no sitting to measure again).
    pub remeasure: Option<String>,
    pub seconds: f64,
}

/// How `adapt` draws its support archs.
#[derive(Debug, Clone, Copy)]
pub struct AdaptPlan {
    /// Support archs measured beside the references.
    pub samples: usize,
    /// Random archs instead of the most informative ones.
    pub random_support: bool,
    pub seed: u64,
    /// Whether the space's kernels are timed.
    pub kernels: KernelMode,
    /// Measure the support archs and the kernels again, not reusing the journal's figures.
    pub force: bool,
}

impl AdaptPlan {
    /// `samples` informative support archs.
    pub fn informative(samples: usize, seed: u64) -> AdaptPlan {
        AdaptPlan {
            samples,
            random_support: false,
            seed,
            kernels: KernelMode::Auto,
            force: false,
        }
    }
}

/// What `validate` found.
#[derive(Debug, Clone)]
pub struct Validation {
    pub archs: Vec<Arch>,
    pub predicted: Vec<Prediction>,
    pub measured: Vec<Measured>,
    pub spearman: f64,
    pub kendall: f64,
    pub mape: f64,
    pub within_10pct: f64,
    /// The median of measured ÷ predicted − 1 over the same archs as MAPE: where the figures
    /// fell against their predictions on the whole (positive: slower). Beside the MAPE it
    /// tells a shift of every arch from a spread about the predictions.
    pub bias: f64,
    /// Share of measured figures inside the predicted interval.
    pub coverage: f64,
    /// Where a calibrated interval's coverage of this many archs falls 95 % of the time
    /// (binomial; figures of one batch share its level, so the true range is wider still).
    pub coverage_range: (f64, f64),
    /// Archs whose output does not depend on their input (left out of MAPE and ±10 %).
    pub constant_archs: usize,
    /// The same archs measured again (`validate --retest`): the first figures scored as if
    /// they were predictions of the second, the ceiling a predictor can reach here.
    pub retest: Option<Ceiling>,
    /// How far the level moved from batch to batch, and the anchor figures that say so: over
    /// the journal, in the intervals of predictions not set at a batch's level.
    pub drift: Drift,
    /// The same over this validation's own batches: whether the sitting its figures were
    /// taken in was steady ([`Drift::unsteady`]).
    pub sitting: Drift,
    /// How far the machine ran from the predictor's level in this validation's batches
    /// ([`crate::anchor::level_change`]; positive: slower). None without anchor figures.
    pub level_change: Option<f64>,
    /// Archs whose prediction was set at their batch's level (the rest, at the predictor's).
    pub levelled: usize,
    /// The same predictions all at the predictor's level, scored the same way: what the
    /// machine's drift costs them.
    pub unlevelled: Unlevelled,
    /// The predictor's leave-one-out scores over the figures it was fitted to: the scatter its
    /// interval was calibrated on, in the sitting they were taken in.
    pub fit: crate::adapted::Quality,
    /// How many figures the predictor was fitted to.
    pub fit_figures: usize,
}

impl Validation {
    /// This validation's MAPE over the fit's leave-one-out MAPE: above 1, these figures
    /// scatter about the model more than the fit's did, and an interval calibrated on those
    /// covers fewer of them (in 38 recorded fresh runs, every run that covered under 85 %
    /// had a ratio of 1.18 to 2.94; README, "The fit's sitting and the validation's").
    pub fn scatter_vs_fit(&self) -> Option<f64> {
        (self.fit.loo_mape > 0.0).then(|| self.mape / self.fit.loo_mape)
    }

    /// The noise the levelled predictions' intervals carry (each batch's median relative CI95,
    /// [`crate::measure::Batch`]), over the archs set at their batch's level: its median and its
    /// largest. None where no prediction was.
    pub fn batch_noise(&self) -> Option<(f64, f64)> {
        let mut cis: Vec<f64> = self
            .measured
            .iter()
            .filter(|m| m.batch.anchor_ms.is_some())
            .filter_map(|m| m.batch.ci_rel)
            .collect();
        cis.sort_by(f64::total_cmp);
        let largest = *cis.last()?;
        Some((edgenas_profiler::stats::quantile(&cis, 0.5), largest))
    }
}

/// Scores of predictions left at the predictor's level.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Unlevelled {
    pub spearman: f64,
    pub mape: f64,
    pub within_10pct: f64,
    pub coverage: f64,
}

/// How well one sitting's figures predict another's, by the measures `validate` reports.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Ceiling {
    pub spearman: f64,
    pub mape: f64,
    pub within_10pct: f64,
}

/// `count` distinct archs `predictor` was not adapted on, drawn with `rng` from `pool` (an
/// oracle table's archs) or else the space: what `validate` measures, and what `bench
/// coverage` scores. Gives up after `count` × 1000 draws (a small pool).
pub(crate) fn unseen_archs(
    space: Space,
    pool: Option<&[Arch]>,
    predictor: &AdaptedPredictor,
    count: usize,
    rng: &mut rand_chacha::ChaCha8Rng,
) -> Vec<Arch> {
    let used: Vec<&str> = predictor
        .references
        .iter()
        .chain(&predictor.support)
        .map(|(s, _)| s.as_str())
        .collect();
    let mut archs: Vec<Arch> = Vec::new();
    let mut attempts = 0;
    while archs.len() < count && attempts < count * 1000 {
        attempts += 1;
        let a = match pool {
            Some(p) => p[rand::RngExt::random_range(rng, 0..p.len())].clone(),
            None => space.sample(rng),
        };
        if !used.contains(&a.to_string().as_str()) && !archs.contains(&a) {
            archs.push(a);
        }
    }
    archs
}

/// The distinct anchor figures of `batches` (one per batch that held the anchor).
fn batch_anchors(batches: &[Batch]) -> Vec<f64> {
    let mut anchors: Vec<f64> = Vec::new();
    for a in batches.iter().filter_map(|b| b.anchor_ms) {
        if !anchors.contains(&a) {
            anchors.push(a);
        }
    }
    anchors
}

/// The median of measured ÷ predicted − 1 over the `live` archs (0 where there are none).
fn bias(predicted: &[f64], measured: &[f64], live: &[bool]) -> f64 {
    let mut rel: Vec<f64> = predicted
        .iter()
        .zip(measured)
        .zip(live)
        .filter(|(_, &l)| l)
        .map(|((p, m), _)| m / p - 1.0)
        .filter(|r| r.is_finite())
        .collect();
    if rel.is_empty() {
        return 0.0;
    }
    rel.sort_by(f64::total_cmp);
    edgenas_profiler::stats::quantile(&rel, 0.5)
}

/// Spearman over all archs; MAPE and the share within ±10 % over the `live` ones.
fn scores(predicted: &[f64], measured: &[f64], live: &[bool]) -> Ceiling {
    let p: Vec<f32> = predicted.iter().map(|&v| v as f32).collect();
    let t: Vec<f32> = measured.iter().map(|&v| v as f32).collect();
    let rel: Vec<f64> = predicted
        .iter()
        .zip(measured)
        .zip(live)
        .filter(|(_, &l)| l)
        .map(|((p, m), _)| ((p - m) / m).abs())
        .collect();
    let n = rel.len().max(1) as f64;
    Ceiling {
        spearman: spearman(&p, &t),
        mape: rel.iter().sum::<f64>() / n,
        within_10pct: rel.iter().filter(|&&e| e <= 0.1).count() as f64 / n,
    }
}

impl Session {
    /// `embed`: the space's 10 references measured in interleaved rounds (or reused).
    pub fn embed(
        &mut self,
        space: Space,
        force: bool,
        reporter: &mut dyn Reporter,
    ) -> Result<Embedded, LoopError> {
        let (measurer, state) = (&mut self.measurer, &self.state);
        let start = Instant::now();
        let fp = measurer.fingerprint().clone();
        let path = state.embedding(space, &fp);
        if !force && path.exists() {
            let e = HardwareEmbedding::load(&path)?;
            if e.fingerprint == fp && e.space == space.name() {
                measurer.count_reused(Purpose::References, e.raw_ms.len());
                return Ok(Embedded {
                    embedding: e,
                    path,
                    reused: true,
                    measured: Vec::new(),
                    seconds: start.elapsed().as_secs_f64(),
                });
            }
        }
        let refs = space.references();
        let measured = if force {
            // --force remeasures: what the journal holds is not reused.
            measure_fresh(measurer, &refs, Purpose::References, reporter)?
        } else {
            measurer.measure(&refs, Purpose::References, reporter)?
        };
        let names: Vec<String> = refs.iter().map(|a| a.to_string()).collect();
        let embedding = HardwareEmbedding::from_figures(
            space.name(),
            &names,
            &fp,
            measured.iter().map(|m| m.median_ms).collect(),
        )
        .map_err(|e| LoopError::Invalid(format!("the hardware embedding: {e}")))?;
        embedding.save(&path)?;
        Ok(Embedded {
            embedding,
            path,
            reused: false,
            measured,
            seconds: start.elapsed().as_secs_f64(),
        })
    }
    /// The stored embedding for the live Fingerprint, or one clear error: missing, or stale (and in
    /// which fields), with the command that fixes it.
    pub fn stored_embedding(&self, space: Space) -> Result<HardwareEmbedding, LoopError> {
        let (measurer, state) = (&self.measurer, &self.state);
        let fp = measurer.fingerprint();
        let path = state.embedding(space, fp);
        if path.exists() {
            return Ok(HardwareEmbedding::load(&path)?);
        }
        let fix = format!("run `edgenas embed --space {}` first", space.name());
        // Another embedding of the space, under other conditions: say what changed.
        let dir = state.root.join("embeddings");
        let mut stale = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(&format!("{}-", space.name())) && name.ends_with(".embedding") {
                    if let Ok(old) = HardwareEmbedding::load(&e.path()) {
                        stale.push(old.fingerprint.differences(fp).join(", "));
                    }
                }
            }
        }
        Err(LoopError::Invalid(match stale.first() {
            Some(fields) => format!(
                "the {} hardware embedding is stale: the device's {fields} changed since it was measured; {fix}",
                space.name()
            ),
            None => format!("no {} hardware embedding for this device; {fix}", space.name()),
        }))
    }
    /// `adapt`: the shipped prior + the stored embedding + `samples` informative support archs
    /// measured here → the adapted predictor, stored keyed by Fingerprint and space.
    pub fn adapt(
        &mut self,
        space: Space,
        prior_file: &edgenas_predictor::PredictorFile,
        plan: AdaptPlan,
        reporter: &mut dyn Reporter,
    ) -> Result<Adapted, LoopError> {
        let AdaptPlan {
            samples,
            random_support,
            seed,
            kernels: kernel_mode,
            force,
        } = plan;
        let start = Instant::now();
        let embedding = self.stored_embedding(space)?;
        let pool = self.pool();
        let pool = pool.as_deref();
        let (measurer, state) = (&mut self.measurer, &self.state);
        let refs = space.references();
        if embedding.references != refs.iter().map(|a| a.to_string()).collect::<Vec<_>>() {
            return Err(LoopError::Invalid(format!(
                "the stored {} embedding was made for other reference archs; run `edgenas embed --space {} --force`",
                space.name(),
                space.name()
            )));
        }
        let prior = prior_for(space, prior_file)?;
        // The device's kernel figures: timed once per Fingerprint, before the support is
        // chosen (the choice reads them).
        let (kernel_start, timed_before) = (
            Instant::now(),
            measurer.tally().get(Purpose::Kernels).measured,
        );
        let KernelFigures {
            table: kernels,
            skipped: kernels_skipped,
        } = measurer.measure_kernels(&space.kernels(), kernel_mode, force, reporter)?;
        if let Some(why @ KernelsSkipped::Program { .. }) = kernels_skipped {
            reporter.note(&format!("kernels: not timed: {}", why.reason()));
        }
        let kernel_seconds = if measurer.tally().get(Purpose::Kernels).measured > timed_before {
            kernel_start.elapsed().as_secs_f64()
        } else {
            0.0
        };
        let support_archs = if random_support {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let mut v = Vec::new();
            while v.len() < samples {
                let a = match pool {
                    Some(p) => p[rand::RngExt::random_range(&mut rng, 0..p.len())].clone(),
                    None => space.sample(&mut rng),
                };
                if !refs.contains(&a) && !v.contains(&a) {
                    v.push(a);
                }
            }
            v
        } else {
            choose_support(space, &prior, &kernels, samples, seed, pool, &[])?
        };
        let support = if force {
            measure_fresh(measurer, &support_archs, Purpose::Support, reporter)?
        } else {
            measurer.measure(&support_archs, Purpose::Support, reporter)?
        };
        let references: Vec<(Arch, f64)> = refs
            .into_iter()
            .zip(embedding.raw_ms.iter().copied())
            .collect();
        // The support figures at the references' level: the anchor's figure among them.
        let level = crate::anchor::level_of(space, &references);
        let support_pairs: Vec<(Arch, f64)> = support_archs
            .iter()
            .cloned()
            .zip(support.iter().map(|m| match (m.batch.anchor_ms, level) {
                (Some(a), Some(l)) => crate::anchor::at_level(m.median_ms, a, l),
                _ => m.median_ms,
            }))
            .collect();
        let prior_name = format!(
            "shipped {} prior (meta-trained on {}; validation Spearman {:.3})",
            space.name(),
            prior_file.training.train_devices.join(","),
            prior_file.training.valid_spearman
        );
        let drift = measurer.drift(space)?;
        let predictor = AdaptedPredictor::adapt(
            space,
            &prior,
            &prior_name,
            measurer.fingerprint().clone(),
            &references,
            &support_pairs,
            &kernels,
            drift.rel_sd,
        )?;
        let path = state.predictor(space, measurer.fingerprint());
        predictor.save(&path)?;
        // An oracle's figures are a table's: there is no sitting to measure again.
        let remeasure = (predictor.quality.scattered() && !measurer.is_oracle())
            .then(|| crate::adapted::remeasure_commands(space));
        if let Some(how) = &remeasure {
            reporter.note(&format!(
                "note: the {} figures the predictor was fitted to, each predicted from the others, miss by {:.1}% (MAPE; over {:.0}%): the machine was busy or unsteady while they were taken{}, or the model misses this device, and its predictions will miss by about as much. In a quiet moment, measure again: {}",
                predictor.references.len() + predictor.support.len(),
                predictor.quality.loo_mape * 100.0,
                crate::adapted::SCATTERED_LOO_MAPE * 100.0,
                // The journal's drift pools every batch this state took, in any sitting.
                match drift.figures {
                    0 | 1 => String::new(),
                    n => format!(
                        " (the anchor's level drifts {:.1}% from batch to batch, as estimated from the {n} figures of it this state's journal holds)",
                        drift.rel_sd * 100.0
                    ),
                },
                how,
            ));
        }
        Ok(Adapted {
            predictor,
            path,
            support,
            kernel_seconds,
            kernels_skipped,
            remeasure,
            seconds: start.elapsed().as_secs_f64(),
        })
    }
    /// The stored adapted predictor for the live Fingerprint, or one clear error.
    pub fn stored_predictor(&self, space: Space) -> Result<AdaptedPredictor, LoopError> {
        let (measurer, state) = (&self.measurer, &self.state);
        let path = state.predictor(space, measurer.fingerprint());
        if !path.exists() {
            // Say whether the embedding is the missing piece.
            self.stored_embedding(space)?;
            return Err(LoopError::Invalid(format!(
                "no adapted {} predictor for this device; run `edgenas adapt --space {}` first",
                space.name(),
                space.name()
            )));
        }
        let p = AdaptedPredictor::load(&path).map_err(|e| match e {
            // An older edgenas's predictor: adapting again reuses its measurements.
            LoopError::Format(edgenas_format::FormatError::WrongVersion { .. }) => {
                LoopError::Invalid(format!(
                    "{e}; run `edgenas adapt --space {}` to refit it (its measurements are \
                     reused from the journal)",
                    space.name()
                ))
            }
            e => e,
        })?;
        if p.fingerprint != *measurer.fingerprint() {
            return Err(LoopError::Invalid(format!(
                "the adapted {} predictor is stale ({} changed); run `edgenas adapt --space {}`",
                space.name(),
                p.fingerprint.differences(measurer.fingerprint()).join(", "),
                space.name()
            )));
        }
        Ok(p)
    }
    /// `validate`: `count` random archs that were neither references nor support, measured and
    /// compared with their predictions.
    pub fn validate(
        &mut self,
        space: Space,
        predictor: &AdaptedPredictor,
        count: usize,
        seed: u64,
        retest: bool,
        reporter: &mut dyn Reporter,
    ) -> Result<Validation, LoopError> {
        let pool = self.pool();
        let pool = pool.as_deref();
        let measurer = &mut self.measurer;
        if count < 2 {
            return Err(LoopError::Invalid(
                "--archs must be at least 2 (a rank correlation needs two archs)".into(),
            ));
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x7a11_da7e);
        let archs = unseen_archs(space, pool, predictor, count, &mut rng);
        let feats = predictor.features(&archs)?;
        let measured = measurer.measure(&archs, Purpose::Validation, reporter)?;
        // Each prediction at the level of the batch its figure was taken in, which the anchor
        // timed beside it says; the drift with the anchor figures this validation took. The
        // archs' own figures play no part in either.
        let drift = measurer.drift(space)?;
        let predictor = predictor.with_drift(drift.rel_sd);
        let batches: Vec<Batch> = measured.iter().map(|m| m.batch).collect();
        let anchors = batch_anchors(&batches);
        let sitting = Drift::estimate(&anchors);
        let level_change = crate::anchor::level_change(&anchors, predictor.level_ms);
        if let (true, Some(c)) = (crate::anchor::level_changed(level_change), level_change) {
            reporter.note(&format!(
                "note: the machine ran {:.1}% {} in these batches than when the predictor was fitted (the anchor arch took {} then, {} in the median batch now; over {:.0}%). Each prediction is scaled by the anchor's figure, which assumes every network sped up alike, and after a change this large they often do not, so these figures miss their predictions by more than a steady machine's would. To fit the machine as it runs now, measure again: {}",
                c.abs() * 100.0,
                if c < 0.0 { "faster" } else { "slower" },
                crate::ms(predictor.level_ms),
                crate::ms(predictor.level_ms * (1.0 + c)),
                crate::anchor::LEVEL_CHANGE * 100.0,
                crate::adapted::remeasure_commands(space),
            ));
        }
        if sitting.unsteady() {
            reporter.note(&format!(
                "note: the anchor's figure moved {:.1}% from one of these {} batches to the next (over {:.0}%): the machine was unsteady, which levelling by one anchor only partly makes up for, so these figures miss their predictions by more than a quiet sitting's would",
                sitting.rel_sd * 100.0,
                sitting.figures,
                crate::anchor::UNSTEADY_DRIFT * 100.0,
            ));
        }
        let predicted = predictor.predict_levelled(&feats, &batches);
        let at_level = predictor.predict_features(&feats);
        let n = archs.len() as f64;
        // Relative errors only over archs whose output depends on their input: the runtime folds
        // the others to a constant (microseconds), where a relative error says nothing.
        let live: Vec<bool> = feats.iter().map(|f| f.input_dependent()).collect();
        let first: Vec<f64> = measured.iter().map(|m| m.median_ms).collect();
        let predicted_ms: Vec<f64> = predicted.iter().map(|p| p.predicted_ms).collect();
        let score = scores(&predicted_ms, &first, &live);
        let covered = |ps: &[Prediction]| {
            ps.iter()
                .zip(&measured)
                .filter(|(p, m)| m.median_ms >= p.low_ms && m.median_ms <= p.high_ms)
                .count() as f64
                / n
        };
        let unlevelled = {
            let ms: Vec<f64> = at_level.iter().map(|p| p.predicted_ms).collect();
            let s = scores(&ms, &first, &live);
            Unlevelled {
                spearman: s.spearman,
                mape: s.mape,
                within_10pct: s.within_10pct,
                coverage: covered(&at_level),
            }
        };
        let retest = if retest {
            let again = measurer.measure_ignoring_journal(&archs, Purpose::Validation, reporter)?;
            // Both passes at the predictor's level where their batches say it, as the
            // predictions are: the ceiling of a predictor that is.
            let levelled = |ms: &[Measured]| -> Vec<f64> {
                ms.iter()
                    .map(|m| match m.batch.anchor_ms {
                        Some(a) => crate::anchor::at_level(m.median_ms, a, predictor.level_ms),
                        None => m.median_ms,
                    })
                    .collect()
            };
            Some(scores(&levelled(&measured), &levelled(&again), &live))
        } else {
            None
        };
        let p: Vec<f32> = predicted_ms.iter().map(|&v| v as f32).collect();
        let t: Vec<f32> = first.iter().map(|&v| v as f32).collect();
        let constant_archs = live.iter().filter(|&&l| !l).count();
        let coverage = covered(&predicted);
        Ok(Validation {
            spearman: score.spearman,
            kendall: kendall_tau_b(&p, &t),
            mape: score.mape,
            within_10pct: score.within_10pct,
            bias: bias(&predicted_ms, &first, &live),
            coverage,
            coverage_range: calibrated_coverage_range(archs.len(), crate::adapted::INTERVAL, 0.95),
            constant_archs,
            retest,
            drift,
            sitting,
            level_change,
            levelled: batches.iter().filter(|b| b.anchor_ms.is_some()).count(),
            unlevelled,
            fit: predictor.quality,
            fit_figures: predictor.references.len() + predictor.support.len(),
            archs,
            predicted,
            measured,
        })
    }
}
