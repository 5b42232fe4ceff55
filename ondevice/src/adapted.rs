//! The predictor adapted to one device: the posterior of the cost-aware model given the
//! device's reference and support measurements, saved keyed by Fingerprint and space.

use std::path::Path;

use edgenas_format::{FileHeader, Kind, HEADER_LEN};
use edgenas_nas::{Arch, Space};
use edgenas_predictor::costaware::{latency_unit, shift_for};
use edgenas_predictor::metrics::spearman;
use edgenas_predictor::{CostAwarePrior, CostScale, DeviceModel, Hyper};
use edgenas_profiler::Fingerprint;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::features::{features_with, ArchFeatures, KernelTable};
use crate::measure::Batch;
use crate::LoopError;

/// 2: noise relative to latency ([`AdaptedPredictor::noise_unit`]) and the cost figures of the
/// executed network without repeated weight-free operators. 3: fitted at the anchor's level
/// ([`AdaptedPredictor::level_ms`]), with the drift measured by it, not fixed. 4: the
/// Fingerprint says the precision. 5: the device's kernel figures, the last cost figure their sum.
pub const ADAPTED_FORMAT: u16 = 5;

/// The interval given with every prediction: central 90 %.
pub const INTERVAL: f64 = 0.90;
pub const INTERVAL_Z: f64 = 1.6449;

/// Candidates informative selection chooses support archs from.
pub const SUPPORT_POOL: usize = 400;

fn header() -> FileHeader {
    FileHeader::new(Kind::Adapted, ADAPTED_FORMAT)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdaptedPredictor {
    pub space: String,
    pub fingerprint: Fingerprint,
    /// Reference archs and their figures (ms), in embedding order.
    pub references: Vec<(String, f64)>,
    /// Support archs and their figures (ms).
    pub support: Vec<(String, f64)>,
    /// The device's kernel figures (empty: the model has no kernel figure).
    pub kernels: KernelTable,
    /// The model's unit of latency: the references' spread / 0.9, in ms.
    pub unit_ms: f64,
    /// No prediction goes below this: half the fastest figure the device produced. A linear
    /// model extrapolating below everything measured would otherwise reach zero or less.
    pub floor_ms: f64,
    pub scale: CostScale,
    pub model: DeviceModel,
    /// The latency (model units) at which the noise is the model's `noise`: a figure's noise
    /// grows with its latency (see [`noise_scale`]).
    pub noise_unit: f64,
    /// The anchor's figure among the references ([`crate::anchor`]): the predictions are for a
    /// batch in which the anchor takes this long, and the support figures were set at it.
    pub level_ms: f64,
    /// How far the level moves from batch to batch (relative standard deviation), in the
    /// interval of a prediction that is not set at its batch's level.
    pub drift_rel_sd: f64,
    /// Leave-one-out quality over the measured archs.
    pub quality: Quality,
    /// Where the meta-learned prior came from.
    pub prior: String,
    pub unix_time: u64,
}

/// How well the adapted model predicts each measured arch from the others.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    pub loo_spearman: f64,
    pub loo_mape: f64,
    /// Share of measured archs inside their leave-one-out interval (without the
    /// drift: they are of one sitting).
    pub loo_coverage: f64,
}

/// A fit whose own figures, each predicted from the others, miss by more than this (MAPE) was
/// taken in an unsteady sitting or misses this device. In the 60 fresh runs recorded here
/// (2026-12-04 to 12-07, four cells), 6 fits were above it and half of those then put fewer
/// than 90 % of their validation archs within ±10 %, against 4 of the 54 below it.
pub const SCATTERED_LOO_MAPE: f64 = 0.05;

impl Quality {
    /// Whether the fit's own figures scatter about it more than a steady sitting's do
    /// ([`SCATTERED_LOO_MAPE`]).
    pub fn scattered(&self) -> bool {
        self.loo_mape > SCATTERED_LOO_MAPE
    }
}

/// The commands that take a scattered fit's figures again, ignoring the journal: the
/// references, then the support and kernels.
pub fn remeasure_commands(space: Space) -> String {
    format!(
        "`edgenas embed --space {s} --force`, then `edgenas adapt --space {s} --force`",
        s = space.name()
    )
}

