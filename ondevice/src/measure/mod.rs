//! The one measuring path: `profile`, `embed`, `adapt`, `validate` and `verify` all measure
//! through a [`Measurer`]. Every measurement takes the same steps: pre-flight (and a bounded
//! cool-down), loading, timing, post-flight, flags, and one journal record per subject. The
//! timing is either the protocol's own stop rule on one subject at a time
//! ([`Measurer::measure_one`], what `profile` and its `--runs N` promise) or interleaved rounds
//! over a batch ([`Measurer::measure`], what the loop uses: slow phases of the machine spread
//! over every subject). Interleaved figures already in the journal under the live Fingerprint
//! are reused; a batch's records are appended as soon as the batch ends, so an interruption
//! costs at most the batch in progress (through a timing program, at most the round in
//! progress: [`rounds`]) and a rerun resumes. Support and validation batches also
//! time their space's anchor arch ([`crate::anchor`]), counted as anchors; every figure of a
//! batch that held the anchor carries the anchor's figure in it.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use edgenas_nas::{Arch, Kernel, Space};
use edgenas_profiler::protocol::{self, Flag};
use edgenas_profiler::{
    probe, Conditions, Fingerprint, Measurement, MeasurementJournal, Protocol, Rounds, Sample,
    Sysroot, System,
};
use edgenas_runtime::{Model, ModelOptions, Precision, Runtime, RuntimeError};

use crate::anchor::{self, Drift};
use crate::oracle::OracleTable;
pub use crate::report::MeasureProgress;
use crate::report::Reporter;
use crate::tally::{Purpose, Tally};
use crate::LoopError;

mod kernels;
mod rounds;
mod timing;
pub use kernels::{KernelFigures, KernelMode, KernelsSkipped};
use rounds::BatchRounds;
pub use rounds::{pending, PendingBatch};
pub use timing::loop_timing;

/// Subjects timed together in one interleaved batch.
pub const BATCH: usize = 10;

/// How measurements are taken on this device.
pub struct Setup {
    pub root: Sysroot,
    pub system: System,
    pub threads: usize,
    /// CPUs to pin to; empty: not pinned.
    pub cpus: Vec<usize>,
    pub protocol: Protocol,
    pub rounds: Rounds,
    pub cooldown: Duration,
    pub allow_unstable: bool,
    /// Seed of the weights and input (latency does not depend on it).
    pub seed: u64,
    /// The runtime that times the networks.
    pub runtime: Runtime,
    /// Its name and version as recorded in the Fingerprint ([`Runtime::identity`]).
    pub runtime_identity: (String, String),
    /// The precision networks are built and timed at (checked against the runtime).
    pub precision: Precision,
}

impl Setup {
    fn model_options(&self) -> ModelOptions {
        ModelOptions {
            runtime: self.runtime,
            threads: self.threads,
            seed: self.seed,
            precision: self.precision,
        }
    }
}

/// What is measured: an arch of a search space (built, then run by the runtime) or a model
/// file (`.onnx` for tract, `.tflite` for TensorFlow Lite).
#[derive(Debug, Clone, PartialEq)]
pub enum Subject {
    Arch(Arch),
    File(PathBuf),
    /// One of a space's kernels ([`edgenas_nas::kernels`]).
    Kernel(Kernel),
}

impl Subject {
    /// A model file when `s` names one (by extension, or an existing file that is not an NB201
    /// cell), else an arch string.
    pub fn parse(s: &str) -> Result<Subject, LoopError> {
        let p = Path::new(s);
        if s.ends_with(".onnx") || s.ends_with(".tflite") || (p.is_file() && !s.starts_with('|')) {
            return Ok(Subject::File(p.to_owned()));
        }
        Ok(Subject::Arch(Arch::parse(s)?))
    }

    /// The record's subject: the arch string or the file's path.
    pub fn name(&self) -> String {
        match self {
            Subject::Arch(a) => a.to_string(),
            Subject::File(p) => p.display().to_string(),
            Subject::Kernel(k) => k.id.clone(),
        }
    }

    /// The record's `space` field: the arch's space, or the file's format.
    pub fn kind(&self) -> &'static str {
        match self {
            Subject::Arch(a) => a.space().name(),
            Subject::File(p) if p.extension().is_some_and(|e| e == "tflite") => "tflite",
            Subject::File(_) => "onnx",
            Subject::Kernel(_) => "kernel",
        }
    }

    /// The runnable model (loaded and optimised; the seeded input set once).
    pub fn load(&self, opts: ModelOptions) -> Result<Model, LoopError> {
        match self {
            Subject::Arch(a) => {
                Model::from_network(&a.build(), opts).map_err(|source| LoopError::Runtime {
                    subject: format!("preparing {a}"),
                    source,
                })
            }
            Subject::File(p) => Model::from_file(p, opts).map_err(|source| LoopError::Runtime {
                subject: format!("loading {}", p.display()),
                source,
            }),
            Subject::Kernel(k) => {
                Model::from_network(&k.build(), opts).map_err(|source| LoopError::Runtime {
                    subject: format!("preparing {}", k.id),
                    source,
                })
            }
        }
    }
}

