//! Wiring shared by the on-device loop's commands: the state directory, the journal, the
//! measurement setup (or oracle table), and how progress is shown.

use std::io::IsTerminal;
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
use crate::progress::ProgressBar;

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
    let cpus = match args.cpus.as_deref() {
        Some("all") => Vec::new(),
        Some(list) => affinity::parse(list)?,
        None => system.policy.cpus.clone(),
    };
    Ok((root, system, threads, cpus))
}

/// Shows measurement progress: a bar on a terminal, one line per finished batch otherwise.
pub struct Progress {
    bar: ProgressBar,
    terminal: bool,
    last_done: usize,
    label: String,
    quiet: bool,
}

impl Progress {
    pub fn new(label: &str, quiet: bool) -> Progress {
        Progress {
            bar: ProgressBar::new(label.to_string()),
            terminal: std::io::stderr().is_terminal(),
            last_done: 0,
            label: label.to_string(),
            quiet,
        }
    }

    pub fn update(&mut self, p: &MeasureProgress) {
        if self.quiet {
            return;
        }
        match &p.batch {
            Some((_, r)) if self.terminal => {
                let ci = if r.worst_ci.is_finite() {
                    format!(", widest CI ±{:.1}%", r.worst_ci * 100.0)
                } else {
                    String::new()
                };
                let frac = (p.done as f64 + r.fraction * (p.total - p.done).min(10) as f64)
                    / p.total.max(1) as f64;
                self.bar.update(
                    frac,
                    &format!(
                        "{}/{} measured, round {} ({:.0} s){ci}",
                        p.done,
                        p.total,
                        r.round,
                        r.elapsed.as_secs_f64()
                    ),
                );
            }
            Some(_) => {}
            None => {
                if !self.terminal && p.done > self.last_done && p.done < p.total {
                    eprintln!("{}: {}/{} done", self.label, p.done, p.total);
                }
                self.last_done = p.done;
            }
        }
    }

    pub fn finish(&mut self) {
        self.bar.finish();
    }
}

/// Runs `f` with a [`Report`] that prints notes and progress to stderr.
pub fn with_report<T>(label: &str, quiet: bool, f: impl FnOnce(&mut Report) -> T) -> T {
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
