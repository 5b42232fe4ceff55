//! Test-retest: N archs measured twice with interleaved rounds (the loop's timing) at each of
//! several sampling time bounds per arch, and twice one at a time (the protocol's own stop rule), the
//! passes alternating so that all see the same phases of the machine. The figure of merit is
//! seconds per arch at a test-retest.
//!
//! Each batch of rounds holds the space's anchor, as the loop's support and validation batches
//! do, so their agreement is also given at the batch's level (each figure over the anchor's),
//! the figures the predictor is fitted and judged on; the anchor's time is in the seconds.

use std::time::{Duration, Instant};

use edgenas_nas::{Arch, Space};
use edgenas_predictor::metrics::spearman;
use edgenas_profiler::{open_measurements, probe, Protocol, Rounds, Sysroot};
use edgenas_runtime::{Runtime, TractModel, TractOptions};
use rand::SeedableRng;
use serde::Serialize;

use super::{median, quantile};
use crate::measure::{Measurer, Setup};
use crate::report::Reporter;
use crate::LoopError;

/// How well two passes over the same archs agree.
#[derive(Debug, Clone, Serialize)]
pub struct Agreement {
    pub spearman: f64,
    /// Median of |a - b| / min(a, b).
    pub median_rel_diff: f64,
    /// p10 and p90 of a / b.
    pub ratio_p10: f64,
    pub ratio_p90: f64,
}

impl Agreement {
    pub fn of(a: &[f64], b: &[f64]) -> Agreement {
        let fa: Vec<f32> = a.iter().map(|&x| x as f32).collect();
        let fb: Vec<f32> = b.iter().map(|&x| x as f32).collect();
        let ratio: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
        let rel: Vec<f64> = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs() / x.min(*y))
            .collect();
        Agreement {
            spearman: spearman(&fa, &fb),
            median_rel_diff: median(rel),
            ratio_p10: quantile(ratio.clone(), 0.1),
            ratio_p90: quantile(ratio, 0.9),
        }
    }
}

/// A step of the ladder: the protocol's minimum and maximum sampling time per arch, and each
/// arch's share of a round.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TimeBounds {
    pub min_s: f64,
    pub max_s: f64,
    pub burst_ms: f64,
    /// Warm-up runs of each arch, at least.
    pub warmup_runs: usize,
}

impl TimeBounds {
    /// `MIN:MAX` in seconds, e.g. `0.25:2.5`, then optionally `:BURST_MS` and
    /// `:WARMUP_RUNS` (otherwise 15 ms and 5, [`Rounds::default`] and
    /// [`Protocol::interleaved`]: the loop's for FBNet and OFA).
    pub fn parse(s: &str) -> Result<TimeBounds, LoopError> {
        let bad = || {
            LoopError::Invalid(format!(
                "--time-ladder takes MIN:MAX seconds per arch (0 <= MIN <= MAX), optionally \
                 :BURST_MS (> 0) and :WARMUP_RUNS, e.g. 0.25:2.5 or 0.05:0.25:5:2; got '{s}'"
            ))
        };
        let parts: Vec<&str> = s.split(':').collect();
        if !(2..=4).contains(&parts.len()) {
            return Err(bad());
        }
        let num = |t: &str| -> Result<f64, LoopError> { t.trim().parse().map_err(|_| bad()) };
        let (min_s, max_s) = (num(parts[0])?, num(parts[1])?);
        let burst_ms = match parts.get(2) {
            Some(b) => num(b)?,
            None => Rounds::default().burst_ms,
        };
        let warmup_runs = match parts.get(3) {
            Some(w) => w.trim().parse().map_err(|_| bad())?,
            None => Protocol::interleaved().warmup_runs,
        };
        let bounds_ok = min_s.is_finite() && max_s.is_finite() && 0.0 <= min_s && min_s <= max_s;
        if !(bounds_ok && burst_ms.is_finite() && burst_ms > 0.0) {
            return Err(bad());
        }
        Ok(TimeBounds {
            min_s,
            max_s,
            burst_ms,
            warmup_runs,
        })
    }
}