/// One subject's figure, measured now, reused from the journal, or read from an oracle.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub subject: String,
    pub median_ms: f64,
    /// Relative half-width of the 95 % CI of the figure (0 for an oracle).
    pub ci_rel: f64,
    pub flags: Vec<String>,
    pub origin: Origin,
    /// Runs this figure took (warm-up and timed; 0 for an oracle).
    pub runs: usize,
    /// What the batch this figure was taken in says of the machine at the time.
    pub batch: Batch,
}

/// What an interleaved batch says of the machine while it ran, given with each of its figures.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Batch {
    /// The anchor's figure, where the batch held the anchor ([`crate::anchor`]): the machine's
    /// speed.
    pub anchor_ms: Option<f64>,
    /// The median relative half-width of the 95 % CI of the batch's figures (the anchor's
    /// among them): how noisy the machine was. A figure levelled by the anchor carries that
    /// noise, and its prediction's interval with it ([`crate::anchor::levelled_rel_sd`]).
    pub ci_rel: Option<f64>,
}

impl Batch {
    /// The batch of figures with these CIs (relative half-widths; the infinite CIs of samples
    /// too short to bound their median are left out) and this anchor figure.
    fn of(anchor_ms: Option<f64>, cis: impl Iterator<Item = f64>) -> Batch {
        let mut cis: Vec<f64> = cis.filter(|c| c.is_finite() && *c >= 0.0).collect();
        cis.sort_by(f64::total_cmp);
        let ci_rel = (!cis.is_empty()).then(|| edgenas_profiler::stats::quantile(&cis, 0.5));
        Batch { anchor_ms, ci_rel }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Measured,
    /// From the journal, under the same Fingerprint.
    Journal,
    Oracle,
}

impl Origin {
    pub fn name(self) -> &'static str {
        match self {
            Origin::Measured => "measured",
            Origin::Journal => "journal",
            Origin::Oracle => "oracle",
        }
    }
}

/// Where figures come from: this device (with its journal) or an oracle table.
enum Source {
    Device {
        setup: Box<Setup>,
        journal: MeasurementJournal,
    },
    Oracle(OracleTable),
}

/// The journal's interleaved figures under the live Fingerprint.
#[derive(Default)]
struct Recorded {
    /// The newest figure of each subject.
    newest: HashMap<String, Measured>,
    /// Every figure of each space's anchor, one per batch, by subject: the drift.
    anchors: HashMap<String, Vec<f64>>,
}

impl Recorded {
    /// `figure`, from the record `m`, in journal order. An anchor figure `appended` to a batch
    /// of other archs gives the drift but is not reused as the reference's figure: the
    /// embedding's ten figures must come from one batch, and support scaled by the anchor's
    /// figure in its own batch would not be levelled at all.
    fn add(&mut self, m: &Measurement, figure: Measured, appended: bool) {
        if is_anchor(m) {
            self.anchors
                .entry(m.subject.clone())
                .or_default()
                .push(figure.median_ms);
        }
        if !appended {
            self.newest.insert(m.subject.clone(), figure);
        }
    }
}

/// Whether `m` is a figure of its space's anchor.
fn is_anchor(m: &Measurement) -> bool {
    Space::from_name(&m.space).is_ok_and(|s| anchor::anchor(s).to_string() == m.subject)
}

/// The anchor figures a call took beside its subjects, and their share of its time.
#[derive(Default)]
struct AnchorFigures {
    figures: Vec<Measured>,
    seconds: f64,
}

/// Conditions before a measurement and the flags pre-flight raised.
struct Preflight {
    before: Conditions,
    flags: Vec<Flag>,
    cpu: Option<probe::CpuTimes>,
}

/// Measures subjects on this device (or looks them up in an oracle table), journaling each.
pub struct Measurer {
    source: Source,
    fingerprint: Fingerprint,
    /// The journal's interleaved figures under the live Fingerprint: read once, when first
    /// needed, so lookups never decode the journal again.
    recorded: Option<Recorded>,
    /// `measure_one`'s resumable records: every record of the subjects asked for, in order.
    resumable: HashMap<String, Vec<Measurement>>,
    /// Every figure given so far, by purpose and origin.
    tally: Tally,
    /// `--max-measurements`: figures to take anew at most (the search's verification stops
    /// when they are spent).
    limit: Option<usize>,
}

impl Measurer {
    pub fn device(setup: Setup, journal: MeasurementJournal) -> Measurer {
        Measurer {
            fingerprint: live_fingerprint(&setup),
            source: Source::Device {
                setup: Box::new(setup),
                journal,
            },
            recorded: None,
            resumable: HashMap::new(),
            tally: Tally::default(),
            limit: None,
        }
    }

    pub fn oracle(table: OracleTable) -> Measurer {
        Measurer {
            fingerprint: oracle_fingerprint(&table),
            source: Source::Oracle(table),
            recorded: Some(Recorded::default()),
            resumable: HashMap::new(),
            tally: Tally::default(),
            limit: None,
        }
    }

