//! From flags to library objects, in one place: the machine and protocol a command measures
//! with, the loop's [`Session`] over the state directory (its journal, or an oracle table), and
//! the notes on a journal that was opened damaged.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use edgenas_nas::Space;
use edgenas_ondevice::machine::{check_rounds, Machine, MachineRequest};
use edgenas_ondevice::measure::loop_timing;
use edgenas_ondevice::state::StateDir;
use edgenas_ondevice::{Measurer, OracleTable, Session, Setup};
use edgenas_profiler::{open_measurements, MeasurementJournal, Protocol, Rounds};

use crate::cli::{DeviceArgs, MachineArgs, ProtocolArgs, RuntimeArgs};

/// The loop's session for `space`: the state directory with its journal and the device's
/// measurement setup, or the oracle table that stands in for measurements.
pub fn open(args: &DeviceArgs, home: Option<&Path>, space: Space) -> Result<Session> {
    let root = crate::state::home(home)?;
    if let (Some(file), Some(column)) = (&args.oracle, &args.oracle_device) {
        let table = OracleTable::read(space, file, column)?;
        return Ok(Session::new(&root, Measurer::oracle(table)));
    }
    let setup = setup(&args.machine, interleaved(args, space), args.weight_seed)?;
    let journal = open_journal(&StateDir::new(&root).journal())?;
    Ok(Session::new(&root, Measurer::device(setup, journal)))
}

/// The journal at `path`, with a note on stderr when it was opened damaged.
pub fn open_journal(path: &Path) -> Result<MeasurementJournal> {
    let journal = open_measurements(path)
        .with_context(|| format!("opening the journal {}", path.display()))?;
    report_opened(&journal);
    Ok(journal)
}

/// How a command times its subjects: each under the protocol's own stop rule (`profile`), or
/// in interleaved rounds (the loop), whose sampling bounds per arch default tighter, by space:
/// the protocol the flags start from, and the rounds.
pub enum Timing {
    OneAtATime,
    Interleaved(Protocol, Rounds),
}

/// The loop's interleaved timing for `space`: the space's defaults, the rounds' flags applied.
fn interleaved(args: &DeviceArgs, space: Space) -> Timing {
    let (protocol, defaults) = loop_timing(space);
    let rounds = Rounds {
        min_rounds: args.min_rounds,
        max_rounds: args.max_rounds,
        burst_ms: args.burst_ms.unwrap_or(defaults.burst_ms),
    };
    Timing::Interleaved(protocol, rounds)
}

/// The protocol and rounds of `timing` as the flags set them, checked.
fn timing_protocol(args: &ProtocolArgs, timing: Timing) -> Result<(Protocol, Rounds)> {
    let (base, rounds) = match timing {
        Timing::OneAtATime => (Protocol::default(), Rounds::default()),
        Timing::Interleaved(protocol, rounds) => (protocol, rounds),
    };
    let protocol = protocol(args, base)?;
    check_rounds(&rounds)?;
    Ok((protocol, rounds))
}

/// The measurement setup from the command line and the board policy.
pub fn setup(args: &MachineArgs, timing: Timing, seed: u64) -> Result<Setup> {
    let (protocol, rounds) = timing_protocol(&args.protocol, timing)?;
    let runtime = runtime(&args.runtime)?;
    let precision = runtime.check_precision(args.runtime.precision)?;
    let m = machine(args)?;
    Ok(Setup {
        root: m.root,
        system: m.system,
        threads: m.threads,
        cpus: m.cpus,
        protocol,
        rounds,
        cooldown: Duration::from_secs_f64(args.cooldown),
        allow_unstable: args.allow_unstable,
        seed,
        runtime,
        runtime_identity: runtime_identity(runtime)?,
        precision,
    })
}

/// The runtime `--runtime` names with `--ep` or `--tflite-delegate` applied, or the timing
/// program of `--exec`.
pub fn runtime(args: &RuntimeArgs) -> Result<edgenas_runtime::Runtime> {
    use edgenas_runtime::Runtime;
    if let Some(template) = &args.exec {
        if !matches!(args.name.as_str(), "exec" | "tract") {
            bail!(
                "--exec times with a program; it goes with --runtime exec, not {}",
                args.name
            );
        }
        if args.ep.is_some() || args.tflite_delegate.is_some() {
            bail!("--ep and --tflite-delegate do not apply to a timing program (--exec)");
        }
        return exec_runtime(template, args.exec_format.as_deref());
    }
    if args.exec_format.is_some() {
        bail!("--exec-format goes with --exec");
    }
    let named: Runtime = args.name.parse()?;
    Ok(named.with_accelerator(args.ep, args.tflite_delegate)?)
}

/// The timing program `--exec` names, reading `--exec-format` (ONNX by default).
pub fn exec_runtime(template: &str, format: Option<&str>) -> Result<edgenas_runtime::Runtime> {
    let format = edgenas_runtime::ExportFormat::from_name(format.unwrap_or("onnx"))?;
    let spec = edgenas_runtime::exec::ExecSpec::new(template, format)?;
    // The command line's program, for the whole process.
    Ok(edgenas_runtime::Runtime::Exec(Box::leak(Box::new(spec))))
}

