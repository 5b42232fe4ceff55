//! How measurements are shown: the human block (hyperfine style), the `--json` element of
//! `results`, and the export table; shared by `profile` and `journal`.

use edgenas_profiler::{Measurement, System};
use serde_json::{json, Value};

use crate::output::{cpu_list, ms};
use crate::tables::Table;

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

pub fn print_human(m: &Measurement, system: &System, resumed: bool) {
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
