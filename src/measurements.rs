//! How measurements are shown: the human block (hyperfine style) and the `--json` element of
//! `results` (`edgenas_profiler::export`'s summary); shared by `profile` and `journal`.

pub use edgenas_profiler::export::results_table;
use edgenas_profiler::{Measurement, System};
use serde_json::Value;

use crate::output::{cpu_list, ms};

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

/// The `--json` form of a measurement (an element of `results`).
pub fn measurement_json(m: &Measurement, resumed: bool) -> Value {
    serde_json::to_value(m.summary(resumed)).expect("a measurement serialises")
}
