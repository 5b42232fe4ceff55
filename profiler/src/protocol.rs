//! The measurement protocol: warm-up, sampling with a stop rule, and the flags that say
//! when a figure should not be trusted. It times any closure that runs one inference.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::probe::Conditions;
use crate::stats::Stats;

/// How one run of a subject is timed.
#[derive(Debug, Clone, PartialEq)]
pub enum Timing {
    /// The run is one inference: the protocol times it.
    Timed,
    /// The subject timed itself (a timing program): these latencies, in milliseconds. The
    /// run's wall time, the program's start-up included, is not a latency.
    Reported(Vec<f64>),
}

impl From<()> for Timing {
    fn from(_: ()) -> Timing {
        Timing::Timed
    }
}

impl From<Option<Vec<f64>>> for Timing {
    fn from(v: Option<Vec<f64>>) -> Timing {
        v.map_or(Timing::Timed, Timing::Reported)
    }
}

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
    /// Sampling stops at this many timed runs whatever else is unmet: it bounds the record
    /// (every run's time is stored) and the memory. Not stored in the record (the journal's
    /// format predates it); the record's run count shows when it stopped sampling.
    #[serde(skip, default = "default_max_runs")]
    pub max_runs: usize,
}

/// The default run cap: a 10,000-run record is ~80 KB, far under the journal's record limit.
pub const DEFAULT_MAX_RUNS: usize = 10_000;

fn default_max_runs() -> usize {
    DEFAULT_MAX_RUNS
}

/// Where the protocol reads time: the monotonic clock, or a test's.
pub trait Clock {
    /// Time since an arbitrary fixed origin.
    fn now(&mut self) -> Duration;
}

/// `Instant`-based: what real measurements use.
pub struct MonotonicClock(Instant);

impl MonotonicClock {
    pub fn new() -> MonotonicClock {
        MonotonicClock(Instant::now())
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        MonotonicClock::new()
    }
}

impl Clock for MonotonicClock {
    fn now(&mut self) -> Duration {
        self.0.elapsed()
    }
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
            max_runs: DEFAULT_MAX_RUNS,
        }
    }
}

impl Protocol {
    /// The loop's interleaved timing (embed, adapt, validate, search --verify, run): the same
    /// rules with tighter sampling bounds per arch. Rounds already spread every arch over the
    /// machine's slow phases, so a second per arch bought no agreement: `edgenas bench
    /// reproducibility --archs 40` kept test-retest at or above 0.99 at these bounds, for a
    /// fraction of the seconds per arch (figures in the README).
    pub fn interleaved() -> Protocol {
        Protocol {
            min_time: INTERLEAVED_MIN_TIME,
            max_time: INTERLEAVED_MAX_TIME,
            ..Protocol::default()
        }
    }
}

/// The interleaved timing's sampling bounds per arch (see [`Protocol::interleaved`]).
pub const INTERLEAVED_MIN_TIME: Duration = Duration::from_millis(50);
pub const INTERLEAVED_MAX_TIME: Duration = Duration::from_millis(500);

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
    /// The load average, less this measurement's own threads, exceeded the CPUs it left free.
    Loaded { load_1m: f64, cpus: usize },
    /// Other processes used this many CPUs on average while the sample ran.
    Contended { other_cpus: f64 },
    /// More inference threads than CPUs to run them on (pinned or online): they time-share.
    /// (A new variant goes last: records written before it still decode.)
    Oversubscribed { threads: usize, cpus: usize },
    /// Pre-flight found the firmware's under-voltage bit: the supply cannot hold the voltage
    /// and the firmware slows the CPU. Not heat: waiting does not fix it.
    UnderVoltage,
    /// No cpufreq here (a VM, a kernel without it): nothing says the clock is held. Recorded
    /// with the sample; it does not refuse a measurement (there is nothing to fix).
    GovernorUnknown,
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
            Flag::Oversubscribed { .. } => "oversubscribed",
            Flag::UnderVoltage => "under-voltage",
            Flag::GovernorUnknown => "governor-unknown",
        }
    }

    /// Whether pre-flight refuses to measure under this flag (without --allow-unstable).
    pub fn refuses(&self) -> bool {
        !matches!(self, Flag::GovernorUnknown)
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
                    "loaded: load average {load_1m:.2} on {cpus} CPU(s), more than this measurement's own threads explain"
                )
            }
            Flag::Contended { other_cpus } => write!(
                f,
                "contended: other processes kept {other_cpus:.2} CPU(s) busy during the run"
            ),
            Flag::Oversubscribed { threads, cpus } => write!(
                f,
                "oversubscribed: {threads} inference threads on {cpus} CPU(s); they time-share"
            ),
            Flag::UnderVoltage => write!(
                f,
                "under-voltage: the power supply cannot hold the board's voltage and the firmware \
                 slows the CPU meanwhile (use a supply rated for the board: Pi 4 5 V/3 A, Pi 5 \
                 5 V/5 A); waiting does not fix it"
            ),
            Flag::GovernorUnknown => write!(
                f,
                "governor-unknown: no cpufreq here (a VM or a kernel without it), so nothing \
                 says the CPU clock was held"
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

/// The raw result of sampling: per-run latencies (or per-round figures) and their statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Every timed run in milliseconds or, for interleaved rounds, one figure per round
    /// (the fastest run of the subject's burst in that round).
    pub samples_ms: Vec<f64>,
    pub stats: Stats,
    pub warmup_runs: usize,
    /// Set when the sample was taken in interleaved rounds with other subjects.
    pub rounds: Option<RoundsInfo>,
}

