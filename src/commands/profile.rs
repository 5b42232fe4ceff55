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
use crate::state;
use crate::tables::Table;

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
    let mut p = Protocol {
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
    if let Some(n) = args.runs {
        if n == 0 {
            bail!("--runs must be at least 1");
        }
        p.min_runs = n;
        p.max_runs = n;
    }
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
    let (root, system, threads, cpus) = crate::commands::device::machine(&args.machine)?;
    let runtime = crate::commands::device::runtime_identity(args.machine.runtime)?;
    let opts = ModelOptions {
        runtime: args.machine.runtime,
        threads,
        seed: args.seed,
    };
    // Every target is checked (parsed, file readable, model loadable) before the first
    // measurement: a typo in the last target must not cost the time of the first ones.
    let mut failures: Vec<(String, String)> = Vec::new();
    let mut runnable: Vec<Target> = Vec::new();
    for name in &args.targets {
        match Target::parse(name).and_then(|t| t.load(opts).map(|_| t)) {
            Ok(t) => runnable.push(t),
            Err(e) if args.keep_going => failures.push((name.clone(), format!("{e:#}"))),
            Err(e) => {
                return Err(e.context(format!(
                    "checking the targets before measuring (nothing was measured{})",
                    if args.targets.len() > 1 {
                        "; --keep-going measures the others"
                    } else {
                        ""
                    }
                )))
            }
        }
    }
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
            runnable.iter().map(|t| t.subject()).collect();
        for m in journal.iter() {
            let m = m?;
            if wanted.contains(&m.subject) {
                recorded.entry(m.subject.clone()).or_default().push(m);
            }
        }
    }
    let mut progress = crate::progress::Progress::new("profile", runnable.len(), false);
    let mut results: Vec<(Measurement, bool)> = Vec::new();
    let mut stopped: Option<anyhow::Error> = None;
    for target in &runnable {
        let subject = target.subject();
        progress.start_item(&crate::output::short_id(&subject));
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
                progress.finish_item(&format!(
                    "{}, skipped (--resume): in the journal under the same conditions",
                    ms(m.stats().median_ms)
                ));
                if !args.json {
                    print_human(&m, &system, true);
                }
                results.push((m, true));
                continue;
            }
        }
        let measured = measure_one(
            target,
            &subject,
            fingerprint,
            before,
            &protocol,
            &args,
            &root,
            &system,
            (threads, &cpus),
            opts,
            &mut progress,
        );
        match measured {
            Ok(m) => {
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
                progress.finish_item(&ms(m.stats().median_ms));
                if !args.json {
                    print_human(&m, &system, false);
                }
                results.push((m, false));
            }
            Err(e) if args.keep_going => {
                progress.finish_item("failed");
                failures.push((subject, format!("{e:#}")));
            }
            Err(e) => {
                stopped = Some(e);
                break;
            }
        }
    }
    progress.finish();
    let doc = json!({
        "results": results.iter().map(|(m, resumed)| measurement_json(m, *resumed)).collect::<Vec<_>>(),
        "failures": failures.iter().map(|(s, e)| json!({"subject": s, "error": e})).collect::<Vec<_>>(),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
    }
    args.export
        .write(&doc, &results_table(results.iter().map(|(m, r)| (m, *r))))?;
    if let Some(e) = stopped {
        return Err(e);
    }
    if !failures.is_empty() {
        let names: Vec<String> = failures
            .iter()
            .map(|(s, e)| format!("{} ({e})", crate::output::ellipsize(s, 60)))
            .collect();
        return Err(crate::output::Exit {
            code: 1,
            message: Some(format!(
                "{} of {} targets failed: {}",
                failures.len(),
                args.targets.len(),
                names.join("; ")
            )),
        }
        .into());
    }
    Ok(())
}

