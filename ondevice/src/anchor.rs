//! The anchor: one fixed reference arch timed in every support and validation batch (the
//! references' batch holds it already), so that a figure can be read against the machine's
//! speed at the time it was taken.
//!
//! The archs of a batch are timed in interleaved rounds, so a slow or fast phase of the machine
//! moves them together. Measured here (NB201 and FBNet on tract, 1 thread): from one batch to
//! the next the anchor's figure moved by up to 11 %, and the batch's median error against the
//! predictions moved with it (anchor −8.9 %, errors −7.7 %; −11.5 %, −10.6 %; +9.2 %, +11.6 %).
//! No fit to one sitting's figures can see that. Two uses:
//!
//! - **Level.** The predictor is fitted at the references' level: support figures are scaled
//!   by the anchor's figure in the references' batch over its figure in theirs. A prediction
//!   holds for a batch in which the anchor takes what it took among the references
//!   ([`crate::AdaptedPredictor::level_ms`]); `validate` sets each at its batch's level.
//! - **Drift.** The anchor's figures in the journal, one per batch, give how far the level
//!   moves from batch to batch ([`Drift`]): the term a prediction that is not set at a
//!   batch's level (the search's, `predict`'s) carries in its interval.

use std::sync::OnceLock;

use edgenas_nas::{Arch, Space};
use serde::Serialize;

/// The drift before the journal holds anchor figures, and what few figures are pooled with:
/// the relative difference `bench reproducibility --archs 40` measured between two passes at
/// the default protocol on a quiet day (2.9 % median, about 1.5 % of standard deviation per
/// figure). Also the term of an oracle table's figures, as before the anchor.
pub const PRIOR_REL_SD: f64 = 0.015;

/// How many anchor figures the prior counts as: with two figures (a fresh embed and adapt) the
/// drift is still mostly the prior's, with the ten of a 100-arch validation mostly the data's.
pub const PRIOR_WEIGHT: f64 = 4.0;

/// The term of a prediction set at its batch's level where the batch's noise is unknown: what
/// the level leaves, the anchor's own noise and the arch's within the batch, on a quiet day.
pub const LEVELLED_REL_SD: f64 = 0.01;

/// The term of a prediction set at the level of a batch whose figures' median relative CI95
/// was `batch_ci_rel`: that noise as a standard deviation. The batch measures what a constant
/// cannot know: refitted from the 36 recorded fresh states (`validate` again from their
/// journals), it put 23 runs' coverage inside 85-95 % where the constant 1 % put 17, and 5
/// below where it put 11 (README, "The batch's noise in the interval").
pub fn levelled_rel_sd(batch_ci_rel: Option<f64>) -> f64 {
    match batch_ci_rel {
        Some(ci) if ci.is_finite() && ci >= 0.0 => ci / 1.96,
        _ => LEVELLED_REL_SD,
    }
}

/// The space's anchor: the reference of median multiply-accumulates, so that its relative
/// noise is a typical arch's. Worked out once per space (it builds the ten references), since
/// every journal record read is asked whether it is one.
pub fn anchor(space: Space) -> Arch {
    static ANCHORS: [OnceLock<Arch>; 3] = [const { OnceLock::new() }; 3];
    ANCHORS[slot(space)]
        .get_or_init(|| {
            let mut refs = space.references();
            refs.sort_by(|a, b| macs(a).total_cmp(&macs(b)));
            refs.swap_remove(refs.len() / 2)
        })
        .clone()
}

/// Whether `subject` (an arch's string) is one of `space`'s reference archs.
pub fn is_reference(space: Space, subject: &str) -> bool {
    static REFERENCES: [OnceLock<Vec<String>>; 3] = [const { OnceLock::new() }; 3];
    REFERENCES[slot(space)]
        .get_or_init(|| space.references().iter().map(|a| a.to_string()).collect())
        .iter()
        .any(|r| r == subject)
}

/// Whether the anchor's figure in a batch of `subjects` (arch strings, the anchor's among
/// them) was appended to it: the batch holds other archs and none of them is a reference. Such
/// a figure gives the batch's level and the drift, never the reference's own figure.
pub fn appended_to<'a>(space: Space, subjects: impl IntoIterator<Item = &'a str>) -> bool {
    let anchor = anchor(space).to_string();
    let mut others = subjects.into_iter().filter(|s| *s != anchor).peekable();
    others.peek().is_some() && !others.any(|s| is_reference(space, s))
}