/// How an interleaved sample was taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundsInfo {
    /// Subjects measured together, in interleaved rounds.
    pub subjects: usize,
    /// Rounds (= entries of `samples_ms`).
    pub rounds: usize,
    /// Timed runs of this subject in all rounds.
    pub timed_runs: usize,
    /// Runs in each of this subject's bursts.
    pub burst_runs: usize,
}

/// Interleaved rounds (DESIGN step 8): several subjects are timed in turn, every subject once a
/// round (A B C … C A B … B … A …: each round's order starts elsewhere and steps by another
/// stride, so no subject always follows the same one), each round a short burst per subject.
/// On a machine whose slow phases last seconds a whole classic sample can land inside one;
/// rounds spread every subject over the same phases, and the figure of a subject is the median
/// over rounds of its burst minima: the minimum of a burst discards the runs a slow phase hit
/// within the round, the median over rounds discards rounds that were slow throughout. The CI
/// is the median's over rounds, so it widens when rounds disagree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rounds {
    pub min_rounds: usize,
    /// A hard cap, whatever the CI: bounds the record and the time.
    pub max_rounds: usize,
    /// Each subject's share of a round, in milliseconds (at least one run).
    pub burst_ms: f64,
}

impl Default for Rounds {
    fn default() -> Self {
        Rounds {
            min_rounds: 10,
            max_rounds: 400,
            burst_ms: 15.0,
        }
    }
}

/// Rounds of an interleaved batch that an interrupted sitting finished: each round's value of
/// every subject, in the batch's order, and the time they took.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DoneRounds {
    pub rounds: Vec<Vec<f64>>,
    pub elapsed: Duration,
}

/// One round just finished: its index from 0, the sampling time up to its end (resumed rounds'
/// included), and every subject's value, in the batch's order.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedRound {
    pub round: usize,
    pub elapsed: Duration,
    pub fastest_ms: Vec<f64>,
}

/// Progress of an interleaved measurement.
#[derive(Debug, Clone, Copy)]
pub struct RoundsProgress {
    pub round: usize,
    pub elapsed: Duration,
    /// Fraction of the expected work done, 0..=1.
    pub fraction: f64,
    /// The widest CI of the subjects so far (relative).
    pub worst_ci: f64,
}

impl Protocol {
    /// With exactly `n` timed runs (hyperfine's --runs, benchmark_model's --num_runs).
    pub fn with_runs(mut self, n: usize) -> Result<Protocol, crate::ProfilerError> {
        if n == 0 {
            return Err(crate::ProfilerError::Protocol(
                "--runs must be at least 1".into(),
            ));
        }
        self.min_runs = n;
        self.max_runs = n;
        Ok(self)
    }

    /// Refuses parameters out of range, naming each by its flag.
    pub fn check(&self) -> Result<(), crate::ProfilerError> {
        let bad = |m: String| Err(crate::ProfilerError::Protocol(m));
        if self.min_runs == 0 {
            return bad("--min-runs must be at least 1".into());
        }
        // A million runs is an 8 MB record, well under what the journal reads back.
        if !(1..=1_000_000).contains(&self.max_runs) || self.max_runs < self.min_runs {
            return bad(format!(
                "--max-runs must be from --min-runs ({}) to 1000000, got {}",
                self.min_runs, self.max_runs
            ));
        }
        if !(self.target_ci > 0.0 && self.target_ci < 1.0) {
            return bad(format!(
                "--target-ci must be a fraction between 0 and 1 (0.01 = 1 %), got {}",
                self.target_ci
            ));
        }
        if !(self.max_cv > 0.0 && self.max_cv.is_finite()) {
            return bad(format!(
                "--max-cv must be a positive fraction (0.05 = 5 %), got {}",
                self.max_cv
            ));
        }
        if self.max_time < self.min_time {
            return bad(format!(
                "--max-time ({:?}) is shorter than --min-time ({:?})",
                self.max_time, self.min_time
            ));
        }
        Ok(())
    }

