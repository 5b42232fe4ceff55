//! Wiring shared by the on-device loop's commands: the state directory, the journal, the
//! measurement setup (or oracle table), and how progress is shown.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use edgenas_nas::Space;
use edgenas_ondevice::measure::{MeasureProgress, Setup};
use edgenas_ondevice::state::StateDir;
use edgenas_ondevice::steps::Report;
use edgenas_ondevice::{Measurer, OracleTable};
use edgenas_profiler::{affinity, open_measurements, probe, MeasurementJournal, Rounds, Sysroot};
use edgenas_runtime::Runtime;

use crate::cli::{DeviceArgs, MachineArgs};
use crate::output::cpu_list;

/// What a loop command works with.
pub struct Ctx {
    pub state: StateDir,
    journal: Option<MeasurementJournal>,
    oracle: Option<OracleTable>,
    setup: Option<Setup>,
}

impl Ctx {
    /// Opens the state directory and the journal (or the oracle table) for `space`.
    pub fn open(args: &DeviceArgs, home: Option<&Path>, space: Space) -> Result<Ctx> {
        let root = crate::state::home(home)?;
        let state = StateDir::new(&root);
        if let (Some(file), Some(column)) = (&args.oracle, &args.oracle_device) {
            let table = OracleTable::read(space, file, column)?;
            return Ok(Ctx {
                state,
                journal: None,
                oracle: Some(table),
                setup: None,
            });
        }
        let setup = setup_from(args)?;
        let path = state.journal();
        let journal = open_measurements(&path)
            .with_context(|| format!("opening the journal {}", path.display()))?;
        crate::commands::journal::report_opened(&journal);
        Ok(Ctx {
            state,
            journal: Some(journal),
            oracle: None,
            setup: Some(setup),
        })
    }

    /// The measurer and the state directory; a second call is an error of the program.
    pub fn parts(&mut self) -> Result<(Measurer<'_>, &StateDir)> {
        let m = match (&self.oracle, self.setup.take(), self.journal.as_mut()) {
            (Some(table), _, _) => Measurer::oracle(table),
            (None, Some(setup), Some(journal)) => {
                Measurer::device(setup, journal).context("reading the journal's figures")?
            }
            _ => unreachable!("one measurer per command"),
        };
        Ok((m, &self.state))
    }

    /// The pool support and validation archs are drawn from: the oracle table's archs.
    pub fn pool(&self) -> Option<Vec<edgenas_nas::Arch>> {
        self.oracle.as_ref().map(|t| t.archs.clone())
    }
}

/// The measurement setup from the command line and the board policy.
pub fn setup_from(args: &DeviceArgs) -> Result<Setup> {
    let protocol = crate::commands::profile::protocol_from(&args.machine.protocol)?;
    if args.min_rounds < 6 || args.max_rounds < args.min_rounds {
        bail!(
            "--min-rounds must be at least 6 (a median's CI needs them) and --max-rounds at least --min-rounds"
        );
    }
    if !(args.burst_ms.is_finite() && args.burst_ms > 0.0) {
        bail!("--burst-ms must be a positive number of milliseconds");
    }
    let (root, system, threads, cpus) = machine(&args.machine)?;
    Ok(Setup {
        root,
        system,
        threads,
        cpus,
        protocol,
        rounds: Rounds {
            min_rounds: args.min_rounds,
            max_rounds: args.max_rounds,
            burst_ms: args.burst_ms,
        },
        cooldown: Duration::from_secs_f64(args.machine.cooldown),
        allow_unstable: args.machine.allow_unstable,
        seed: args.weight_seed,
        runtime: args.machine.runtime,
        runtime_identity: runtime_identity(args.machine.runtime)?,
    })
}

/// The runtime's name and version for the Fingerprint; for TensorFlow Lite this loads its
/// library, so a missing one is reported before anything is measured.
pub fn runtime_identity(runtime: Runtime) -> Result<(String, String)> {
    runtime
        .identity()
        .with_context(|| format!("--runtime {runtime}"))
}