/// A prediction in milliseconds with its central [`INTERVAL`] interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Prediction {
    pub predicted_ms: f64,
    pub std_ms: f64,
    pub low_ms: f64,
    pub high_ms: f64,
}

/// The prior over rows with the kernel figure where the device has kernel figures.
fn prior_with(prior: &CostAwarePrior, kernels: &KernelTable) -> CostAwarePrior {
    if kernels.is_empty() {
        prior.clone()
    } else {
        prior.with_kernel_figure()
    }
}

/// Chooses `count` support archs that most reduce the predictor's uncertainty over the space,
/// given the references (and the device's kernel figures). `pool` is what to choose from
/// (oracle mode: the table's archs); otherwise a seeded sample of the space. The choice needs
/// no measurement of the archs.
#[allow(clippy::too_many_arguments)]
pub fn choose_support(
    space: Space,
    prior: &CostAwarePrior,
    kernels: &KernelTable,
    count: usize,
    seed: u64,
    pool: Option<&[Arch]>,
    exclude: &[Arch],
) -> Result<Vec<Arch>, LoopError> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let refs = space.references();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_5e1e);
    let mut candidates: Vec<Arch> = match pool {
        Some(p) => {
            let mut v: Vec<Arch> = p.to_vec();
            v.shuffle(&mut rng);
            v
        }
        None => (0..SUPPORT_POOL * 4)
            .map(|_| space.sample(&mut rng))
            .collect(),
    };
    let mut seen = std::collections::HashSet::new();
    candidates.retain(|a| !refs.contains(a) && !exclude.contains(a) && seen.insert(a.clone()));
    candidates.truncate(SUPPORT_POOL);
    let prior = &prior_with(prior, kernels);
    let ref_feats = features_with(&refs, kernels)?;
    let scale =
        CostScale::from_references(&ref_feats.iter().map(|f| f.costs()).collect::<Vec<_>>())?;
    let rows = |fs: &[ArchFeatures]| -> Vec<Vec<f64>> {
        fs.iter()
            .map(|f| prior.row(&scale, &f.costs(), &f.onehot))
            .collect()
    };
    let known = rows(&ref_feats);
    let cand = rows(&features_with(&candidates, kernels)?);
    let pick = prior.select(&known, &cand, count, &Hyper::SELECTION)?;
    Ok(pick.into_iter().map(|i| candidates[i].clone()).collect())
}

