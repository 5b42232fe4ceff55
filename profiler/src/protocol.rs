//! The measurement protocol: warm-up, sampling with a stop rule, and the flags that say
//! when a figure should not be trusted. It times any closure that runs one inference.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::probe::Conditions;
use crate::stats::Stats;

/// Protocol parameters (DESIGN.md defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Protocol {
    pub warmup_runs: usize,
    pub warmup_time: Duration,
    pub min_runs: usize,
    pub min_time: Duration,
    /// Sampling stops at this time even if the CI target was not reached (once `min_runs` ran).
    pub max_time: Duration,
    /// Stop early when the 95% CI half-width of the median is within this fraction.
    pub target_ci: f64,
    /// A sample whose CV exceeds this is flagged as noisy.
    pub max_cv: f64,
    /// A sample with more than this fraction of outliers is flagged.
    pub max_outlier_fraction: f64,
}

impl Default for Protocol {
    fn default() -> Self {
        Protocol {
            warmup_runs: 5,
            warmup_time: Duration::from_millis(500),
            min_runs: 20,
            min_time: Duration::from_secs(1),
            max_time: Duration::from_secs(10),
            target_ci: 0.01,
            max_cv: 0.05,
            max_outlier_fraction: 0.05,
        }
    }
}

/// Why a figure deserves a second look. Flags travel with the measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Flag {
    /// CV above the protocol's limit.
    Noisy { cv: f64 },
    /// Too many runs far from the median (modified z-score > 3.5).
    Outliers { count: usize, runs: usize },
    /// The median's CI did not reach the target before `max_time`.
    CiNotReached { ci_rel: f64 },
    /// Pre-flight found the CPU governor was not `performance`.
    Governor { governor: String },
    /// Pre-flight found the SoC hotter than the board limit.
    Hot { celsius: f64, limit: f64 },
    /// Pre-flight found firmware throttling active (names of the bits set).
    Throttled { reasons: Vec<String> },
    /// The clock of a policy moved between pre- and post-flight.
    FrequencyChanged {
        policy: String,
        before_khz: u64,
        after_khz: u64,
    },
    /// The hottest zone warmed by more than 5 C during the sample.
    TemperatureRose { before: f64, after: f64 },
    /// Another process kept the CPUs busy (load average above the core count).
    Loaded { load_1m: f64, cpus: usize },
    /// Other processes used this many CPUs on average while the sample ran.
    Contended { other_cpus: f64 },
}

impl Flag {
    /// A short stable name, for `--json` and CSV.
    pub fn code(&self) -> &'static str {
        match self {
            Flag::Noisy { .. } => "noisy",
            Flag::Outliers { .. } => "outliers",
            Flag::CiNotReached { .. } => "ci-not-reached",
            Flag::Governor { .. } => "governor",
            Flag::Hot { .. } => "hot",
            Flag::Throttled { .. } => "throttled",
            Flag::FrequencyChanged { .. } => "frequency-changed",
            Flag::TemperatureRose { .. } => "temperature-rose",
            Flag::Loaded { .. } => "loaded",
            Flag::Contended { .. } => "contended",
        }
    }
}

impl std::fmt::Display for Flag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Flag::Noisy { cv } => write!(f, "noisy: CV {:.1}% is above the limit", cv * 100.0),
            Flag::Outliers { count, runs } => {
                write!(f, "outliers: {count} of {runs} runs far from the median")
            }
            Flag::CiNotReached { ci_rel } => {
                write!(
                    f,
                    "ci-not-reached: the median's 95% CI is +-{:.1}%",
                    ci_rel * 100.0
                )
            }
            Flag::Governor { governor } => write!(
                f,
                "governor: CPU governor is '{governor}', not 'performance'"
            ),
            Flag::Hot { celsius, limit } => write!(
                f,
                "hot: SoC at {celsius:.1} C, above the {limit:.0} C limit"
            ),
            Flag::Throttled { reasons } => write!(f, "throttled: {}", reasons.join(", ")),
            Flag::FrequencyChanged {
                policy,
                before_khz,
                after_khz,
            } => write!(
                f,
                "frequency-changed: {policy} went from {} to {} MHz",
                before_khz / 1000,
                after_khz / 1000
            ),
            Flag::TemperatureRose { before, after } => {
                write!(
                    f,
                    "temperature-rose: {before:.1} C -> {after:.1} C during the run"
                )
            }
            Flag::Loaded { load_1m, cpus } => {
                write!(
                    f,
                    "loaded: load average {load_1m:.2} on {cpus} CPU(s) during the run"
                )
            }
            Flag::Contended { other_cpus } => write!(
                f,
                "contended: other processes kept {other_cpus:.2} CPU(s) busy during the run"
            ),
        }
    }
}

