//! `edgenas journal show|export --csv|check|repair`: everything but `repair` opens the journal
//! read-only and never changes it.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use edgenas_profiler::{journal::repair, measurement_header, read_measurements, Measurement};

use crate::cli::{JournalAction, JournalArgs};
use crate::output::ms;
use crate::state;
use crate::tables::{Cell, Table};

pub fn run(args: JournalArgs, home: Option<&Path>) -> Result<()> {
    let path = match &args.host {
        Some(host) => crate::state::fetched_journal(home, host)?,
        None => state::journal_path(home, args.journal.as_deref())?,
    };
    if !path.exists() {
        // Nothing measured yet: an empty listing, not an error (a script's first run).
        match &args.action {
            JournalAction::Show { json: true, export } => {
                let doc = serde_json::json!({ "results": [] });
                println!("{}", serde_json::to_string_pretty(&doc)?);
                export.write(
                    &doc,
                    &crate::measurements::results_table(std::iter::empty()),
                )?;
                return Ok(());
            }
            JournalAction::Show {
                json: false,
                export,
            } => {
                println!("0 measurements (no journal at {} yet)", path.display());
                let doc = serde_json::json!({ "results": [] });
                export.write(
                    &doc,
                    &crate::measurements::results_table(std::iter::empty()),
                )?;
                return Ok(());
            }
            _ => bail!("no journal at {} (profile something first)", path.display()),
        }
    }
    if let JournalAction::Repair = args.action {
        let r = repair(&path, measurement_header())
            .with_context(|| format!("repairing the journal {}", path.display()))?;
        match r.original {
            None => println!("{}: {} records, nothing to repair", path.display(), r.kept),
            Some(original) => println!(
                "{}: kept all {} valid records, dropped {} bytes of damage; the original is {}",
                path.display(),
                r.kept,
                r.dropped_bytes,
                original.display()
            ),
        }
        return Ok(());
    }
    let journal = read_measurements(&path)
        .with_context(|| format!("reading the journal {}", path.display()))?;
    if let JournalAction::Check = args.action {
        println!("{}: {} valid records", path.display(), journal.len());
        for d in journal.damaged() {
            println!(
                "damaged: {} bytes at offset {} ({})",
                d.bytes, d.offset, d.reason
            );
        }
        let torn = journal.recovery.torn_tail_bytes;
        if torn > 0 {
            println!(
                "torn tail: {torn} bytes of an interrupted write (the next measurement cuts it)"
            );
        }
        if !journal.damaged().is_empty() {
            bail!(
                "the journal has {} damaged stretch(es); `edgenas journal repair` keeps every valid record and the original beside it",
                journal.damaged().len()
            );
        }
        return Ok(());
    }
    if journal.recovery.torn_tail_bytes > 0 {
        eprintln!(
            "note: the journal ends in a torn record ({} bytes of an interrupted write); the next measurement cuts it",
            journal.recovery.torn_tail_bytes
        );
    }
    crate::session::warn_damage(&journal);
    match args.action {
        JournalAction::Check | JournalAction::Repair => unreachable!("handled above"),
        JournalAction::Show { json, export } => {
            if json || export.any() {
                let all: Vec<Measurement> = journal.iter().collect::<Result<_, _>>()?;
                let doc = serde_json::json!({
                    "results": all
                        .iter()
                        .map(|m| crate::measurements::measurement_json(m, false))
                        .collect::<Vec<_>>(),
                });
                export.write(
                    &doc,
                    &crate::measurements::results_table(all.iter().map(|m| (m, false))),
                )?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&doc)?);
                    return Ok(());
                }
            }
            // The listing streams the records: a large journal is never decoded whole here.
            println!("{} measurement(s) in {}", journal.len(), path.display());
            // The subject last and whole: NB201 cells share their first 40 characters.
            println!(
                "{:>3}  {:>12} {:>11} {:>5} {:>3} {:<7} {:<16} subject",
                "#", "median", "MAD", "runs", "thr", "runtime", "flags"
            );
            for (i, m) in journal.iter().enumerate() {
                let m = m?;
                let s = m.stats();
                let flags: Vec<&str> = m.flags.iter().map(|f| f.code()).collect();
                println!(
                    "{:>3}  {:>12} {:>11} {:>5} {:>3} {:<7} {:<16} {}",
                    i,
                    ms(s.median_ms),
                    ms(s.mad_ms),
                    s.runs,
                    m.fingerprint.threads,
                    m.fingerprint.runtime,
                    if flags.is_empty() {
                        "-".to_string()
                    } else {
                        flags.join(",")
                    },
                    m.subject
                );
            }
        }
        JournalAction::Export {
            format,
            csv: _,
            output,
        } => {
            // One record decoded at a time: the rows, not the raw samples, are kept.
            let text = match format.as_str() {
                "json" => {
                    let mut results = Vec::with_capacity(journal.len());
                    for m in journal.iter() {
                        results.push(crate::measurements::measurement_json(&m?, false));
                    }
                    serde_json::to_string_pretty(&serde_json::json!({ "results": results }))? + "\n"
                }
                _ => {
                    let mut table = Table::new(FULL_COLUMNS);
                    for m in journal.iter() {
                        table.push(full_row(&m?));
                    }
                    if format == "markdown" {
                        table.markdown()
                    } else {
                        table.csv()
                    }
                }
            };
            match output {
                Some(p) => edgenas_format::write_atomic(&p, text.as_bytes())
                    .with_context(|| format!("writing {}", p.display()))?,
                None => std::io::stdout().lock().write_all(text.as_bytes())?,
            }
        }
    }
    Ok(())
}

/// The columns of `journal export`: every measurement with its full conditions.
const FULL_COLUMNS: &[&str] = &[
    "unix_time",
    "space",
    "subject",
    "board",
    "cpu_model",
    "arch",
    "kernel",
    "firmware",
    "power_mode",
    "governor",
    "runtime",
    "runtime_version",
    "threads",
    "cpus",
    "runs",
    "median_ms",
    "mad_ms",
    "mean_ms",
    "std_ms",
    "min_ms",
    "max_ms",
    "p10_ms",
    "p90_ms",
    "cv",
    "outliers",
    "init_ms",
    "flags",
];

/// One `journal export` row (numbers are rounded when the table is written).
fn full_row(m: &Measurement) -> Vec<Cell> {
    let s = m.stats();
    let f = &m.fingerprint;
    let cpus: Vec<String> = f.cpus.iter().map(|c| c.to_string()).collect();
    let flags: Vec<&str> = m.flags.iter().map(|x| x.code()).collect();
    vec![
        Cell::Int(m.unix_time),
        m.space.clone().into(),
        m.subject.clone().into(),
        f.board.clone().into(),
        f.cpu_model.clone().into(),
        f.arch.clone().into(),
        f.kernel.clone().into(),
        f.firmware.clone().into(),
        f.power_mode.clone().into(),
        f.governor.clone().into(),
        f.runtime.clone().into(),
        f.runtime_version.clone().into(),
        f.threads.into(),
        cpus.join(" ").into(),
        s.runs.into(),
        s.median_ms.into(),
        s.mad_ms.into(),
        s.mean_ms.into(),
        s.std_ms.into(),
        s.min_ms.into(),
        s.max_ms.into(),
        s.p10_ms.into(),
        s.p90_ms.into(),
        s.cv.into(),
        s.outliers.into(),
        m.init_ms.into(),
        flags.join(" ").into(),
    ]
}