    /// Warms up, then samples `run` until the stop rule holds.
    pub fn sample<T: Into<Timing>, E>(
        &self,
        run: impl FnMut() -> Result<T, E>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Sample, E> {
        self.sample_with_clock(&mut MonotonicClock::new(), run, progress)
    }

    /// [`Protocol::sample`] with the time read from `clock`: the stop rules, testable.
    pub fn sample_with_clock<T: Into<Timing>, E>(
        &self,
        clock: &mut dyn Clock,
        mut run: impl FnMut() -> Result<T, E>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Sample, E> {
        let start = clock.now();
        let mut warm = 0;
        while warm < self.warmup_runs || clock.now() - start < self.warmup_time {
            // A timing program warms up itself within each start (trtexec even builds its
            // engine there): one start is its warm-up.
            let program = matches!(run()?.into(), Timing::Reported(_));
            warm += 1;
            let elapsed = clock.now() - start;
            let fraction = (warm as f64 / self.warmup_runs.max(1) as f64)
                .min(elapsed.as_secs_f64() / self.warmup_time.as_secs_f64().max(1e-9));
            progress(Progress {
                phase: Phase::Warmup,
                runs: warm,
                elapsed,
                fraction: if program { 1.0 } else { fraction.min(1.0) },
            });
            if program {
                break;
            }
        }
        let start = clock.now();
        let cap = self.max_runs.max(1);
        let mut samples: Vec<f64> = Vec::with_capacity(self.min_runs.max(64).min(cap));
        let mut next_check = self.min_runs.max(1);
        loop {
            let t = clock.now();
            let ran = run()?.into();
            let end = clock.now();
            match ran {
                Timing::Timed => samples.push((end - t).as_secs_f64() * 1e3),
                Timing::Reported(v) => {
                    samples.extend(v);
                    samples.truncate(cap);
                }
            }
            let elapsed = end - start;
            let enough = samples.len() >= self.min_runs && elapsed >= self.min_time;
            let frac_min = (samples.len() as f64 / self.min_runs.max(1) as f64)
                .min(elapsed.as_secs_f64() / self.min_time.as_secs_f64().max(1e-9));
            progress(Progress {
                phase: Phase::Sampling,
                runs: samples.len(),
                elapsed,
                fraction: frac_min
                    .min(1.0)
                    .max(elapsed.as_secs_f64() / self.max_time.as_secs_f64())
                    .max(samples.len() as f64 / cap as f64),
            });
            // The run cap bounds the record, so it beats every minimum.
            if samples.len() >= cap {
                break;
            }
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
            rounds: None,
        })
    }

    /// Times several subjects in interleaved rounds (see [`Rounds`]). The time limits of the
    /// protocol are per subject: sampling lasts at least `min_time × n` and at most
    /// `max_time × n`, and stops in between once every subject's CI is within `target_ci`.
    pub fn sample_interleaved<T: Into<Timing>, E>(
        &self,
        rounds: &Rounds,
        runs: &mut [&mut dyn FnMut() -> Result<T, E>],
        progress: &mut dyn FnMut(RoundsProgress),
    ) -> Result<Vec<Sample>, E> {
        self.sample_interleaved_from(rounds, runs, &DoneRounds::default(), progress, &mut |_| {})
    }

    /// [`Protocol::sample_interleaved`] that goes on from rounds an interrupted sitting
    /// finished (`done`) and hands each round it finishes to `finished`, to be kept where an
    /// interruption would cost much (a timing program's starts). The warm-up runs again: a
    /// new process is cold. Resumed rounds count the bursts this warm-up sizes.
    pub fn sample_interleaved_from<T: Into<Timing>, E>(
        &self,
        rounds: &Rounds,
        runs: &mut [&mut dyn FnMut() -> Result<T, E>],
        done: &DoneRounds,
        progress: &mut dyn FnMut(RoundsProgress),
        finished: &mut dyn FnMut(&FinishedRound),
    ) -> Result<Vec<Sample>, E> {
        let n = runs.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let (warm, burst) = self.warm_up(rounds, runs)?;
        let min_total = self.min_time.mul_f64(n as f64);
        let max_total = self.max_time.mul_f64(n as f64);
        let start = Instant::now();
        let mut per_round: Vec<Vec<f64>> = vec![Vec::new(); n];
        let mut timed = vec![0usize; n];
        let mut round = 0usize;
        for values in done.rounds.iter().filter(|v| v.len() == n) {
            for (i, &v) in values.iter().enumerate() {
                per_round[i].push(v);
                timed[i] += burst[i];
            }
            round += 1;
        }
        let mut worst_ci = f64::INFINITY;
        // Strides coprime with n: each round's order is a permutation.
        let strides: Vec<usize> = (1..n.max(2)).filter(|&s| gcd(s, n) == 1).collect();
        loop {
            // Start at another subject and step by another stride each round, so that no
            // subject always follows the same one. A plain rotation kept every subject behind
            // the same neighbour, whose cache and clock state it then inherited every round.
            let stride = strides[round % strides.len()];
            for k in 0..n {
                let i = (round + k * stride) % n;
                let mut fastest = f64::INFINITY;
                for _ in 0..burst[i] {
                    fastest = fastest.min(fastest_of(&mut *runs[i])?);
                }
                timed[i] += burst[i];
                per_round[i].push(fastest);
            }
            round += 1;
            let elapsed = start.elapsed() + done.elapsed;
            finished(&FinishedRound {
                round: round - 1,
                elapsed,
                fastest_ms: per_round.iter().map(|v| v[v.len() - 1]).collect(),
            });
            if round >= rounds.min_rounds.max(6) {
                worst_ci = batch_ci(&per_round);
            }
            let fraction = (elapsed.as_secs_f64() / min_total.as_secs_f64().max(1e-9))
                .min(round as f64 / rounds.min_rounds.max(1) as f64)
                .max(elapsed.as_secs_f64() / max_total.as_secs_f64().max(1e-9))
                .min(1.0);
            progress(RoundsProgress {
                round,
                elapsed,
                fraction,
                worst_ci,
            });
            let enough = round >= rounds.min_rounds && elapsed >= min_total;
            if round >= rounds.max_rounds
                || (enough && (worst_ci <= self.target_ci || elapsed >= max_total))
            {
                break;
            }
        }
        Ok(per_round
            .into_iter()
            .enumerate()
            .map(|(i, values)| Sample {
                stats: Stats::of(&values),
                rounds: Some(RoundsInfo {
                    subjects: n,
                    rounds: values.len(),
                    timed_runs: timed[i],
                    burst_runs: burst[i],
                }),
                samples_ms: values,
                warmup_runs: warm[i],
            })
            .collect())
    }

    /// Warm-up of interleaved rounds: each subject its runs and its share of the warm-up time;
    /// the runs each subject took, and the runs of its bursts (its fastest warm-up run sizes
    /// them to `rounds.burst_ms`).
    fn warm_up<T: Into<Timing>, E>(
        &self,
        rounds: &Rounds,
        runs: &mut [&mut dyn FnMut() -> Result<T, E>],
    ) -> Result<(Vec<usize>, Vec<usize>), E> {
        let n = runs.len();
        let per_subject_warmup = self.warmup_time.div_f64(n as f64);
        let mut warm = vec![0usize; n];
        let mut burst = vec![1usize; n];
        for (i, run) in runs.iter_mut().enumerate() {
            let start = Instant::now();
            let mut fastest = f64::INFINITY;
            let mut reported = false;
            while !reported && (warm[i] < self.warmup_runs || start.elapsed() < per_subject_warmup)
            {
                let t = Instant::now();
                match run()?.into() {
                    Timing::Timed => fastest = fastest.min(t.elapsed().as_secs_f64() * 1e3),
                    // A timing program warms up within each start: one start is its warm-up.
                    Timing::Reported(_) => reported = true,
                }
                warm[i] += 1;
            }
            let est_ms = fastest.max(1e-6);
            // A timing program runs many inferences per start: one start is a round's burst.
            burst[i] = if reported {
                1
            } else {
                ((rounds.burst_ms / est_ms).round() as usize).clamp(1, 10_000)
            };
        }
        Ok((warm, burst))
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

/// The widest CI of a batch, relative. A subject faster than the batch's typical one (the
/// median of the medians) is held to the typical one's absolute precision: a 0.3 ms network
/// need not be timed to 3 µs to be ranked against 3 ms ones, and waiting for it would hold
/// the whole batch (its own CI is still recorded and flagged).
fn batch_ci(per_round: &[Vec<f64>]) -> f64 {
    let stats: Vec<(f64, f64)> = per_round
        .iter()
        .map(|v| {
            let mut s = v.clone();
            s.sort_by(|a, b| a.total_cmp(b));
            let median = crate::stats::quantile(&s, 0.5);
            (median, crate::stats::median_ci_rel(&s) * median)
        })
        .collect();
    let mut medians: Vec<f64> = stats.iter().map(|s| s.0).collect();
    medians.sort_by(|a, b| a.total_cmp(b));
    let typical = crate::stats::quantile(&medians, 0.5);
    stats
        .iter()
        .map(|&(median, half)| half / median.max(typical).max(1e-12))
        .fold(0.0, f64::max)
}

/// Conditions under which a measurement would not be trustworthy, found before it starts.
/// One run's fastest latency: its wall time, or the fastest a timing program reported.
fn fastest_of<T: Into<Timing>, E>(run: &mut dyn FnMut() -> Result<T, E>) -> Result<f64, E> {
    let t = Instant::now();
    Ok(match run()?.into() {
        Timing::Timed => t.elapsed().as_secs_f64() * 1e3,
        Timing::Reported(v) => v.into_iter().fold(f64::INFINITY, f64::min),
    })
}

pub fn preflight_flags(cond: &Conditions, temp_limit_c: f64) -> Vec<Flag> {
    let mut flags = Vec::new();
    let governors = cond.governors();
    if governors.is_empty() {
        flags.push(Flag::GovernorUnknown);
    } else if governors.iter().any(|g| g != "performance") {
        flags.push(Flag::Governor {
            governor: cond.governor_summary(),
        });
    }
    if let Some(t) = cond.throttle.as_ref().filter(|t| !t.now.is_empty()) {
        // Under-voltage is the supply, not heat: its own flag and message.
        let (under, others): (Vec<String>, Vec<String>) =
            t.now.iter().cloned().partition(|r| r == "under-voltage");
        if !under.is_empty() {
            flags.push(Flag::UnderVoltage);
        }
        if !others.is_empty() {
            flags.push(Flag::Throttled { reasons: others });
        }
    }
    if let Some(c) = cond.max_celsius().filter(|&c| c > temp_limit_c) {
        flags.push(Flag::Hot {
            celsius: c,
            limit: temp_limit_c,
        });
    }
    flags
}

/// Why pre-flight refuses to measure under `flags` (without --allow-unstable): the refusing
/// flags' messages, empty when none refuses.
pub fn refusals(flags: &[Flag]) -> Vec<String> {
    flags
        .iter()
        .filter(|f| f.refuses())
        .map(|f| f.to_string())
        .collect()
}

/// Waits (bounded) for heat and throttling to pass; a governor does not change by waiting.
/// Returns the last conditions read and the flags that remain; `notify` hears why it waits.
pub fn cool_down(
    root: &crate::Sysroot,
    limit: f64,
    wait: Duration,
    mut cond: Conditions,
    notify: &mut dyn FnMut(&str),
) -> (Conditions, Vec<Flag>) {
    let start = Instant::now();
    loop {
        let flags = preflight_flags(&cond, limit);
        // Heat and thermal throttling pass by waiting; a governor or an under-voltage does not.
        let waiting: Vec<String> = flags
            .iter()
            .filter(|f| matches!(f, Flag::Throttled { .. } | Flag::Hot { .. }))
            .map(|f| f.to_string())
            .collect();
        if waiting.is_empty() || start.elapsed() >= wait {
            return (cond, flags);
        }
        notify(&format!(
            "waiting for the board to cool down: {}",
            waiting.join("; ")
        ));
        std::thread::sleep(Duration::from_secs(2).min(wait.saturating_sub(start.elapsed())));
        cond = crate::probe::read_conditions(root);
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

/// More threads than the CPUs they may run on: pinned ones if pinned, else the online ones.
pub fn oversubscription_flag(threads: usize, pinned: &[usize], online: usize) -> Option<Flag> {
    let cpus = if pinned.is_empty() {
        online
    } else {
        pinned.len()
    };
    (cpus > 0 && threads > cpus).then_some(Flag::Oversubscribed { threads, cpus })
}

/// Flags from comparing the probes before and after a sample. `own_threads` are the
/// measurement's inference threads: the load average counts them, so a clean 4-thread run on
/// a 4-core Pi 4 reads about 4 and is not "loaded".
pub fn drift_flags(
    before: &Conditions,
    after: &Conditions,
    cpus: usize,
    own_threads: usize,
) -> Vec<Flag> {
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
        let others = (load - own_threads as f64).max(0.0);
        let free = cpus.saturating_sub(own_threads) as f64;
        if others > free + MAX_OTHER_CPUS {
            flags.push(Flag::Loaded {
                load_1m: load,
                cpus,
            });
        }
    }
    flags
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock that only moves when the "network" runs: each run takes the next duration.
    struct FakeClock {
        now: std::rc::Rc<std::cell::Cell<Duration>>,
    }

    impl Clock for FakeClock {
        fn now(&mut self) -> Duration {
            self.now.get()
        }
    }

    /// A timing program: each start costs 300 ms of wall time (start-up, parsing) and reports
    /// three latencies. The sample is the reported latencies, never the start-up, and the
    /// stop rule counts them: 5 runs at least take two starts.
    #[test]
    fn a_programs_reported_latencies_are_the_sample_and_its_start_up_is_not() {
        let now = std::rc::Rc::new(std::cell::Cell::new(Duration::ZERO));
        let mut clock = FakeClock { now: now.clone() };
        let p = Protocol {
            warmup_runs: 3,
            warmup_time: Duration::ZERO,
            min_runs: 5,
            min_time: Duration::ZERO,
            max_time: Duration::from_secs(10),
            target_ci: 1.0,
            ..Protocol::default()
        };
        let mut starts = 0;
        let s = p
            .sample_with_clock::<Option<Vec<f64>>, ()>(
                &mut clock,
                || {
                    now.set(now.get() + Duration::from_millis(300));
                    starts += 1;
                    Ok(Some(vec![2.0, 1.0, 3.0]))
                },
                &mut |_| {},
            )
            .unwrap();
        assert_eq!(
            starts, 3,
            "one warm-up start (whatever --warmup-runs), two sampling"
        );
        assert_eq!(s.samples_ms, [2.0, 1.0, 3.0, 2.0, 1.0, 3.0]);
        assert_eq!(s.stats.median_ms, 2.0);
        // Interleaved: one start per subject and round; each round keeps the fastest report.
        let rounds = Rounds {
            min_rounds: 6,
            max_rounds: 6,
            burst_ms: 15.0,
        };
        let mut a = || Ok::<_, ()>(Some(vec![5.0, 4.0]));
        let mut b = || Ok::<_, ()>(Some(vec![7.0, 9.0]));
        let mut runs: [&mut dyn FnMut() -> Result<Option<Vec<f64>>, ()>; 2] = [&mut a, &mut b];
        let v = p
            .sample_interleaved(&rounds, &mut runs, &mut |_| {})
            .unwrap();
        assert_eq!(v[0].samples_ms, [4.0; 6]);
        assert_eq!(v[1].samples_ms, [7.0; 6]);
        assert_eq!(v[0].rounds.as_ref().unwrap().burst_runs, 1);
        assert_eq!(
            (s.warmup_runs, v[0].warmup_runs, v[1].warmup_runs),
            (1, 1, 1)
        );
    }

    /// An interrupted batch goes on from its finished rounds: only the rounds left are run
    /// (after a warm-up start each), the figure is over all of them, and every round finished
    /// now is handed out with its index.
    #[test]
    fn interleaved_rounds_go_on_from_an_interrupted_sitting() {
        let p = Protocol {
            warmup_runs: 1,
            warmup_time: Duration::ZERO,
            min_time: Duration::ZERO,
            max_time: Duration::from_secs(10),
            ..Protocol::default()
        };
        let rounds = Rounds {
            min_rounds: 6,
            max_rounds: 6,
            burst_ms: 15.0,
        };
        let starts = std::cell::Cell::new(0);
        let mut a = || {
            starts.set(starts.get() + 1);
            Ok::<_, ()>(Some(vec![5.0]))
        };
        let mut b = || {
            starts.set(starts.get() + 1);
            Ok::<_, ()>(Some(vec![7.0]))
        };
        let mut runs: [&mut dyn FnMut() -> Result<Option<Vec<f64>>, ()>; 2] = [&mut a, &mut b];
        let done = DoneRounds {
            rounds: vec![vec![1.0, 2.0]; 4],
            elapsed: Duration::from_secs(3),
        };
        let mut finished = Vec::new();
        let v = p
            .sample_interleaved_from(&rounds, &mut runs, &done, &mut |_| {}, &mut |r| {
                finished.push(r.clone())
            })
            .unwrap();
        assert_eq!(
            starts.get(),
            2 + 2 * 2,
            "a warm-up start each, then two rounds"
        );
        assert_eq!(v[0].samples_ms, [1.0, 1.0, 1.0, 1.0, 5.0, 5.0]);
        assert_eq!(v[1].samples_ms, [2.0, 2.0, 2.0, 2.0, 7.0, 7.0]);
        let info = v[0].rounds.as_ref().unwrap();
        assert_eq!((info.rounds, info.timed_runs), (6, 6));
        assert_eq!(finished.len(), 2);
        assert_eq!(finished[0].round, 4);
        assert_eq!(finished[1].fastest_ms, [5.0, 7.0]);
        assert!(finished[1].elapsed >= done.elapsed);
    }

    /// Samples with run times drawn from `times` (cycled) on a fake clock.
    fn fake_sample(p: &Protocol, times_us: &[u64]) -> Sample {
        let now = std::rc::Rc::new(std::cell::Cell::new(Duration::ZERO));
        let mut clock = FakeClock { now: now.clone() };
        let mut i = 0;
        p.sample_with_clock::<(), ()>(
            &mut clock,
            || {
                now.set(now.get() + Duration::from_micros(times_us[i % times_us.len()]));
                i += 1;
                Ok(())
            },
            &mut |_| {},
        )
        .unwrap()
    }

    #[test]
    fn the_stop_rules_on_a_fake_clock() {
        let base = Protocol {
            warmup_runs: 5,
            warmup_time: Duration::from_millis(50),
            min_runs: 20,
            min_time: Duration::from_millis(100),
            max_time: Duration::from_secs(1),
            target_ci: 0.01,
            ..Protocol::default()
        };
        // Warm-up lasts its time (50 ms at 1 ms a run = 50 runs), not only its run count.
        let s = fake_sample(&base, &[1000]);
        assert_eq!(s.warmup_runs, 50);
        // Identical runs: the CI is zero at once, so sampling ends when both minimums are met:
        // 100 ms at 1 ms a run.
        assert_eq!(s.stats.runs, 100);
        assert!(s.samples_ms.iter().all(|&ms| ms == 1.0));
        // Runs alternating 1 and 3 ms: the median's CI never narrows to 1 %, so max_time ends it
        // (1 s = 500 pairs of 2 ms average).
        let s = fake_sample(&base, &[1000, 3000]);
        assert_eq!(s.stats.runs, 500);
        assert!(base
            .sample_flags(&s.stats)
            .iter()
            .any(|f| f.code() == "ci-not-reached"));
        // The run cap beats max_time and the minimums: a 1 µs network stops at max_runs.
        let capped = Protocol {
            max_runs: 300,
            min_time: Duration::from_secs(5),
            max_time: Duration::from_secs(9),
            ..base.clone()
        };
        let s = fake_sample(&capped, &[1, 2, 3]);
        assert_eq!(s.stats.runs, 300);
        assert_eq!(s.samples_ms.len(), 300);
        // A CI target of 5 % is reached early with mild noise.
        let loose = Protocol {
            target_ci: 0.05,
            min_time: Duration::ZERO,
            ..base.clone()
        };
        let s = fake_sample(&loose, &[1000, 1010, 990, 1005, 995]);
        assert!(s.stats.runs >= 20 && s.stats.runs < 100, "{}", s.stats.runs);
    }

    #[test]
    fn interleaved_rounds_time_every_subject_in_rotation_and_rank_them() {
        let p = Protocol {
            warmup_runs: 2,
            warmup_time: Duration::ZERO,
            min_time: Duration::ZERO,
            max_time: Duration::from_millis(200),
            ..Protocol::default()
        };
        let rounds = Rounds {
            min_rounds: 8,
            max_rounds: 12,
            burst_ms: 3.0,
        };
        let order = std::cell::RefCell::new(Vec::new());
        let mut fast = || -> Result<(), ()> {
            order.borrow_mut().push('a');
            std::thread::sleep(Duration::from_micros(500));
            Ok(())
        };
        let mut slow = || -> Result<(), ()> {
            order.borrow_mut().push('b');
            std::thread::sleep(Duration::from_millis(2));
            Ok(())
        };
        let samples = p
            .sample_interleaved(&rounds, &mut [&mut fast, &mut slow], &mut |_| {})
            .unwrap();
        assert_eq!(samples.len(), 2);
        let (a, b) = (&samples[0], &samples[1]);
        assert!(a.stats.median_ms < b.stats.median_ms);
        assert!(a.stats.median_ms >= 0.5 && b.stats.median_ms >= 2.0);
        let info = a.rounds.as_ref().unwrap();
        assert!(info.rounds >= 8 && info.rounds <= 12, "{info:?}");
        assert_eq!(info.rounds, a.samples_ms.len());
        // Bursts are sized to the subject: more runs of the fast one per round.
        assert!(info.burst_runs > b.rounds.as_ref().unwrap().burst_runs);
        // After warm-up the subjects alternate: both appear in every stretch of the sequence.
        let seq: String = order.borrow().iter().collect();
        let after_warmup = &seq[seq.len() / 2..];
        assert!(after_warmup.contains("ab") && after_warmup.contains("ba"));
    }

    #[test]
    fn no_subject_always_follows_the_same_one() {
        let p = Protocol {
            warmup_runs: 1,
            warmup_time: Duration::ZERO,
            min_time: Duration::ZERO,
            max_time: Duration::from_secs(5),
            ..Protocol::default()
        };
        let rounds = Rounds {
            min_rounds: 8,
            max_rounds: 8,
            burst_ms: 0.0,
        };
        let order = std::cell::RefCell::new(Vec::new());
        let mut subjects: Vec<Box<dyn FnMut() -> Result<(), ()>>> = (0..5)
            .map(|i| {
                let order = &order;
                Box::new(move || {
                    order.borrow_mut().push(i);
                    Ok(())
                }) as Box<dyn FnMut() -> Result<(), ()>>
            })
            .collect();
        let mut runs: Vec<&mut dyn FnMut() -> Result<(), ()>> =
            subjects.iter_mut().map(|s| s.as_mut() as _).collect();
        p.sample_interleaved(&rounds, &mut runs, &mut |_| {})
            .unwrap();
        // The timed rounds, one entry per burst, after warm-up's runs.
        let mut seq = order.borrow().clone();
        seq.dedup();
        let timed = &seq[seq.len() - 8 * 5..];
        for s in 0..5 {
            let before: std::collections::BTreeSet<usize> = timed
                .windows(2)
                .filter(|w| w[1] == s)
                .map(|w| w[0])
                .collect();
            // A rotation gives each subject two (its neighbour, and another at a round's
            // start); strides 1-4 give four.
            assert!(before.len() >= 3, "subject {s} follows only {before:?}");
        }
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
        assert!(drift_flags(&mk(1_500_000, 50.0), &mk(1_490_000, 52.0), 4, 1).is_empty());
        let f = drift_flags(&mk(1_500_000, 50.0), &mk(600_000, 60.0), 4, 1);
        let codes: Vec<_> = f.iter().map(|f| f.code()).collect();
        assert_eq!(codes, ["frequency-changed", "temperature-rose"]);
    }

    #[test]
    fn the_load_of_our_own_threads_is_not_load() {
        let with_load = |load| Conditions {
            policies: vec![],
            thermal: vec![],
            load_1m: Some(load),
            throttle: None,
        };
        let loaded = |load, cpus, threads| {
            drift_flags(&with_load(0.0), &with_load(load), cpus, threads)
                .iter()
                .any(|f| f.code() == "loaded")
        };
        // A Pi 4 running 4 threads on its 4 cores: a load of 4.2 is our own work.
        assert!(!loaded(4.2, 4, 4));
        // The same load with 1 thread: 3.2 from others on the 3 cores we left, within slack.
        assert!(!loaded(4.2, 4, 1));
        // Others want more than the free cores.
        assert!(loaded(5.0, 4, 4));
        assert!(loaded(6.0, 4, 1));
        // Our own threads beyond the cores are oversubscription, not load.
        assert!(!loaded(8.0, 4, 8));
        assert_eq!(
            oversubscription_flag(2, &[0], 4).map(|f| f.to_string()),
            Some("oversubscribed: 2 inference threads on 1 CPU(s); they time-share".into())
        );
        assert!(oversubscription_flag(4, &[], 4).is_none());
        assert!(oversubscription_flag(8, &[], 4).is_some());
    }
}