    /// Sets the protocol's sampling time bounds per subject (`bench reproducibility`'s ladder).
    pub fn set_time_bounds(&mut self, min_time: Duration, max_time: Duration) {
        if let Source::Device { setup, .. } = &mut self.source {
            setup.protocol.min_time = min_time;
            setup.protocol.max_time = max_time;
        }
    }

    /// Sets each subject's share of an interleaved round and its warm-up runs (`bench
    /// reproducibility`'s ladder).
    pub fn set_rounds(&mut self, burst_ms: f64, warmup_runs: usize) {
        if let Source::Device { setup, .. } = &mut self.source {
            setup.rounds.burst_ms = burst_ms;
            setup.protocol.warmup_runs = warmup_runs;
        }
    }

    /// Caps the figures taken anew (measured or looked up; reused ones are free).
    pub fn set_limit(&mut self, limit: Option<usize>) {
        self.limit = limit;
    }

    /// The cap on figures taken anew, if any.
    pub fn limit(&self) -> Option<usize> {
        self.limit
    }

    /// Figures that may still be taken anew under the cap (None: no cap).
    pub fn remaining(&self) -> Option<usize> {
        self.limit.map(|l| l.saturating_sub(self.tally.taken()))
    }

    /// Counts `n` figures of `purpose` reused from a file the journal's figures made (a stored
    /// embedding), as journal figures.
    pub fn count_reused(&mut self, purpose: Purpose, n: usize) {
        self.tally.add_reused(purpose, n);
    }

    /// Every figure given so far, by purpose and origin.
    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// The conditions measurements are taken under now (what embeddings are keyed by).
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    pub fn is_oracle(&self) -> bool {
        matches!(self.source, Source::Oracle(_))
    }

    /// The oracle table figures come from, in oracle mode.
    pub fn oracle_table(&self) -> Option<&OracleTable> {
        match &self.source {
            Source::Oracle(t) => Some(t),
            Source::Device { .. } => None,
        }
    }

    /// How this device measures (None in oracle mode).
    pub fn setup(&self) -> Option<&Setup> {
        match &self.source {
            Source::Device { setup, .. } => Some(setup),
            Source::Oracle(_) => None,
        }
    }

    /// What the journal already holds for `arch` under the live Fingerprint (interleaved).
    pub fn recorded(&mut self, arch: &Arch) -> Result<Option<Measured>, LoopError> {
        Ok(self
            .recorded_figures()?
            .newest
            .get(&arch.to_string())
            .cloned())
    }

    fn recorded_figures(&mut self) -> Result<&mut Recorded, LoopError> {
        if self.recorded.is_none() {
            let mut found = Recorded::default();
            if let Source::Device { journal, .. } = &self.source {
                let mut records = Vec::new();
                for m in journal.iter() {
                    let m = m?;
                    if m.fingerprint == self.fingerprint && m.sample.rounds.is_some() {
                        records.push(m);
                    }
                }
                let appended = appended_anchors(&records);
                for ((m, batch), appended) in
                    records.iter().zip(journal_batches(&records)).zip(appended)
                {
                    let figure = Measured {
                        batch,
                        ..from_record(m, Origin::Journal)
                    };
                    found.add(m, figure, appended);
                }
            }
            self.recorded = Some(found);
        }
        Ok(self.recorded.as_mut().expect("just filled"))
    }

    /// Figures of `archs`, in order: reused where the journal has them, measured otherwise
    /// in interleaved rounds.
    pub fn measure(
        &mut self,
        archs: &[Arch],
        purpose: Purpose,
        reporter: &mut dyn Reporter,
    ) -> Result<Vec<Measured>, LoopError> {
        self.measure_counted(archs, true, purpose, reporter)
    }

    /// Figures of `archs` all measured now (`--force`); the journal still records them.
    pub fn measure_ignoring_journal(
        &mut self,
        archs: &[Arch],
        purpose: Purpose,
        reporter: &mut dyn Reporter,
    ) -> Result<Vec<Measured>, LoopError> {
        self.measure_counted(archs, false, purpose, reporter)
    }

    fn measure_counted(
        &mut self,
        archs: &[Arch],
        reuse: bool,
        purpose: Purpose,
        reporter: &mut dyn Reporter,
    ) -> Result<Vec<Measured>, LoopError> {
        let start = std::time::Instant::now();
        // The batches that fit and judge the predictor carry the anchor (the interval's
        // level), and so do the reproducibility bench's, which measures what theirs give; a
        // search's picks do not need it.
        let anchored = matches!(
            purpose,
            Purpose::Support | Purpose::Validation | Purpose::Bench
        );
        let (figures, anchors) = self.measure_with(archs, reuse, purpose, anchored, reporter)?;
        // The same arch twice in one call is one figure.
        let mut distinct: Vec<Measured> = Vec::with_capacity(figures.len());
        for m in &figures {
            if !distinct.iter().any(|d| d.subject == m.subject) {
                distinct.push(m.clone());
            }
        }
        let seconds = start.elapsed().as_secs_f64();
        self.tally
            .add(purpose, &distinct, seconds - anchors.seconds);
        if !anchors.figures.is_empty() {
            self.tally
                .add(Purpose::Anchors, &anchors.figures, anchors.seconds);
        }
        Ok(figures)
    }