/// The machine measurements run on: the sysroot read, the threads and CPUs (what the user
/// asked, else the board policy: big cores first), the cool-down checked.
pub fn machine(
    args: &MachineArgs,
) -> Result<(Sysroot, edgenas_profiler::System, usize, Vec<usize>)> {
    if !(args.cooldown.is_finite() && args.cooldown >= 0.0) {
        bail!("--cooldown must be a non-negative number of seconds");
    }
    let root = Sysroot::new(&args.sysroot);
    if !root.path("/").is_dir() {
        bail!("sysroot {} is not a directory", args.sysroot.display());
    }
    let system = probe::read_system(&root);
    let threads = args.threads.unwrap_or(system.policy.threads);
    if threads == 0 {
        bail!("--threads must be at least 1");
    }
    // The CPUs this process may run on here (pinning is real even with a fixture --sysroot).
    let available = affinity::current();
    let cpus = match args.cpus.as_deref() {
        Some("all") => Vec::new(),
        Some(list) => {
            let cpus = affinity::parse(list)?;
            let missing: Vec<usize> = cpus
                .iter()
                .copied()
                .filter(|c| !available.contains(c))
                .collect();
            if !available.is_empty() && !missing.is_empty() {
                bail!(
                    "--cpus {list}: CPU(s) {} are not available here; edgenas may run on CPUs {} (or pass --cpus all)",
                    cpu_list(&missing),
                    cpu_list(&available)
                );
            }
            cpus
        }
        // The policy's cores that are online: a Jetson in a low-power mode takes cores offline
        // (nvpmodel CPU_ONLINE), and pinning to an offline core fails.
        None => system
            .policy
            .cpus
            .iter()
            .copied()
            .filter(|c| available.is_empty() || available.contains(c))
            .collect(),
    };
    if let Some(t) = args.threads {
        let (room, which) = if cpus.is_empty() {
            (available.len(), cpu_list(&available))
        } else {
            (cpus.len(), cpu_list(&cpus))
        };
        if room > 0 && t > room && !args.oversubscribe {
            bail!(
                "--threads {t} is more than the {room} CPU(s) the threads would run on ({which}): they would time-share; pass --oversubscribe to measure that on purpose (the record is flagged)"
            );
        }
    }
    Ok((root, system, threads, cpus))
}

/// Shows measurement progress (crate::progress): on a terminal k/N, the batch's first arch,
/// its round, elapsed and ETA; otherwise one line each time subjects finish.
pub struct Progress {
    inner: Option<crate::progress::Progress>,
    label: String,
    quiet: bool,
}

impl Progress {
    pub fn new(label: &str, quiet: bool) -> Progress {
        Progress {
            inner: None,
            label: label.to_string(),
            quiet,
        }
    }

    pub fn update(&mut self, p: &MeasureProgress) {
        if self.quiet || p.total == 0 {
            return;
        }
        let inner = self
            .inner
            .get_or_insert_with(|| crate::progress::Progress::new(&self.label, p.total, false));
        match &p.batch {
            Some((first, r)) => {
                let ci = if r.worst_ci.is_finite() {
                    format!(", widest CI ±{:.1}%", r.worst_ci * 100.0)
                } else {
                    String::new()
                };
                let batch = (p.total - p.done).min(10);
                inner.start_item(&format!(
                    "{} (+{} more)",
                    crate::output::short_id(first),
                    batch.saturating_sub(1)
                ));
                inner.tick(r.fraction * batch as f64, &format!("round {}{ci}", r.round));
            }
            None => inner.set_done(p.done, "measured or reused"),
        }
    }

    pub fn finish(&mut self) {
        if let Some(p) = &mut self.inner {
            p.finish();
        }
    }
}

/// Runs `f` with a [`Report`] that prints notes and progress to stderr.
pub fn with_report<T>(label: &str, quiet: bool, f: impl FnOnce(&mut Report) -> T) -> T {
    let quiet = quiet || crate::progress::quiet();
    let mut progress = Progress::new(label, quiet);
    let mut notify = |s: &str| {
        if !quiet {
            eprintln!("{s}");
        }
    };
    let mut on_progress = |p: &MeasureProgress| progress.update(p);
    let mut report = Report {
        notify: &mut notify,
        progress: &mut on_progress,
    };
    let out = f(&mut report);
    progress.finish();
    out
}