impl AdaptedPredictor {
    /// Fits the device from its references' and support archs' figures (ms), and its kernel
    /// figures where it has them.
    #[allow(clippy::too_many_arguments)]
    pub fn adapt(
        space: Space,
        prior: &CostAwarePrior,
        prior_name: &str,
        fingerprint: Fingerprint,
        references: &[(Arch, f64)],
        support: &[(Arch, f64)],
        kernels: &KernelTable,
        drift_rel_sd: f64,
    ) -> Result<AdaptedPredictor, LoopError> {
        let prior = &prior_with(prior, kernels);
        if !(drift_rel_sd.is_finite() && drift_rel_sd >= 0.0) {
            return Err(LoopError::Invalid(format!(
                "the drift must be a relative standard deviation, not {drift_rel_sd}"
            )));
        }
        if let Some((a, _)) = references
            .iter()
            .chain(support)
            .find(|(a, _)| a.space() != space)
        {
            return Err(LoopError::Invalid(format!(
                "{a} is not an arch of the {} space",
                space.name()
            )));
        }
        let ref_ms: Vec<f64> = references.iter().map(|(_, ms)| *ms).collect();
        if ref_ms.len() < 2 || ref_ms.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
            return Err(LoopError::Invalid(
                "the reference figures must be positive milliseconds".into(),
            ));
        }
        let level_ms = crate::anchor::level_of(space, references).ok_or_else(|| {
            LoopError::Invalid(format!(
                "the references lack the space's anchor {}",
                crate::anchor::anchor(space)
            ))
        })?;
        let unit_ms = latency_unit(&ref_ms);
        let all: Vec<&(Arch, f64)> = references.iter().chain(support).collect();
        let feats = features_with(
            &all.iter().map(|(a, _)| a.clone()).collect::<Vec<_>>(),
            kernels,
        )?;
        // The references come first: their figures set the cost scale.
        let scale = CostScale::from_references(
            &feats[..references.len()]
                .iter()
                .map(|f| f.costs())
                .collect::<Vec<_>>(),
        )?;
        let rows: Vec<Vec<f64>> = feats
            .iter()
            .map(|f| prior.row(&scale, &f.costs(), &f.onehot))
            .collect();
        let ys: Vec<f64> = all.iter().map(|(_, ms)| ms / unit_ms).collect();
        let shift = shift_for(&ref_ms, unit_ms);
        // Weighted least squares: each measurement's row and figure over its noise scale.
        let noise_unit = ys.iter().sum::<f64>() / ys.len() as f64;
        let (wrows, wys): (Vec<Vec<f64>>, Vec<f64>) = rows
            .iter()
            .zip(&ys)
            .map(|(r, &y)| {
                let s = noise_scale(y, noise_unit);
                (r.iter().map(|v| v / s).collect(), y / s)
            })
            .unzip();
        let model = prior.fit(&wrows, &wys, &prior.grid(), shift)?;
        let fit = Weighted {
            rows: &wrows,
            ys: &wys,
            noise_unit,
        };
        let quality = leave_one_out(prior, &fit, &rows, &ys, &model.hyper, unit_ms, shift)?;
        Ok(AdaptedPredictor {
            space: space.name().into(),
            fingerprint,
            references: references
                .iter()
                .map(|(a, ms)| (a.to_string(), *ms))
                .collect(),
            support: support.iter().map(|(a, ms)| (a.to_string(), *ms)).collect(),
            kernels: kernels.clone(),
            unit_ms,
            floor_ms: 0.5 * all.iter().map(|(_, ms)| *ms).fold(f64::INFINITY, f64::min),
            scale,
            model,
            noise_unit,
            level_ms,
            drift_rel_sd,
            quality,
            prior: prior_name.to_string(),
            unix_time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        })
    }

    fn row(&self, f: &ArchFeatures) -> Vec<f64> {
        let mut r = self.scale.apply(&f.costs());
        r.extend(f.onehot.iter().map(|&v| v as f64));
        r.push(1.0);
        r
    }

    /// Predictions at the predictor's level, with the drift in their intervals.
    pub fn predict_features(&self, feats: &[ArchFeatures]) -> Vec<Prediction> {
        feats
            .iter()
            .map(|f| self.prediction(f, self.drift_rel_sd, 1.0))
            .collect()
    }

    /// Predictions each set at the level of the batch its figure was taken in: `batches[i]`'s
    /// anchor figure, with that batch's noise in the interval. Where the anchor's figure is
    /// unknown, the prediction is at the predictor's level, with the drift in its interval.
    pub fn predict_levelled(&self, feats: &[ArchFeatures], batches: &[Batch]) -> Vec<Prediction> {
        feats
            .iter()
            .zip(batches)
            .map(|(f, b)| match b.anchor_ms {
                Some(a) if a.is_finite() && a > 0.0 => self.prediction(
                    f,
                    crate::anchor::levelled_rel_sd(b.ci_rel),
                    a / self.level_ms,
                ),
                _ => self.prediction(f, self.drift_rel_sd, 1.0),
            })
            .collect()
    }

    /// One prediction with `rel_sd` of it added to its interval, scaled by `factor`.
    fn prediction(&self, f: &ArchFeatures, rel_sd: f64, factor: f64) -> Prediction {
        let k = self.unit_ms * factor;
        let floor = self.floor_ms * factor;
        let (m, sd) = relative_predict(&self.model, &self.row(f), self.noise_unit);
        let std = with_relative(sd, m, rel_sd) * k;
        Prediction {
            predicted_ms: (m * k).max(floor),
            std_ms: std,
            low_ms: (m * k - INTERVAL_Z * std).max(floor),
            high_ms: (m * k + INTERVAL_Z * std).max(floor),
        }
    }

    /// The same device adapted again with `extra` figures beside its references and support
    /// (verification measurements).
    pub fn refit(
        &self,
        prior: &CostAwarePrior,
        extra: &[(Arch, f64)],
    ) -> Result<AdaptedPredictor, LoopError> {
        let space = Space::from_name(&self.space)?;
        let parse = |v: &[(String, f64)]| -> Result<Vec<(Arch, f64)>, LoopError> {
            v.iter().map(|(s, ms)| Ok((space.parse(s)?, *ms))).collect()
        };
        let references = parse(&self.references)?;
        let mut support = parse(&self.support)?;
        for (a, ms) in extra {
            if !support.iter().any(|(b, _)| b == a) && !references.iter().any(|(b, _)| b == a) {
                support.push((a.clone(), *ms));
            }
        }
        AdaptedPredictor::adapt(
            space,
            prior,
            &self.prior,
            self.fingerprint.clone(),
            &references,
            &support,
            &self.kernels,
            self.drift_rel_sd,
        )
    }

    /// The standard deviation (ms) the model gives a figure's own noise at `ms`, beside the
    /// weights' uncertainty: what figures of archs the model predicts alike scatter by.
    pub fn noise_sd_ms(&self, ms: f64) -> f64 {
        noise_var(&self.model, ms / self.unit_ms, self.noise_unit).sqrt() * self.unit_ms
    }

    /// The same predictor with the drift estimated anew (more anchor figures).
    pub fn with_drift(&self, rel_sd: f64) -> AdaptedPredictor {
        AdaptedPredictor {
            drift_rel_sd: rel_sd,
            ..self.clone()
        }
    }

    pub fn predict(&self, archs: &[Arch]) -> Result<Vec<Prediction>, LoopError> {
        if let Some(a) = archs.iter().find(|a| a.space().name() != self.space) {
            return Err(LoopError::Invalid(format!(
                "{a} is a {} arch; this predictor is for the {} space",
                a.space().name(),
                self.space
            )));
        }
        Ok(self.predict_features(&self.features(archs)?))
    }

    /// The archs' inputs as this predictor reads them (with the device's kernel figures).
    pub fn features(&self, archs: &[Arch]) -> Result<Vec<ArchFeatures>, LoopError> {
        features_with(archs, &self.kernels)
    }

    pub fn save(&self, path: &Path) -> Result<(), LoopError> {
        let mut bytes = header().encode().to_vec();
        bytes.extend(postcard::to_stdvec(self).map_err(|e| LoopError::Corrupt {
            path: path.display().to_string(),
            reason: format!("cannot encode ({e})"),
        })?);
        edgenas_format::write_atomic(path, &bytes).map_err(LoopError::io(path))
    }

    pub fn load(path: &Path) -> Result<AdaptedPredictor, LoopError> {
        let bytes = std::fs::read(path).map_err(LoopError::io(path))?;
        header().check(&bytes, path)?;
        let corrupt = |reason: String| LoopError::Corrupt {
            path: path.display().to_string(),
            reason,
        };
        let p: AdaptedPredictor = postcard::from_bytes(&bytes[HEADER_LEN..])
            .map_err(|e| corrupt(format!("not a valid adapted predictor ({e})")))?;
        let d = p.model.dim;
        let space = Space::from_name(&p.space)?;
        let expected = p.scale.span.len() + space.references()[0].encode().len() + 1;
        let costs = edgenas_nas::COST_FEATURES + usize::from(!p.kernels.is_empty());
        // Every kernel of the space, or none: predictions need a figure of each one an arch runs.
        let complete = p.kernels.is_empty()
            || space
                .kernels()
                .iter()
                .all(|k| p.kernels.figures.iter().any(|(id, _)| *id == k.id));
        if p.model.mean.len() != d
            || p.scale.span.len() != costs
            || !complete
            || !p
                .kernels
                .figures
                .iter()
                .all(|(_, ms)| ms.is_finite() && *ms > 0.0)
            || p.model.cov.len() != d * d
            || d != expected
            || !(p.unit_ms.is_finite() && p.unit_ms > 0.0)
            || !(p.floor_ms.is_finite() && p.floor_ms >= 0.0)
            || !(p.noise_unit.is_finite() && p.noise_unit > 0.0)
            || !(p.level_ms.is_finite() && p.level_ms > 0.0)
            || !(p.drift_rel_sd.is_finite() && p.drift_rel_sd >= 0.0)
            || !p
                .model
                .mean
                .iter()
                .chain(&p.model.cov)
                .all(|v| v.is_finite())
        {
            return Err(corrupt(
                "the adapted predictor's dimensions do not fit its space".into(),
            ));
        }
        Ok(p)
    }
}

