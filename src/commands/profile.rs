//! `edgenas profile`: time candidates under the protocol and journal every measurement.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use edgenas_nas::Arch;
use edgenas_profiler::{
    affinity, open_measurements, probe, protocol, Fingerprint, Measurement, Protocol, System,
};
use edgenas_runtime::{Model, ModelOptions};
use serde_json::{json, Value};

use crate::cli::{ProfileArgs, ProtocolArgs};
use crate::output::{cpu_list, ms};
use crate::progress::ProgressBar;
use crate::state;

/// What a profile target is: an arch (built, then run by either runtime) or a model file
/// (`.onnx` for tract, `.tflite` for TensorFlow Lite).
pub enum Target {
    Arch(Arch),
    File(PathBuf),
}

impl Target {
    pub fn parse(s: &str) -> Result<Target> {
        let p = Path::new(s);
        if s.ends_with(".onnx") || s.ends_with(".tflite") || (p.is_file() && !s.starts_with('|')) {
            return Ok(Target::File(p.to_owned()));
        }
        Ok(Target::Arch(Arch::parse(s)?))
    }

    pub fn subject(&self) -> String {
        match self {
            Target::Arch(a) => a.to_string(),
            Target::File(p) => p.display().to_string(),
        }
    }

    pub fn space(&self) -> &'static str {
        match self {
            Target::Arch(a) => a.space().name(),
            Target::File(p) if p.extension().is_some_and(|e| e == "tflite") => "tflite",
            Target::File(_) => "onnx",
        }
    }

    pub fn load(&self, opts: ModelOptions) -> Result<Model> {
        match self {
            Target::Arch(a) => {
                Model::from_network(&a.build(), opts).with_context(|| format!("preparing {a}"))
            }
            Target::File(p) => {
                Model::from_file(p, opts).with_context(|| format!("loading {}", p.display()))
            }
        }
    }
}

pub fn protocol_from(args: &ProtocolArgs) -> Result<Protocol> {
    let secs = |name: &str, v: f64| -> Result<Duration> {
        if !(v.is_finite() && v >= 0.0) {
            bail!("--{name} must be a non-negative number of seconds, got {v}");
        }
        Ok(Duration::from_secs_f64(v))
    };
    let p = Protocol {
        warmup_runs: args.warmup_runs,
        warmup_time: secs("warmup-time", args.warmup_time)?,
        min_runs: args.min_runs,
        min_time: secs("min-time", args.min_time)?,
        max_time: secs("max-time", args.max_time)?,
        target_ci: args.target_ci,
        max_cv: args.max_cv,
        max_runs: args.max_runs,
        ..Protocol::default()
    };
    if p.min_runs == 0 {
        bail!("--min-runs must be at least 1");
    }
    // A million runs is an 8 MB record, well under what the journal reads back.
    if !(1..=1_000_000).contains(&p.max_runs) || p.max_runs < p.min_runs {
        bail!(
            "--max-runs must be from --min-runs ({}) to 1000000, got {}",
            p.min_runs,
            p.max_runs
        );
    }
    if !(p.target_ci > 0.0 && p.target_ci < 1.0) {
        bail!(
            "--target-ci must be a fraction between 0 and 1 (0.01 = 1 %), got {}",
            p.target_ci
        );
    }
    if !(p.max_cv > 0.0 && p.max_cv.is_finite()) {
        bail!(
            "--max-cv must be a positive fraction (0.05 = 5 %), got {}",
            p.max_cv
        );
    }
    if p.max_time < p.min_time {
        bail!(
            "--max-time ({:?}) is shorter than --min-time ({:?})",
            p.max_time,
            p.min_time
        );
    }
    Ok(p)
}

