//! Test-retest: N archs measured twice with interleaved rounds (the loop's timing) and twice
//! one at a time (the protocol's own stop rule), the passes alternating so that both see the
//! same phases of the machine. The figure of merit is seconds per pass at a test-retest.

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

/// One timing's test-retest.
#[derive(Debug, Clone, Serialize)]
pub struct Retest {
    pub estimator: &'static str,
    pub test_retest: Agreement,
    pub seconds_per_pass: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Reproducibility {
    pub space: &'static str,
    pub archs: usize,
    pub threads: usize,
    pub interleaved: Retest,
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
    reporter: &mut dyn Reporter,
) -> Result<Reproducibility, LoopError> {
    if n < 3 {
        return Err(LoopError::Invalid("--archs must be at least 3".into()));
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
    let result = passes(&archs, threads, rounds_only, &dir, reporter);
    let _ = std::fs::remove_dir_all(&dir);
    let (r1, tr1, r2, tr2, classic) = result?;
    Ok(Reproducibility {
        space: space.name(),
        archs: n,
        threads,
        interleaved: Retest {
            estimator: "median over rounds of each round's burst minimum",
            test_retest: Agreement::of(&r1, &r2),
            seconds_per_pass: (tr1 + tr2) / 2.0,
        },
        one_at_a_time: classic.map(|((c1, tc1), (c2, tc2))| Retest {
            estimator: "median of one continuous sample (CI of the median within 1%)",
            test_retest: Agreement::of(&c1, &c2),
            seconds_per_pass: (tc1 + tc2) / 2.0,
        }),
    })
}

type Pass = (Vec<f64>, f64);
type Passes = (Vec<f64>, f64, Vec<f64>, f64, Option<(Pass, Pass)>);

/// Rounds, one at a time, rounds, one at a time: figures and seconds of each pass.
fn passes(
    archs: &[Arch],
    threads: usize,
    rounds_only: bool,
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
    };
    let mut measurer = Measurer::device(setup, journal);
    let mut rounds_pass = |reporter: &mut dyn Reporter| -> Result<Pass, LoopError> {
        let t = Instant::now();
        let figures = measurer.measure_ignoring_journal(archs, reporter)?;
        Ok((
            figures.iter().map(|f| f.median_ms).collect(),
            t.elapsed().as_secs_f64(),
        ))
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
        Ok((out, t.elapsed().as_secs_f64()))
    };
    let (r1, tr1) = rounds_pass(reporter)?;
    let c1 = (!rounds_only).then(|| classic_pass(reporter)).transpose()?;
    let (r2, tr2) = rounds_pass(reporter)?;
    let c2 = (!rounds_only).then(|| classic_pass(reporter)).transpose()?;
    Ok((r1, tr1, r2, tr2, c1.zip(c2)))
}