/// The measurements as the model is fitted to them: rows and figures over their noise scale.
struct Weighted<'a> {
    rows: &'a [Vec<f64>],
    ys: &'a [f64],
    noise_unit: f64,
}

/// Each measured arch predicted from the others, fitted on `fit` (the weighted measurements);
/// `rows` and `ys` are the same measurements unweighted, to predict and score.
fn leave_one_out(
    prior: &CostAwarePrior,
    fit: &Weighted,
    rows: &[Vec<f64>],
    ys: &[f64],
    hyper: &Hyper,
    k: f64,
    shift: f64,
) -> Result<Quality, LoopError> {
    let n = rows.len();
    let mut pred = Vec::with_capacity(n);
    let mut truth = Vec::with_capacity(n);
    let mut ape = 0.0;
    let mut inside = 0usize;
    for i in 0..n {
        let rest: Vec<Vec<f64>> = (0..n)
            .filter(|&j| j != i)
            .map(|j| fit.rows[j].clone())
            .collect();
        let ry: Vec<f64> = (0..n).filter(|&j| j != i).map(|j| fit.ys[j]).collect();
        let m = prior.posterior(&rest, &ry, hyper, shift)?;
        let (mean, sd) = relative_predict(&m, &rows[i], fit.noise_unit);
        let p_ms = (mean * k).max(0.0);
        let t_ms = ys[i] * k;
        ape += ((p_ms - t_ms) / t_ms).abs();
        if (p_ms - t_ms).abs() <= INTERVAL_Z * sd * k {
            inside += 1;
        }
        pred.push(p_ms as f32);
        truth.push(t_ms as f32);
    }
    Ok(Quality {
        loo_spearman: spearman(&pred, &truth),
        loo_mape: ape / n.max(1) as f64,
        loo_coverage: inside as f64 / n.max(1) as f64,
    })
}