/// Pre-flight, the protocol's sample and post-flight of one target: its journal record.
#[allow(clippy::too_many_arguments)]
fn measure_one(
    target: &Target,
    subject: &str,
    fingerprint: Fingerprint,
    before: edgenas_profiler::Conditions,
    protocol: &Protocol,
    args: &ProfileArgs,
    root: &edgenas_profiler::Sysroot,
    system: &System,
    (threads, cpus): (usize, &[usize]),
    opts: ModelOptions,
    progress: &mut crate::progress::Progress,
) -> Result<Measurement> {
    let (before, mut flags) = protocol::cool_down(
        root,
        system.policy.temp_limit_c,
        Duration::from_secs_f64(args.machine.cooldown),
        before,
        &mut |why| crate::progress::note(why),
    );
    let reasons = protocol::refusals(&flags);
    if !reasons.is_empty() && !args.machine.allow_unstable {
        bail!(
            "refusing to measure: {} (fix it, or pass --allow-unstable to record the condition with the sample)",
            reasons.join("; ")
        );
    }
    let mut model = target.load(opts)?;
    let cpu_before = probe::CpuTimes::now();
    let sample = protocol
        .sample(|| model.run_discard(), &mut |p| {
            // Each phase reports its own 0..1: warm-up is the first fifth of the item's bar.
            let (phase, done) = match p.phase {
                protocol::Phase::Warmup => ("warm-up", 0.2 * p.fraction),
                protocol::Phase::Sampling => ("sampling", 0.2 + 0.8 * p.fraction),
            };
            progress.tick(done, &format!("{phase} {} runs", p.runs));
        })
        .with_context(|| format!("running {subject}"))?;
    let cpu_after = probe::CpuTimes::now();
    let after = probe::read_conditions(root);
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
        cpus,
        system.logical_cpus,
    ));
    Ok(Measurement {
        subject: subject.to_string(),
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
    })
}

/// The export table of measurements (profile, journal): one row each.
pub fn results_table<'a>(rows: impl Iterator<Item = (&'a Measurement, bool)>) -> Table {
    let mut t = Table::new(&[
        "subject",
        "kind",
        "space",
        "runtime",
        "runtime_version",
        "threads",
        "median_ms",
        "mad_ms",
        "mean_ms",
        "std_ms",
        "min_ms",
        "max_ms",
        "p10_ms",
        "p90_ms",
        "cv",
        "runs",
        "flags",
        "resumed",
    ]);
    for (m, resumed) in rows {
        let s = m.stats();
        let (kind, space) = kind_and_space(&m.space);
        t.push(vec![
            m.subject.clone().into(),
            kind.into(),
            space.into(),
            m.fingerprint.runtime.clone().into(),
            m.fingerprint.runtime_version.clone().into(),
            m.fingerprint.threads.into(),
            s.median_ms.into(),
            s.mad_ms.into(),
            s.mean_ms.into(),
            s.std_ms.into(),
            s.min_ms.into(),
            s.max_ms.into(),
            s.p10_ms.into(),
            s.p90_ms.into(),
            s.cv.into(),
            s.runs.into(),
            m.flags
                .iter()
                .map(|f| f.code())
                .collect::<Vec<_>>()
                .join(" ")
                .into(),
            resumed.into(),
        ]);
    }
    t
}

/// What a record's `space` field says: an arch of a search space, or a model file.
fn kind_and_space(space: &str) -> (&'static str, Option<&str>) {
    match space {
        "onnx" => ("onnx", None),
        "tflite" => ("tflite", None),
        s => ("arch", Some(s)),
    }
}

fn print_human(m: &Measurement, system: &System, resumed: bool) {
    let s = m.stats();
    let fp = &m.fingerprint;
    println!(
        "Profile: {} ({}){}",
        m.subject,
        m.space,
        if resumed {
            ", from the journal (--resume)"
        } else {
            ""
        }
    );
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

/// The `--json` form of a measurement (an element of `results`): what was measured
/// (`subject`, `kind`: arch|onnx|tflite, `space`), whether it came from the journal
/// (`resumed`), the headline figures, then the full fingerprint and conditions.
pub fn measurement_json(m: &Measurement, resumed: bool) -> Value {
    let s = m.stats();
    let (kind, space) = kind_and_space(&m.space);
    json!({
        "subject": m.subject,
        "kind": kind,
        "space": space,
        "resumed": resumed,
        "id": m.identity(),
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