    fn measure_with(
        &mut self,
        archs: &[Arch],
        reuse: bool,
        purpose: Purpose,
        anchored: bool,
        reporter: &mut dyn Reporter,
    ) -> Result<(Vec<Measured>, AnchorFigures), LoopError> {
        let total = archs.len();
        let mut anchors = AnchorFigures::default();
        if let Source::Oracle(table) = &self.source {
            let figures = archs
                .iter()
                .map(|a| oracle_figure(table, a))
                .collect::<Result<_, _>>()?;
            return Ok((figures, anchors));
        }
        let mut out: Vec<Option<Measured>> = Vec::with_capacity(total);
        for a in archs {
            out.push(if reuse { self.recorded(a)? } else { None });
        }
        let todo: Vec<usize> = (0..total).filter(|&i| out[i].is_none()).collect();
        let mut done = total - todo.len();
        reporter.measuring(&MeasureProgress::counted(purpose, done, total));
        // The same arch twice is measured once.
        let mut unique: Vec<usize> = Vec::new();
        for &i in &todo {
            if !unique.iter().any(|&j| archs[j] == archs[i]) {
                unique.push(i);
            }
        }
        for batch in unique.chunks(BATCH) {
            let mut subjects: Vec<&Arch> = batch.iter().map(|&i| &archs[i]).collect();
            // A batch that holds its space's anchor already gives its figure for free.
            let anchor = anchored.then(|| anchor::anchor(subjects[0].space()));
            let extra = anchor.as_ref().filter(|a| !subjects.contains(a));
            if let Some(a) = extra {
                subjects.push(a);
            }
            let batch_start = std::time::Instant::now();
            let subjects: Vec<Subject> = subjects.into_iter().cloned().map(Subject::Arch).collect();
            let mut records = self.measure_batch(&subjects, purpose, (done, total), reporter)?;
            if extra.is_some() {
                let a = records.pop().expect("the anchor was measured last");
                // Its share of the batch's time.
                anchors.seconds += batch_start.elapsed().as_secs_f64() / subjects.len() as f64;
                anchors.figures.push(a);
            }
            for (&i, m) in batch.iter().zip(records) {
                for (j, a) in archs.iter().enumerate() {
                    if out[j].is_none() && *a == archs[i] {
                        out[j] = Some(m.clone());
                        done += 1;
                    }
                }
            }
            reporter.measuring(&MeasureProgress::counted(purpose, done, total));
        }
        let figures = out
            .into_iter()
            .map(|m| m.expect("every subject measured"))
            .collect();
        Ok((figures, anchors))
    }

    /// How far the level moves from batch to batch for `space` under the live Fingerprint: the
    /// spread of the anchor's figures in the journal, one per batch (the prior alone in oracle
    /// mode).
    pub fn drift(&mut self, space: Space) -> Result<Drift, LoopError> {
        if self.is_oracle() {
            return Ok(Drift::prior());
        }
        let anchor = anchor::anchor(space).to_string();
        let figures = self.recorded_figures()?.anchors.get(&anchor);
        Ok(Drift::estimate(figures.map_or(&[][..], |f| f.as_slice())))
    }

    /// Reads, once, every journal record of `subjects`, so that [`Measurer::measure_one`] with
    /// `resume` can take them instead of measuring.
    pub fn load_resumable(&mut self, subjects: &[String]) -> Result<(), LoopError> {
        let Source::Device { journal, .. } = &self.source else {
            return Ok(());
        };
        let wanted: HashSet<&String> = subjects.iter().collect();
        for m in journal.iter() {
            let m = m?;
            if wanted.contains(&m.subject) {
                self.resumable.entry(m.subject.clone()).or_default().push(m);
            }
        }
        Ok(())
    }

    /// One subject timed alone under the protocol's stop rule (`profile`), journaled. With
    /// `resume`, the newest record of [`Measurer::load_resumable`] under the live Fingerprint is
    /// returned instead (and `true` with it).
    pub fn measure_one(
        &mut self,
        subject: &Subject,
        resume: bool,
        reporter: &mut dyn Reporter,
    ) -> Result<(Measurement, bool), LoopError> {
        let Source::Device { setup, journal } = &mut self.source else {
            return Err(LoopError::Oracle(
                "an oracle table has figures of archs, not measurements to profile".into(),
            ));
        };
        let name = subject.name();
        let fingerprint = live_fingerprint(setup);
        if resume {
            let found = self
                .resumable
                .get(&name)
                .and_then(|ms| ms.iter().rev().find(|m| m.fingerprint == fingerprint));
            if let Some(m) = found {
                return Ok((m.clone(), true));
            }
        }
        let mut pre = preflight(setup, reporter)?;
        let mut model = subject.load(setup.model_options())?;
        pre.cpu = probe::CpuTimes::now();
        let sample = setup
            .protocol
            .sample(|| model.run_timed(), &mut |p| {
                reporter.measuring(&MeasureProgress {
                    run: Some(p),
                    ..MeasureProgress::default()
                })
            })
            .map_err(|source| LoopError::Runtime {
                subject: format!("running {name}"),
                source,
            })?;
        let post = postflight(setup, &pre);
        let m = record(
            setup,
            subject,
            fingerprint,
            (&pre, &post),
            sample,
            model.init_time(),
        );
        journal.append(m.clone())?;
        if resume {
            // A subject named twice is measured once, as if the journal were read again.
            self.resumable.entry(name).or_default().push(m.clone());
        }
        Ok((m, false))
    }