/// How a figure's noise scales with its latency `y` (model units), relative to `unit`. A
/// latency's noise is relative: the same protocol fixes a 2 ms and a 20 ms network's median to
/// the same few percent, and a machine's slow phase slows both by the same share. Measured
/// here (tract, NB201, 60 archs): with one noise for all, every miss of the 90 % interval
/// was an arch above 11 ms. The floor keeps the fastest archs from outweighing the rest.
fn noise_scale(y: f64, unit: f64) -> f64 {
    (y / unit).max(NOISE_SCALE_FLOOR)
}

/// The smallest noise scale, as a share of the measured archs' mean latency.
const NOISE_SCALE_FLOOR: f64 = 0.2;

/// The model's prediction for `row` with the noise at that latency's scale.
fn relative_predict(model: &DeviceModel, row: &[f64], noise_unit: f64) -> (f64, f64) {
    let (mean, sd) = model.predict(row);
    let weights_var = (sd * sd - model.hyper.noise).max(0.0);
    (
        mean,
        (weights_var + noise_var(model, mean, noise_unit)).sqrt(),
    )
}

/// The model's noise variance of a figure at latency `y` (model units).
fn noise_var(model: &DeviceModel, y: f64, noise_unit: f64) -> f64 {
    let s = noise_scale(y, noise_unit);
    model.hyper.noise * s * s
}