fn slot(space: Space) -> usize {
    match space {
        Space::Nb201 => 0,
        Space::Fbnet => 1,
        Space::Ofa => 2,
    }
}

/// The anchor's figure among `references` (arch, ms): the level they were measured at.
pub fn level_of(space: Space, references: &[(Arch, f64)]) -> Option<f64> {
    let anchor = anchor(space);
    references
        .iter()
        .find(|(a, _)| *a == anchor)
        .map(|(_, ms)| *ms)
}

/// Spatial, pointwise and depthwise multiply-accumulates of the executed network.
fn macs(a: &Arch) -> f64 {
    a.cost_features()[..3].iter().sum()
}

/// `ms`, taken in a batch where the anchor took `anchor_ms`, at the level where it takes
/// `level_ms`.
pub fn at_level(ms: f64, anchor_ms: f64, level_ms: f64) -> f64 {
    ms * level_ms / anchor_ms
}

/// How far the level moves from batch to batch, and what that was estimated from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Drift {
    /// Relative standard deviation of the anchor's figure from batch to batch.
    pub rel_sd: f64,
    /// Anchor figures it was estimated from (0: the prior alone).
    pub figures: usize,
}

/// A drift over one sitting's batches above this says the machine's speed moved from batch to
/// batch more than levelling keeps up with. The 60 fresh runs recorded here (2026-12-04 to
/// 12-07), each validated again from its journal: 13 validations' own batches drifted more,
/// and 4 of those put fewer than 90 % of their archs within ±10 %, against 2 of the 47 below.
pub const UNSTEADY_DRIFT: f64 = 0.06;

/// A machine running faster or slower than when the predictor was fitted by more than this
/// (the median of the anchor's figures in a validation's batches against the predictor's
/// level) changed more than levelling by one anchor makes up for: the networks do not all
/// speed up alike. Over 64 fresh runs recorded here (2026-12-04 to 12-07; 60 of them
/// validated again from their journals), 19 validations were past it and 7 of those put fewer
/// than 90 % of their archs within ±10 %, against 1 of the 45 within it.
pub const LEVEL_CHANGE: f64 = 0.07;