    /// One interleaved batch; `(done, total)` of the `purpose`'s subjects before it.
    fn measure_batch(
        &mut self,
        subjects: &[Subject],
        purpose: Purpose,
        (done_before, total): (usize, usize),
        reporter: &mut dyn Reporter,
    ) -> Result<Vec<Measured>, LoopError> {
        let Source::Device { setup, journal } = &mut self.source else {
            unreachable!("oracle figures are looked up, not measured");
        };
        let mut pre = preflight(setup, reporter)?;
        // The conditions may have changed since the Measurer was made (a governor switched):
        // the records carry what held when they were taken.
        let fingerprint = live_fingerprint(setup);
        let mut models = Vec::with_capacity(subjects.len());
        for s in subjects {
            models.push(s.load(setup.model_options())?);
        }
        let first = subjects[0].name();
        // A timing program's batch is kept round by round, and goes on from an interrupted
        // sitting's rounds ([`rounds`]).
        let (mut kept, done) = match setup.runtime {
            Runtime::Exec(_) => {
                let names = subjects.iter().map(Subject::name).collect();
                match BatchRounds::open(journal.path(), &fingerprint, names) {
                    Ok((kept, done)) => (Some(kept), done),
                    Err(e) => {
                        reporter.note(&format!(
                            "rounds of the batch of {first} are not kept ({e}): an interruption \
                             times it again whole"
                        ));
                        (None, Default::default())
                    }
                }
            }
            _ => (None, Default::default()),
        };
        if !done.rounds.is_empty() {
            reporter.note(&format!(
                "the batch of {first} goes on from the {} rounds an interrupted sitting \
                 finished",
                done.rounds.len()
            ));
        }
        let mut unkept = None;
        pre.cpu = probe::CpuTimes::now();
        let samples = {
            // A run's timing: None to be timed here, or what a timing program reported.
            type Ran = Option<Vec<f64>>;
            type Run<'m> = Box<dyn FnMut() -> Result<Ran, RuntimeError> + 'm>;
            let mut runs: Vec<Run> = models
                .iter_mut()
                .map(|m| Box::new(move || m.run_timed()) as Run)
                .collect();
            let mut refs: Vec<&mut dyn FnMut() -> Result<Ran, RuntimeError>> =
                runs.iter_mut().map(|r| r.as_mut() as _).collect();
            setup
                .protocol
                .sample_interleaved_from(
                    &setup.rounds,
                    &mut refs,
                    &done,
                    &mut |p| {
                        reporter.measuring(&MeasureProgress {
                            batch: Some((first.clone(), p)),
                            ..MeasureProgress::counted(purpose, done_before, total)
                        })
                    },
                    &mut |r| {
                        if let Some(Err(e)) = kept.as_mut().map(|k| k.keep(r)) {
                            unkept.get_or_insert(e);
                        }
                    },
                )
                .map_err(|source| LoopError::Runtime {
                    subject: first.clone(),
                    source,
                })?
        };
        if let Some(e) = unkept {
            reporter.note(&format!(
                "rounds of the batch of {first} were not all kept ({e}): had it been \
                 interrupted, it would have been timed again whole"
            ));
        }
        let post = postflight(setup, &pre);
        // A batch of archs may hold its space's anchor; a batch of kernels holds none.
        let space = match &subjects[0] {
            Subject::Arch(a) => Some(a.space()),
            _ => None,
        };
        let anchor = space.map(anchor::anchor);
        let anchor_ms = subjects
            .iter()
            .zip(&samples)
            .find(|(s, _)| matches!((s, &anchor), (Subject::Arch(a), Some(b)) if a == b))
            .map(|(_, s)| s.stats.median_ms);
        let batch = Batch::of(anchor_ms, samples.iter().map(|s| s.stats.median_ci_rel));
        let names: Vec<String> = subjects.iter().map(Subject::name).collect();
        let appended =
            space.is_some_and(|space| anchor::appended_to(space, names.iter().map(String::as_str)));
        let mut out = Vec::with_capacity(subjects.len());
        for ((s, sample), model) in subjects.iter().zip(samples).zip(&models) {
            let m = record(
                setup,
                s,
                fingerprint.clone(),
                (&pre, &post),
                sample,
                model.init_time(),
            );
            journal.append(m.clone())?;
            // Not read from the journal yet: the first lookup reads this record with the rest.
            if let Some(recorded) = &mut self.recorded {
                if m.fingerprint == self.fingerprint {
                    let figure = Measured {
                        batch,
                        ..from_record(&m, Origin::Journal)
                    };
                    recorded.add(&m, figure, appended);
                }
            }
            out.push(Measured {
                batch,
                ..from_record(&m, Origin::Measured)
            });
        }
        if let Some(Err(e)) = kept.map(BatchRounds::close) {
            reporter.note(&format!(
                "the batch of {first} is in the journal, but its rounds file stays ({e})"
            ));
        }
        Ok(out)
    }
}