/// A standard deviation `sd` of a prediction `mean` with the noise a new figure has beyond the
/// fit's (`rel_sd` of it) added.
fn with_relative(sd: f64, mean: f64, rel_sd: f64) -> f64 {
    let extra = rel_sd * mean.max(0.0);
    (sd * sd + extra * extra).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_grows_with_latency_above_a_floor() {
        assert_eq!(noise_scale(2.0, 1.0), 2.0);
        assert_eq!(noise_scale(0.5, 1.0), 0.5);
        assert_eq!(noise_scale(0.0, 1.0), NOISE_SCALE_FLOOR);
    }

    /// A figure for `a`: 1 ms plus its MACs' worth, deterministic.
    fn figure(a: &Arch) -> f64 {
        1.0 + a.cost_features()[..3].iter().sum::<f64>() / 2e7
    }

    fn fitted(references: &[(Arch, f64)]) -> Result<AdaptedPredictor, LoopError> {
        let space = Space::Nb201;
        let file = crate::shipped::embedded(space).unwrap();
        let prior = crate::features::prior_for(space, &file).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let support: Vec<(Arch, f64)> = (0..10)
            .map(|_| {
                let a = space.sample(&mut rng);
                let ms = figure(&a);
                (a, ms)
            })
            .collect();
        AdaptedPredictor::adapt(
            space,
            &prior,
            "shipped",
            crate::measure::oracle_fingerprint_of("test", "t"),
            references,
            &support,
            &KernelTable::default(),
            0.03,
        )
    }

    #[test]
    fn predictions_are_set_at_the_level_their_anchor_gives() {
        let refs: Vec<(Arch, f64)> = Space::Nb201
            .references()
            .into_iter()
            .map(|a| {
                let ms = figure(&a);
                (a, ms)
            })
            .collect();
        let p = fitted(&refs).unwrap();
        let anchor = crate::anchor::anchor(Space::Nb201);
        assert_eq!(p.level_ms, figure(&anchor));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let archs: Vec<Arch> = (0..3).map(|_| Space::Nb201.sample(&mut rng)).collect();
        let feats = p.features(&archs).unwrap();
        let at_level = p.predict_features(&feats);
        // The machine ran 10 % slow in the first arch's batch, at the level in the second's;
        // the third's batch is unknown.
        let at = |anchor_ms: f64| Batch {
            anchor_ms: Some(anchor_ms),
            ci_rel: None,
        };
        let levelled = p.predict_levelled(
            &feats,
            &[at(1.1 * p.level_ms), at(p.level_ms), Batch::default()],
        );
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs();
        assert!(close(
            levelled[0].predicted_ms,
            1.1 * at_level[0].predicted_ms
        ));
        assert!(close(levelled[1].predicted_ms, at_level[1].predicted_ms));
        assert_eq!(levelled[2], at_level[2]);
        // A levelled prediction carries the levelled term, not the drift (3 % here), in its
        // interval.
        assert!(
            levelled[1].std_ms < at_level[1].std_ms,
            "{levelled:?} {at_level:?}"
        );
        assert!(levelled[0].low_ms < levelled[0].predicted_ms);
        assert!(levelled[0].high_ms > levelled[0].predicted_ms);
        // The batch's noise replaces the constant term: a noisy batch widens the interval, a
        // quiet one narrows it, and the prediction stays where it was.
        let noisy = |ci_rel: f64| {
            let b = Batch {
                ci_rel: Some(ci_rel),
                ..at(p.level_ms)
            };
            p.predict_levelled(&feats[1..2], &[b])[0]
        };
        let (quiet, loud) = (noisy(0.001), noisy(0.1));
        assert!(close(quiet.predicted_ms, levelled[1].predicted_ms));
        assert!(close(loud.predicted_ms, levelled[1].predicted_ms));
        assert!(quiet.std_ms < levelled[1].std_ms, "{quiet:?} {levelled:?}");
        assert!(loud.std_ms > levelled[1].std_ms, "{loud:?} {levelled:?}");
        // 10 % CI95 is a 5.1 % standard deviation, beside the model's own.
        let m = loud.predicted_ms;
        let model_var = quiet.std_ms.powi(2) - (0.001 / 1.96 * m).powi(2);
        assert!(close(
            loud.std_ms,
            (model_var + (0.1 / 1.96 * m).powi(2)).sqrt()
        ));
    }

    #[test]
    fn references_without_the_anchor_are_refused() {
        let anchor = crate::anchor::anchor(Space::Nb201);
        let refs: Vec<(Arch, f64)> = Space::Nb201
            .references()
            .into_iter()
            .filter(|a| *a != anchor)
            .map(|a| {
                let ms = figure(&a);
                (a, ms)
            })
            .collect();
        let err = fitted(&refs).unwrap_err().to_string();
        assert!(err.contains("anchor"), "{err}");
    }
}