/// Progress of a running measurement, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub phase: Phase,
    pub runs: usize,
    pub elapsed: Duration,
    /// Fraction of the expected work done, 0..=1.
    pub fraction: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Warmup,
    Sampling,
}

/// The raw result of sampling: per-run latencies and their statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub samples_ms: Vec<f64>,
    pub stats: Stats,
    pub warmup_runs: usize,
}

impl Protocol {
    /// Warms up, then samples `run` until the stop rule holds.
    pub fn sample<E>(
        &self,
        mut run: impl FnMut() -> Result<(), E>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Sample, E> {
        let start = Instant::now();
        let mut warm = 0;
        while warm < self.warmup_runs || start.elapsed() < self.warmup_time {
            run()?;
            warm += 1;
            let fraction = (warm as f64 / self.warmup_runs.max(1) as f64)
                .min(start.elapsed().as_secs_f64() / self.warmup_time.as_secs_f64().max(1e-9));
            progress(Progress {
                phase: Phase::Warmup,
                runs: warm,
                elapsed: start.elapsed(),
                fraction: fraction.min(1.0),
            });
        }
        let start = Instant::now();
        let mut samples: Vec<f64> = Vec::with_capacity(self.min_runs.max(64));
        let mut next_check = self.min_runs.max(1);
        loop {
            let t = Instant::now();
            run()?;
            samples.push(t.elapsed().as_secs_f64() * 1e3);
            let elapsed = start.elapsed();
            let enough = samples.len() >= self.min_runs && elapsed >= self.min_time;
            let frac_min = (samples.len() as f64 / self.min_runs.max(1) as f64)
                .min(elapsed.as_secs_f64() / self.min_time.as_secs_f64().max(1e-9));
            progress(Progress {
                phase: Phase::Sampling,
                runs: samples.len(),
                elapsed,
                fraction: frac_min
                    .min(1.0)
                    .max(elapsed.as_secs_f64() / self.max_time.as_secs_f64()),
            });
            if !enough {
                continue;
            }
            if elapsed >= self.max_time {
                break;
            }
            // The CI needs a sort: check it only as the sample grows by 10%.
            if samples.len() >= next_check {
                next_check = samples.len() + samples.len() / 10 + 1;
                let mut sorted = samples.clone();
                sorted.sort_by(|a, b| a.total_cmp(b));
                if crate::stats::median_ci_rel(&sorted) <= self.target_ci {
                    break;
                }
            }
        }
        let stats = Stats::of(&samples);
        Ok(Sample {
            samples_ms: samples,
            stats,
            warmup_runs: warm,
        })
    }

    /// Flags that come from the sample itself.
    pub fn sample_flags(&self, s: &Stats) -> Vec<Flag> {
        let mut flags = Vec::new();
        if s.cv > self.max_cv {
            flags.push(Flag::Noisy { cv: s.cv });
        }
        if s.outliers as f64 > self.max_outlier_fraction * s.runs as f64 {
            flags.push(Flag::Outliers {
                count: s.outliers,
                runs: s.runs,
            });
        }
        if s.median_ci_rel > self.target_ci {
            flags.push(Flag::CiNotReached {
                ci_rel: s.median_ci_rel,
            });
        }
        flags
    }
}

/// Other processes may use up to this many CPUs on average before a sample is flagged:
/// a shell, a logger or an SSH session stay well below it; a compile job or a second
/// benchmark does not.
pub const MAX_OTHER_CPUS: f64 = 0.5;

/// Flags contention from CPU time taken by other processes during a sample.
pub fn contention_flag(
    before: &crate::probe::CpuTimes,
    after: &crate::probe::CpuTimes,
) -> Option<Flag> {
    let other_cpus = before.others_busy_cpus(after);
    (other_cpus > MAX_OTHER_CPUS).then_some(Flag::Contended { other_cpus })
}

/// Flags from comparing the probes before and after a sample.
pub fn drift_flags(before: &Conditions, after: &Conditions, cpus: usize) -> Vec<Flag> {
    let mut flags = Vec::new();
    for (a, b) in before.policies.iter().zip(&after.policies) {
        if let (Some(x), Some(y)) = (a.cur_khz, b.cur_khz) {
            // A move of more than 5% means the clock was not held for the whole run.
            if a.name == b.name && (x as f64 - y as f64).abs() > 0.05 * x.max(y) as f64 {
                flags.push(Flag::FrequencyChanged {
                    policy: a.name.clone(),
                    before_khz: x,
                    after_khz: y,
                });
            }
        }
    }
    if let (Some(x), Some(y)) = (before.max_celsius(), after.max_celsius()) {
        if y - x > 5.0 {
            flags.push(Flag::TemperatureRose {
                before: x,
                after: y,
            });
        }
    }
    if let Some(load) = after.load_1m {
        if load > cpus as f64 {
            flags.push(Flag::Loaded {
                load_1m: load,
                cpus,
            });
        }
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_rule_respects_minimums_and_max_time() {
        let p = Protocol {
            warmup_runs: 3,
            warmup_time: Duration::ZERO,
            min_runs: 7,
            min_time: Duration::ZERO,
            max_time: Duration::from_millis(50),
            target_ci: 0.0, // never reached: max_time must stop it
            ..Protocol::default()
        };
        let mut calls = 0;
        let s = p
            .sample::<()>(
                || {
                    calls += 1;
                    std::thread::sleep(Duration::from_millis(1));
                    Ok(())
                },
                &mut |_| {},
            )
            .unwrap();
        assert_eq!(s.warmup_runs, 3);
        assert!(s.stats.runs >= 7);
        assert_eq!(calls, s.warmup_runs + s.stats.runs);
        assert!(s.samples_ms.iter().all(|&ms| ms >= 1.0));
        assert!(p
            .sample_flags(&s.stats)
            .iter()
            .any(|f| f.code() == "ci-not-reached"));
    }

    #[test]
    fn errors_stop_the_sample() {
        let p = Protocol::default();
        let mut n = 0;
        let r = p.sample(
            || {
                n += 1;
                if n == 3 {
                    Err("boom")
                } else {
                    Ok(())
                }
            },
            &mut |_| {},
        );
        assert_eq!(r.unwrap_err(), "boom");
    }

    #[test]
    fn drift_is_flagged() {
        use crate::probe::{CpuPolicy, ThermalZone};
        let mk = |khz, c| Conditions {
            policies: vec![CpuPolicy {
                name: "policy0".into(),
                cpus: vec![0],
                governor: Some("performance".into()),
                cur_khz: Some(khz),
                max_khz: Some(1_500_000),
            }],
            thermal: vec![ThermalZone {
                name: "cpu".into(),
                celsius: c,
            }],
            load_1m: Some(0.1),
            throttle: None,
        };
        assert!(drift_flags(&mk(1_500_000, 50.0), &mk(1_490_000, 52.0), 4).is_empty());
        let f = drift_flags(&mk(1_500_000, 50.0), &mk(600_000, 60.0), 4);
        let codes: Vec<_> = f.iter().map(|f| f.code()).collect();
        assert_eq!(codes, ["frequency-changed", "temperature-rose"]);
    }
}