/// Pre-flight: the conditions read, a bounded cool-down, a refusal unless --allow-unstable,
/// the CPUs pinned. The CPU times are read once the models are loaded (`cpu`), so that
/// contention is what other processes took during the sample.
fn preflight(setup: &Setup, reporter: &mut dyn Reporter) -> Result<Preflight, LoopError> {
    let before = probe::read_conditions(&setup.root);
    let (before, flags) = protocol::cool_down(
        &setup.root,
        setup.system.policy.temp_limit_c,
        setup.cooldown,
        before,
        &mut |s| reporter.note(s),
    );
    let why = protocol::refusals(&flags);
    if !why.is_empty() && !setup.allow_unstable {
        return Err(LoopError::Unstable(why.join("; ")));
    }
    if !setup.cpus.is_empty() {
        edgenas_profiler::affinity::pin_current_thread(&setup.cpus)?;
    }
    Ok(Preflight {
        before,
        flags,
        cpu: None,
    })
}

/// Post-flight: the conditions after the sample and what moved during it (contention, clock,
/// temperature and load drift), with oversubscription.
fn postflight(setup: &Setup, pre: &Preflight) -> (Conditions, Vec<Flag>) {
    let cpu_after = probe::CpuTimes::now();
    let after = probe::read_conditions(&setup.root);
    let mut flags = Vec::new();
    if let (Some(a), Some(b)) = (&pre.cpu, &cpu_after) {
        flags.extend(protocol::contention_flag(a, b));
    }
    flags.extend(protocol::drift_flags(
        &pre.before,
        &after,
        setup.system.logical_cpus,
        setup.threads,
    ));
    flags.extend(protocol::oversubscription_flag(
        setup.threads,
        &setup.cpus,
        setup.system.logical_cpus,
    ));
    (after, flags)
}

/// A subject's journal record: pre-flight's flags, the sample's own, then post-flight's.
fn record(
    setup: &Setup,
    subject: &Subject,
    fingerprint: Fingerprint,
    (pre, (after, post)): (&Preflight, &(Conditions, Vec<Flag>)),
    sample: Sample,
    init: Duration,
) -> Measurement {
    let mut flags = pre.flags.clone();
    flags.extend(setup.protocol.sample_flags(&sample.stats));
    flags.extend(post.iter().cloned());
    Measurement {
        subject: subject.name(),
        space: subject.kind().into(),
        unix_time: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        fingerprint,
        init_ms: init.as_secs_f64() * 1e3,
        protocol: setup.protocol.clone(),
        sample,
        flags,
        before: pre.before.clone(),
        after: after.clone(),
    }
}

fn oracle_figure(table: &OracleTable, a: &Arch) -> Result<Measured, LoopError> {
    let ms = table.latency_ms(a).ok_or_else(|| {
        LoopError::Oracle(format!(
            "{a} is not in the oracle table {} (oracle mode can only use its archs)",
            table.source
        ))
    })?;
    Ok(Measured {
        subject: a.to_string(),
        median_ms: ms,
        ci_rel: 0.0,
        flags: Vec::new(),
        origin: Origin::Oracle,
        runs: 0,
        batch: Batch::default(),
    })
}

fn from_record(m: &Measurement, origin: Origin) -> Measured {
    Measured {
        subject: m.subject.clone(),
        median_ms: m.stats().median_ms,
        ci_rel: m.stats().median_ci_rel,
        flags: m.flags.iter().map(|f| f.code().to_string()).collect(),
        origin,
        runs: m.sample.warmup_runs
            + m.sample
                .rounds
                .as_ref()
                .map_or(m.sample.samples_ms.len(), |r| r.timed_runs),
        batch: Batch::default(),
    }
}

/// For each interleaved record, in journal order, its batch: the anchor's figure there, where
/// the batch held its space's anchor, and the batch's noise. The journal keeps no batch number:
/// a batch's records are appended one after another and share the pre- and post-flight
/// conditions, the protocol and the number of subjects and rounds, so consecutive records alike
/// in those, `subjects` at a time, are one batch. A run of records that does not split so
/// (another process appended between them) gets no batch rather than a wrong one.
fn journal_batches(records: &[Measurement]) -> Vec<Batch> {
    let mut out = vec![Batch::default(); records.len()];
    for range in batches(records) {
        let anchor_ms = range
            .clone()
            .map(|i| &records[i])
            .find(|m| is_anchor(m))
            .map(|m| m.stats().median_ms);
        let batch = Batch::of(
            anchor_ms,
            range.clone().map(|i| records[i].stats().median_ci_rel),
        );
        for i in range {
            out[i] = batch;
        }
    }
    out
}