/// One timing's test-retest.
#[derive(Debug, Clone, Serialize)]
pub struct Retest {
    pub estimator: &'static str,
    /// The protocol's sampling time bounds per arch.
    pub time: TimeBounds,
    pub test_retest: Agreement,
    /// Interleaved rounds: the agreement of each figure over its batch's anchor figure
    /// ([`crate::anchor`]), the level at which `adapt` fits support and `validate` judges.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub levelled: Option<Agreement>,
    pub seconds_per_pass: f64,
    pub seconds_per_arch: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Reproducibility {
    pub space: &'static str,
    pub archs: usize,
    pub threads: usize,
    /// Interleaved rounds at each time bound asked for, in that order.
    pub interleaved: Vec<Retest>,
    /// None with `rounds_only`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub one_at_a_time: Option<Retest>,
}

/// `n` distinct random archs of `space` from `seed`, measured as above.
pub fn run(
    space: Space,
    n: usize,
    threads: usize,
    seed: u64,
    rounds_only: bool,
    ladder: &[TimeBounds],
    reporter: &mut dyn Reporter,
) -> Result<Reproducibility, LoopError> {
    if n < 3 {
        return Err(LoopError::Invalid("--archs must be at least 3".into()));
    }
    if ladder.is_empty() {
        return Err(LoopError::Invalid(
            "--time-ladder needs at least one MIN:MAX".into(),
        ));
    }
    if threads == 0 {
        return Err(LoopError::Invalid("--threads must be at least 1".into()));
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut archs: Vec<Arch> = Vec::new();
    while archs.len() < n {
        let a = space.sample(&mut rng);
        if !archs.contains(&a) {
            archs.push(a);
        }
    }
    let dir = std::env::temp_dir().join(format!("edgenas-repro-{}", std::process::id()));
    let result = passes(&archs, threads, rounds_only, ladder, &dir, reporter);
    let _ = std::fs::remove_dir_all(&dir);
    let (rounds, classic) = result?;
    let retest = |estimator, time, (a, b): (Pass, Pass)| {
        let seconds_per_pass = (a.seconds + b.seconds) / 2.0;
        let levelled = a.levelled.as_ref().zip(b.levelled.as_ref());
        Retest {
            estimator,
            time,
            test_retest: Agreement::of(&a.ms, &b.ms),
            levelled: levelled.map(|(la, lb)| Agreement::of(la, lb)),
            seconds_per_pass,
            seconds_per_arch: seconds_per_pass / n as f64,
        }
    };
    Ok(Reproducibility {
        space: space.name(),
        archs: n,
        threads,
        interleaved: ladder
            .iter()
            .zip(rounds)
            .map(|(&t, p)| retest("median over rounds of each round's burst minimum", t, p))
            .collect(),
        one_at_a_time: classic.map(|p| {
            let one = Protocol::default();
            retest(
                "median of one continuous sample (CI of the median within 1%)",
                TimeBounds {
                    min_s: one.min_time.as_secs_f64(),
                    max_s: one.max_time.as_secs_f64(),
                    // One continuous sample: no rounds.
                    burst_ms: 0.0,
                    warmup_runs: one.warmup_runs,
                },
                p,
            )
        }),
    })
}

/// One pass over the archs.
struct Pass {
    /// Each arch's figure.
    ms: Vec<f64>,
    /// Each over its batch's anchor figure, where every batch held the anchor.
    levelled: Option<Vec<f64>>,
    seconds: f64,
}
type Passes = (Vec<(Pass, Pass)>, Option<(Pass, Pass)>);

/// Rounds at each time bound, one at a time, then all of it again: figures and seconds of
/// each pass.
fn passes(
    archs: &[Arch],
    threads: usize,
    rounds_only: bool,
    ladder: &[TimeBounds],
    dir: &std::path::Path,
    reporter: &mut dyn Reporter,
) -> Result<Passes, LoopError> {
    let journal = open_measurements(&dir.join("bench.journal"))?;
    let protocol = Protocol::default();
    let root = Sysroot::new("/");
    let system = probe::read_system(&root);
    let setup = Setup {
        root,
        system,
        threads,
        cpus: Vec::new(),
        protocol: protocol.clone(),
        rounds: Rounds::default(),
        cooldown: Duration::ZERO,
        allow_unstable: true,
        seed: 0,
        runtime: Runtime::Tract,
        runtime_identity: Runtime::Tract.identity().expect("tract is built in"),
        precision: edgenas_runtime::Precision::Fp32,
    };
    let mut measurer = Measurer::device(setup, journal);
    let mut rounds_pass = |t: TimeBounds, reporter: &mut dyn Reporter| -> Result<Pass, LoopError> {
        measurer.set_time_bounds(
            Duration::from_secs_f64(t.min_s),
            Duration::from_secs_f64(t.max_s),
        );
        measurer.set_rounds(t.burst_ms, t.warmup_runs);
        let t = Instant::now();
        let figures =
            measurer.measure_ignoring_journal(archs, crate::tally::Purpose::Bench, reporter)?;
        Ok(Pass {
            ms: figures.iter().map(|f| f.median_ms).collect(),
            levelled: figures
                .iter()
                .map(|f| f.batch.anchor_ms.map(|a| f.median_ms / a))
                .collect(),
            seconds: t.elapsed().as_secs_f64(),
        })
    };
    let classic_pass = |reporter: &mut dyn Reporter| -> Result<Pass, LoopError> {
        let t = Instant::now();
        let mut out = Vec::new();
        for (i, a) in archs.iter().enumerate() {
            let mut model = TractModel::from_network(&a.build(), TractOptions { threads, seed: 0 })
                .map_err(|source| LoopError::Runtime {
                    subject: format!("preparing {a}"),
                    source,
                })?;
            let s = protocol
                .sample(|| model.run_discard(), &mut |_| {})
                .map_err(|source| LoopError::Runtime {
                    subject: a.to_string(),
                    source,
                })?;
            out.push(s.stats.median_ms);
            if (i + 1) % 10 == 0 {
                reporter.note(&format!("  one at a time: {}/{}", i + 1, archs.len()));
            }
        }
        Ok(Pass {
            ms: out,
            levelled: None,
            seconds: t.elapsed().as_secs_f64(),
        })
    };
    let mut first = Vec::new();
    for &t in ladder {
        first.push(rounds_pass(t, reporter)?);
    }
    let c1 = (!rounds_only).then(|| classic_pass(reporter)).transpose()?;
    let mut both = Vec::new();
    for (&t, a) in ladder.iter().zip(first) {
        both.push((a, rounds_pass(t, reporter)?));
    }
    let c2 = (!rounds_only).then(|| classic_pass(reporter)).transpose()?;
    Ok((both, c1.zip(c2)))
}