/// How far the machine's level in a sitting lies from the predictor's: the median of the
/// sitting's anchor figures over `level_ms`, less one (positive: slower now). None without
/// anchor figures.
pub fn level_change(anchor_figures_ms: &[f64], level_ms: f64) -> Option<f64> {
    let mut v: Vec<f64> = anchor_figures_ms
        .iter()
        .copied()
        .filter(|a| a.is_finite() && *a > 0.0)
        .collect();
    if v.is_empty() || !level_ms.is_finite() || level_ms <= 0.0 {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(edgenas_profiler::stats::quantile(&v, 0.5) / level_ms - 1.0)
}

/// Whether a [`level_change`] is past [`LEVEL_CHANGE`] either way.
pub fn level_changed(change: Option<f64>) -> bool {
    change.is_some_and(|c| c.abs() > LEVEL_CHANGE)
}

impl Drift {
    /// Whether the level moved more than a steady machine's does ([`UNSTEADY_DRIFT`]).
    pub fn unsteady(&self) -> bool {
        self.rel_sd > UNSTEADY_DRIFT
    }

    /// The prior alone (an oracle table's figures, or no anchor measured yet).
    pub fn prior() -> Drift {
        Drift {
            rel_sd: PRIOR_REL_SD,
            figures: 0,
        }
    }

    /// From the anchor's figures (ms), one per batch: the spread of their logarithms pooled
    /// with the prior, [`PRIOR_WEIGHT`] figures' worth of [`PRIOR_REL_SD`].
    pub fn estimate(figures_ms: &[f64]) -> Drift {
        let logs: Vec<f64> = figures_ms
            .iter()
            .filter(|v| v.is_finite() && **v > 0.0)
            .map(|v| v.ln())
            .collect();
        let n = logs.len();
        if n < 2 {
            return Drift {
                figures: n,
                ..Drift::prior()
            };
        }
        let mean = logs.iter().sum::<f64>() / n as f64;
        let squares: f64 = logs.iter().map(|x| (x - mean) * (x - mean)).sum();
        let var = (PRIOR_WEIGHT * PRIOR_REL_SD * PRIOR_REL_SD + squares)
            / (PRIOR_WEIGHT + n as f64 - 1.0);
        Drift {
            rel_sd: var.sqrt(),
            figures: n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_anchor_is_a_reference_of_middling_cost() {
        for space in [Space::Nb201, Space::Fbnet, Space::Ofa] {
            let refs = space.references();
            let a = anchor(space);
            assert!(refs.contains(&a), "{a}");
            let below = refs.iter().filter(|r| macs(r) < macs(&a)).count();
            let above = refs.iter().filter(|r| macs(r) > macs(&a)).count();
            assert!(
                below >= 2 && above >= 2,
                "{space:?}: {below} below, {above} above"
            );
        }
    }

    #[test]
    fn a_level_change_is_the_median_anchor_against_the_fit_and_a_large_one_is_said() {
        // The fit's anchor took 6.5 ms; in the validation's batches 5.0-5.6 ms (median 5.0).
        let change = level_change(&[5.6, 5.0, 4.95, 5.05, 4.98], 6.5);
        assert!((change.unwrap() - (5.0 / 6.5 - 1.0)).abs() < 1e-12);
        assert!(level_changed(change));
        // An even count: the mean of the middle two.
        let even = level_change(&[2.0, 2.2, 2.1, 1.9], 2.0).unwrap();
        assert!((even - 0.025).abs() < 1e-12, "{even}");
        assert!(!level_changed(Some(0.025)) && !level_changed(Some(-0.069)));
        assert!(level_changed(Some(0.071)));
        // No anchor figure (an oracle's figures): nothing to judge.
        assert_eq!(level_change(&[], 2.0), None);
        assert!(!level_changed(None));
    }

    #[test]
    fn a_figure_moves_to_a_level_with_the_anchor() {
        // The machine ran 10 % slow in the batch: the anchor took 2.2 ms against 2.0.
        assert!((at_level(3.3, 2.2, 2.0) - 3.0).abs() < 1e-12);
        assert_eq!(at_level(3.0, 2.0, 2.0), 3.0);
    }

    #[test]
    fn a_level_that_moves_by_a_tenth_is_unsteady_and_the_prior_is_not() {
        // Pooled with the prior, ten figures alternating ±10 % drift by about 9 %, ±1 % by 1.
        assert!(!Drift::prior().unsteady());
        let steady: Vec<f64> = (0..10)
            .map(|i| 3.0 * (1.0 + 0.01 * (i % 2) as f64))
            .collect();
        assert!(!Drift::estimate(&steady).unsteady());
        let moving: Vec<f64> = (0..10)
            .map(|i| if i % 2 == 0 { 3.0 * 1.1 } else { 3.0 / 1.1 })
            .collect();
        assert!(Drift::estimate(&moving).unsteady());
    }

    #[test]
    fn few_figures_leave_the_prior() {
        assert_eq!(Drift::estimate(&[]), Drift::prior());
        assert_eq!(Drift::estimate(&[3.0]).rel_sd, PRIOR_REL_SD);
        // Two identical figures pull the drift below the prior, but not far.
        let two = Drift::estimate(&[3.0, 3.0]);
        assert_eq!(two.figures, 2);
        assert!(two.rel_sd < PRIOR_REL_SD && two.rel_sd > 0.8 * PRIOR_REL_SD);
    }

    #[test]
    fn spread_figures_widen_the_drift_toward_their_own_spread() {
        // Ten figures alternating ±5 %: their log-spread is about 5 %.
        let noisy: Vec<f64> = (0..10)
            .map(|i| if i % 2 == 0 { 3.0 * 1.05 } else { 3.0 / 1.05 })
            .collect();
        let t = Drift::estimate(&noisy);
        assert!(t.rel_sd > 0.04 && t.rel_sd < 0.05, "{t:?}");
        let more: Vec<f64> = noisy.iter().cycle().take(100).copied().collect();
        let m = Drift::estimate(&more);
        assert!(m.rel_sd > t.rel_sd && m.rel_sd < 0.049, "{m:?}");
        // A quiet device narrows it.
        let quiet: Vec<f64> = (0..20).map(|i| 3.0 + 0.003 * (i % 2) as f64).collect();
        assert!(Drift::estimate(&quiet).rel_sd < 0.01);
        // Figures that are not positive milliseconds are not figures.
        assert_eq!(
            Drift::estimate(&[3.0, f64::NAN, -1.0]),
            Drift::estimate(&[3.0])
        );
    }
}