/// Which records are an anchor figure taken beside archs none of which is a reference: the
/// anchor appended to a support or validation batch, not timed among the references.
fn appended_anchors(records: &[Measurement]) -> Vec<bool> {
    let mut out = vec![false; records.len()];
    for batch in batches(records) {
        for i in batch.clone().filter(|&i| is_anchor(&records[i])) {
            if let Ok(space) = Space::from_name(&records[i].space) {
                let subjects = batch.clone().map(|j| records[j].subject.as_str());
                out[i] = anchor::appended_to(space, subjects);
            }
        }
    }
    out
}

/// The journal's interleaved batches, as index ranges: records alike in Fingerprint,
/// conditions, protocol and batch size, cut into runs of that size. A run cut short (another
/// process appended in between) is no batch.
fn batches(records: &[Measurement]) -> Vec<std::ops::Range<usize>> {
    let same_batch = |a: &Measurement, b: &Measurement| {
        a.fingerprint == b.fingerprint
            && a.before == b.before
            && a.after == b.after
            && a.protocol == b.protocol
            && a.sample.rounds.as_ref().map(|r| (r.subjects, r.rounds))
                == b.sample.rounds.as_ref().map(|r| (r.subjects, r.rounds))
    };
    let mut out = Vec::new();
    let mut start = 0;
    while start < records.len() {
        let mut end = start + 1;
        while end < records.len() && same_batch(&records[start], &records[end]) {
            end += 1;
        }
        let subjects = records[start]
            .sample
            .rounds
            .as_ref()
            .map_or(0, |r| r.subjects);
        if subjects > 0 && (end - start) % subjects == 0 {
            out.extend((start..end).step_by(subjects).map(|b| b..b + subjects));
        }
        start = end;
    }
    out
}

/// The live Fingerprint of measurements taken with `setup`.
pub fn live_fingerprint(setup: &Setup) -> Fingerprint {
    let cond = probe::read_conditions(&setup.root);
    Fingerprint::new(
        &setup.system,
        &cond,
        (
            setup.runtime_identity.0.as_str(),
            setup.runtime_identity.1.as_str(),
        ),
        setup.precision.name(),
        setup.threads,
        setup.cpus.clone(),
    )
}

/// The Fingerprint of an oracle table's figures: never equal to a real device's.
pub fn oracle_fingerprint(table: &OracleTable) -> Fingerprint {
    oracle_fingerprint_of(&table.column, &table.source)
}