/// The runtime's name and version for the Fingerprint; for TensorFlow Lite this loads its
/// library, so a missing one is reported before anything is measured.
pub fn runtime_identity(runtime: edgenas_runtime::Runtime) -> Result<(String, String)> {
    runtime
        .identity()
        .with_context(|| format!("--runtime {runtime}"))
}

/// The machine measurements run on (threads, CPUs) as asked, checked.
pub fn machine(args: &MachineArgs) -> Result<Machine> {
    if !(args.cooldown.is_finite() && args.cooldown >= 0.0) {
        bail!("--cooldown must be a non-negative number of seconds");
    }
    Ok(Machine::probe(MachineRequest {
        sysroot: &args.sysroot,
        threads: args.threads,
        cpus: args.cpus.as_deref(),
        oversubscribe: args.oversubscribe,
    })?)
}

/// The protocol the flags ask for; values out of range are refused in one line.
pub fn protocol(args: &ProtocolArgs, base: Protocol) -> Result<Protocol> {
    let secs = |name: &str, v: f64| -> Result<Duration> {
        if !(v.is_finite() && v >= 0.0) {
            bail!("--{name} must be a non-negative number of seconds, got {v}");
        }
        Ok(Duration::from_secs_f64(v))
    };
    let mut p = Protocol {
        warmup_runs: args.warmup_runs.unwrap_or(base.warmup_runs),
        warmup_time: secs("warmup-time", args.warmup_time)?,
        min_runs: args.min_runs,
        min_time: match args.min_time {
            Some(v) => secs("min-time", v)?,
            None => base.min_time,
        },
        max_time: match args.max_time {
            Some(v) => secs("max-time", v)?,
            None => base.max_time,
        },
        target_ci: args.target_ci,
        max_cv: args.max_cv,
        max_runs: args.max_runs,
        ..base
    };
    if let Some(n) = args.runs {
        p = p.with_runs(n)?;
    }
    p.check()?;
    Ok(p)
}

/// One note on stderr when the journal was upgraded from an older format or its tail was torn,
/// one warning when it has damage in the middle (skipped, kept on disk).
pub fn report_opened(journal: &MeasurementJournal) {
    if let Some(original) = &journal.recovery.upgraded {
        eprintln!(
            "note: the journal was rewritten in today's format ({} measurements, all at fp32); the original is kept as {}",
            journal.len(),
            original.display()
        );
    }
    if journal.recovery.truncated_bytes > 0 {
        eprintln!(
            "note: the journal's last record was torn (an interrupted write); cut {} bytes, kept {} measurements",
            journal.recovery.truncated_bytes,
            journal.len()
        );
    }
    warn_damage(journal);
}

/// One line on stderr when the journal has damage in the middle (skipped, kept on disk).
pub fn warn_damage(journal: &MeasurementJournal) {
    let n = journal.damaged().len();
    if n > 0 {
        eprintln!(
            "warning: {} has {n} damaged stretch(es) that were skipped; `edgenas journal check` lists them, `edgenas journal repair` rewrites it with every valid record",
            journal.path().display()
        );
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    /// `embed`'s arguments with these flags.
    fn embed(flags: &[&str]) -> crate::cli::EmbedArgs {
        let cli = Cli::try_parse_from(["edgenas", "embed"].iter().chain(flags)).unwrap();
        let Command::Embed(a) = cli.command else {
            unreachable!("parsed as embed")
        };
        a
    }

    /// What `embed` with these flags would time with.
    fn embed_timing(flags: &[&str]) -> (Protocol, Rounds) {
        let a = embed(flags);
        let space = Space::from_name(&a.space).unwrap();
        timing_protocol(&a.device.machine.protocol, interleaved(&a.device, space)).unwrap()
    }

    #[test]
    fn the_loop_times_each_space_with_its_defaults_and_flags_set_each_bound() {
        let ms = |d: Duration| d.as_millis();
        let (p, r) = embed_timing(&["--space", "nb201"]);
        assert_eq!(
            (ms(p.min_time), ms(p.max_time), p.warmup_runs),
            (20, 200, 2)
        );
        assert_eq!(r.burst_ms, 5.0);
        for space in ["fbnet", "ofa"] {
            let (p, r) = embed_timing(&["--space", space]);
            assert_eq!(
                (ms(p.min_time), ms(p.max_time), p.warmup_runs),
                (50, 500, 5)
            );
            assert_eq!(r.burst_ms, 15.0);
        }
        let (p, r) = embed_timing(&[
            "--space",
            "nb201",
            "--max-time",
            "1",
            "--burst-ms",
            "8",
            "--warmup-runs",
            "4",
        ]);
        assert_eq!(
            (ms(p.min_time), ms(p.max_time), p.warmup_runs),
            (20, 1000, 4)
        );
        assert_eq!(r.burst_ms, 8.0);
        // One at a time (profile), the protocol's own bounds.
        let flags = embed(&[]).device.machine.protocol;
        let (p, _) = timing_protocol(&flags, Timing::OneAtATime).unwrap();
        assert_eq!(
            (ms(p.min_time), ms(p.max_time), p.warmup_runs),
            (1000, 10_000, 5)
        );
    }
}