pub fn run(args: ProfileArgs, home: Option<&Path>) -> Result<()> {
    let protocol = protocol_from(&args.machine.protocol)?;
    let targets: Vec<Target> = args
        .targets
        .iter()
        .map(|s| Target::parse(s))
        .collect::<Result<_>>()?;
    let (root, system, threads, cpus) = crate::commands::device::machine(&args.machine)?;
    let runtime = crate::commands::device::runtime_identity(args.machine.runtime)?;
    if !cpus.is_empty() {
        affinity::pin_current_thread(&cpus)?;
    }
    let journal_path = state::journal_path(home, args.journal.as_deref())?;
    let mut journal = open_measurements(&journal_path)
        .with_context(|| format!("opening the journal {}", journal_path.display()))?;
    crate::commands::journal::report_opened(&journal);
    // --resume: the journal's records of these targets, decoded once (not once per target).
    let mut recorded: std::collections::HashMap<String, Vec<Measurement>> =
        std::collections::HashMap::new();
    if args.resume {
        let wanted: std::collections::HashSet<String> =
            targets.iter().map(|t| t.subject()).collect();
        for m in journal.iter() {
            let m = m?;
            if wanted.contains(&m.subject) {
                recorded.entry(m.subject.clone()).or_default().push(m);
            }
        }
    }
    let mut results = Vec::new();
    for target in &targets {
        let subject = target.subject();
        let before = probe::read_conditions(&root);
        let fingerprint = Fingerprint::new(
            &system,
            &before,
            (runtime.0.as_str(), runtime.1.as_str()),
            threads,
            cpus.clone(),
        );
        if args.resume {
            // The newest record under the same conditions.
            let found = recorded
                .get(&subject)
                .and_then(|ms| ms.iter().rev().find(|m| m.fingerprint == fingerprint));
            if let Some(m) = found.cloned() {
                if !args.json {
                    eprintln!("{subject}: already in the journal under the same conditions, skipped (--resume)");
                }
                results.push(m);
                continue;
            }
        }
        let (before, mut flags) = protocol::cool_down(
            &root,
            system.policy.temp_limit_c,
            Duration::from_secs_f64(args.machine.cooldown),
            before,
            &mut |why| eprintln!("{why}"),
        );
        if !flags.is_empty() && !args.machine.allow_unstable {
            let reasons: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
            bail!(
                "refusing to measure: {} (fix it, or pass --allow-unstable to record the condition with the sample)",
                reasons.join("; ")
            );
        }
        let mut model = target.load(ModelOptions {
            runtime: args.machine.runtime,
            threads,
            seed: args.seed,
        })?;
        let mut bar = ProgressBar::new(crate::output::ellipsize(&subject, 24));
        let cpu_before = probe::CpuTimes::now();
        let sample = protocol
            .sample(|| model.run_discard(), &mut |p| {
                let phase = match p.phase {
                    protocol::Phase::Warmup => "warm-up",
                    protocol::Phase::Sampling => "sampling",
                };
                bar.update(p.fraction, &format!("{phase} {} runs", p.runs));
            })
            .with_context(|| format!("running {subject}"))?;
        bar.finish();
        let cpu_after = probe::CpuTimes::now();
        let after = probe::read_conditions(&root);
        flags.extend(protocol.sample_flags(&sample.stats));
        if let (Some(a), Some(b)) = (cpu_before, cpu_after) {
            flags.extend(protocol::contention_flag(&a, &b));
        }
        flags.extend(protocol::drift_flags(
            &before,
            &after,
            system.logical_cpus,
            threads,
        ));
        flags.extend(protocol::oversubscription_flag(
            threads,
            &cpus,
            system.logical_cpus,
        ));
        let m = Measurement {
            subject,
            space: target.space().into(),
            unix_time: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            fingerprint,
            init_ms: model.init_time().as_secs_f64() * 1e3,
            protocol: protocol.clone(),
            sample,
            flags,
            before,
            after,
        };
        journal
            .append(m.clone())
            .context("appending to the journal")?;
        if args.resume {
            // A target named twice is measured once, as when the journal was re-read.
            recorded
                .entry(m.subject.clone())
                .or_default()
                .push(m.clone());
        }
        if !args.json {
            print_human(&m, &system);
        }
        results.push(m);
    }
    if args.json {
        let values: Vec<Value> = results.iter().map(measurement_json).collect();
        let out = if values.len() == 1 {
            values.into_iter().next().unwrap()
        } else {
            Value::Array(values)
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(())
}

fn print_human(m: &Measurement, system: &System) {
    let s = m.stats();
    let fp = &m.fingerprint;
    println!("Profile: {} ({})", m.subject, m.space);
    println!(
        "  Runtime:              {} {}, {} thread{}, CPUs {}, governor {}",
        fp.runtime,
        fp.runtime_version,
        fp.threads,
        if fp.threads == 1 { "" } else { "s" },
        cpu_list(&fp.cpus),
        fp.governor
    );
    println!(
        "  Machine:              {} ({}) / {}{}",
        system.board_name,
        system.model.as_deref().unwrap_or("no device-tree model"),
        system.cpu_model,
        fp.firmware
            .as_deref()
            .map(|f| format!(", {f}"))
            .unwrap_or_default()
    );
    if let Some(mode) = &fp.power_mode {
        println!("  Power mode:           {mode}");
    }
    if let Some(note) = &system.note {
        println!("  Note:                 {note}");
    }
    println!(
        "  Init:                 {} (load, optimize, plan)",
        ms(m.init_ms)
    );
    println!(
        "  Time (median ± MAD):  {} ± {}    [mean {} ± {} std, CV {:.1}%]",
        ms(s.median_ms),
        ms(s.mad_ms),
        ms(s.mean_ms),
        ms(s.std_ms),
        s.cv * 100.0
    );
    println!(
        "  Range (min … max):    {} … {}    [p10 {}, p90 {}]    {} runs, 95% CI of median ±{:.2}%",
        ms(s.min_ms),
        ms(s.max_ms),
        ms(s.p10_ms),
        ms(s.p90_ms),
        s.runs,
        s.median_ci_rel * 100.0
    );
    for f in &m.flags {
        println!("  Warning: {f}");
    }
}

/// The `--json` form of a measurement: the headline figures at the top level, the full
/// fingerprint and conditions below.
pub fn measurement_json(m: &Measurement) -> Value {
    let s = m.stats();
    json!({
        "id": m.identity(),
        "arch": m.subject,
        "space": m.space,
        "runtime": m.fingerprint.runtime,
        "runtime_version": m.fingerprint.runtime_version,
        "threads": m.fingerprint.threads,
        "cpus": m.fingerprint.cpus,
        "median_ms": s.median_ms,
        "mad_ms": s.mad_ms,
        "mean_ms": s.mean_ms,
        "std_ms": s.std_ms,
        "min_ms": s.min_ms,
        "max_ms": s.max_ms,
        "p10_ms": s.p10_ms,
        "p90_ms": s.p90_ms,
        "cv": s.cv,
        "runs": s.runs,
        "outliers": s.outliers,
        "median_ci95_rel": s.median_ci_rel,
        "warmup_runs": m.sample.warmup_runs,
        "init_ms": m.init_ms,
        "unix_time": m.unix_time,
        "flags": m.flags.iter().map(|f| f.code()).collect::<Vec<_>>(),
        "flag_details": m.flags.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
        "fingerprint": m.fingerprint,
        "conditions": { "before": m.before, "after": m.after },
    })
}