/// The Fingerprint of figures read from the column `column` of the table `source`.
pub(crate) fn oracle_fingerprint_of(column: &str, source: &str) -> Fingerprint {
    Fingerprint {
        board: format!("oracle:{column}"),
        cpu_model: String::new(),
        arch: String::new(),
        kernel: String::new(),
        firmware: None,
        power_mode: None,
        governor: String::new(),
        runtime: "oracle".into(),
        runtime_version: source.to_string(),
        // The tables record no precision per column (HW-NAS-Bench's Edge TPU ran int8); an
        // oracle Fingerprint is never equal to a live one, so this only fills the field.
        precision: "fp32".into(),
        threads: 1,
        cpus: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgenas_profiler::{RoundsInfo, Stats};

    /// A record of `subject` (an NB201 cell) at `ms`, of a batch of `subjects` taken under the
    /// load `load` (which tells batches apart, as real pre-flight readings do).
    fn rec(subject: &str, ms: f64, subjects: usize, load: f64) -> Measurement {
        let root = Sysroot::new("/");
        let system = probe::read_system(&root);
        let cond = Conditions {
            load_1m: Some(load),
            ..Conditions::default()
        };
        let times = vec![ms; 10];
        Measurement {
            subject: subject.into(),
            space: "nb201".into(),
            unix_time: 1_800_000_000,
            fingerprint: Fingerprint::new(&system, &cond, ("tract", "t"), "fp32", 1, vec![]),
            init_ms: 1.0,
            protocol: Protocol::default(),
            sample: Sample {
                stats: Stats::of(&times),
                samples_ms: times,
                warmup_runs: 5,
                rounds: Some(RoundsInfo {
                    subjects,
                    rounds: 10,
                    timed_runs: 10,
                    burst_runs: 1,
                }),
            },
            flags: vec![],
            before: cond.clone(),
            after: cond,
        }
    }

    /// `m` with its ten timings spread about its median by `rel` of it per step.
    fn spread(mut m: Measurement, rel: f64) -> Measurement {
        let ms = m.stats().median_ms;
        let times: Vec<f64> = (0..10)
            .map(|i| ms * (1.0 + rel * (i as f64 - 4.5)))
            .collect();
        m.sample.stats = Stats::of(&times);
        m.sample.samples_ms = times;
        m
    }

    #[test]
    fn a_batch_found_in_the_journal_carries_its_figures_median_noise() {
        let (anchor, others) = anchor_and_other_references();
        let records = vec![
            // A quiet batch of three, then a noisy one.
            spread(rec(&others[0], 1.0, 3, 0.5), 0.001),
            spread(rec(&others[1], 1.1, 3, 0.5), 0.004),
            spread(rec(&anchor, 2.2, 3, 0.5), 0.002),
            spread(rec(&others[2], 1.2, 3, 0.7), 0.03),
            spread(rec(&anchor, 2.0, 3, 0.7), 0.01),
            spread(rec(&others[3], 1.3, 3, 0.7), 0.02),
            // A batch cut short says nothing.
            spread(rec(&others[4], 1.4, 3, 0.9), 0.02),
        ];
        let ci = |i: usize| records[i].stats().median_ci_rel;
        assert!(ci(0) < ci(2) && ci(2) < ci(1) && ci(1) < ci(4));
        let found = journal_batches(&records);
        for b in &found[..3] {
            assert_eq!(b.ci_rel, Some(ci(2)));
            assert_eq!(b.anchor_ms, Some(2.2));
        }
        for b in &found[3..6] {
            assert_eq!(b.ci_rel, Some(ci(5)));
            assert_eq!(b.anchor_ms, Some(2.0));
        }
        assert_eq!(found[6], Batch::default());
    }

    /// NB201's anchor and its other nine references, as strings.
    fn anchor_and_other_references() -> (String, Vec<String>) {
        let anchor = anchor::anchor(Space::Nb201).to_string();
        let others = Space::Nb201
            .references()
            .iter()
            .map(|a| a.to_string())
            .filter(|a| *a != anchor)
            .collect();
        (anchor, others)
    }

    #[test]
    fn a_batch_is_found_in_the_journal_with_its_anchor() {
        let (anchor, others) = anchor_and_other_references();
        let records = vec![
            // A batch of three with the anchor, last.
            rec(&others[0], 1.0, 3, 0.5),
            rec(&others[1], 1.1, 3, 0.5),
            rec(&anchor, 2.2, 3, 0.5),
            // Two batches of two alike in every condition: told apart by their size.
            rec(&anchor, 2.0, 2, 0.7),
            rec(&others[2], 1.2, 2, 0.7),
            rec(&others[3], 1.3, 2, 0.7),
            rec(&others[4], 1.4, 2, 0.7),
            // A batch without the anchor.
            rec(&others[5], 1.5, 2, 0.9),
            rec(&others[6], 1.6, 2, 0.9),
            // A batch cut short (another process appended in between): no anchor is guessed.
            rec(&anchor, 2.1, 3, 1.1),
            rec(&others[7], 1.7, 3, 1.1),
        ];
        let found = journal_batches(&records);
        assert_eq!(
            found.iter().map(|b| b.anchor_ms).collect::<Vec<_>>(),
            vec![
                Some(2.2),
                Some(2.2),
                Some(2.2),
                Some(2.0),
                Some(2.0),
                None,
                None,
                None,
                None,
                None,
                None
            ]
        );
    }

    #[test]
    fn the_anchor_timed_beside_other_archs_is_not_taken_for_the_references_figure() {
        use rand::SeedableRng;
        let (anchor, refs) = anchor_and_other_references();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut support = Vec::new();
        while support.len() < 2 {
            let a = Space::Nb201.sample(&mut rng).to_string();
            if !anchor::is_reference(Space::Nb201, &a) && !support.contains(&a) {
                support.push(a);
            }
        }
        let records = vec![
            // The references' batch, the anchor among them.
            rec(&refs[0], 1.0, 3, 0.5),
            rec(&anchor, 2.0, 3, 0.5),
            rec(&refs[1], 1.1, 3, 0.5),
            // A support batch with the anchor appended, in a slow phase.
            rec(&support[0], 3.0, 3, 0.7),
            rec(&support[1], 3.3, 3, 0.7),
            rec(&anchor, 2.4, 3, 0.7),
            // The anchor alone is its own batch, not appended to one.
            rec(&anchor, 2.3, 1, 0.9),
        ];
        let appended = appended_anchors(&records);
        assert_eq!(
            appended,
            vec![false, false, false, false, false, true, false]
        );
        let mut found = Recorded::default();
        let batches = journal_batches(&records);
        for (i, m) in records.iter().enumerate() {
            let figure = Measured {
                batch: batches[i],
                ..from_record(m, Origin::Journal)
            };
            found.add(m, figure, appended[i]);
            if i == 5 {
                // The reference keeps its figure among the references; the support keeps its
                // batch's anchor (2.4), so it is levelled by 2.0 / 2.4.
                assert_eq!(found.newest[&anchor].median_ms, 2.0);
                assert_eq!(found.newest[&support[1]].batch.anchor_ms, Some(2.4));
            }
        }
        assert_eq!(found.newest[&anchor].median_ms, 2.3);
        // Every anchor figure, one per batch, gives the drift.
        assert_eq!(found.anchors[&anchor], vec![2.0, 2.4, 2.3]);
    }
}
