//! `edgenas journal show|export --csv|check|repair`: everything but `repair` opens the journal
//! read-only and never changes it.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use edgenas_profiler::{
    journal::repair, measurement_header, read_measurements, Measurement, MeasurementJournal,
};

use crate::cli::{JournalAction, JournalArgs};
use crate::measurements::{measurement_json, results_table};
use crate::output::ms;
use crate::state;
use crate::tables::ExportFiles;
use edgenas_profiler::export::{full_row, full_table};

pub fn run(args: JournalArgs, home: Option<&Path>) -> Result<()> {
    let path = match &args.host {
        Some(host) => crate::state::fetched_journal(home, host)?,
        None => state::journal_path(home, args.journal.as_deref())?,
    };
    if !path.exists() {
        return no_journal(&args.action, &path);
    }
    if let JournalAction::Repair = args.action {
        return repair_journal(&path);
    }
    let journal = read_measurements(&path)
        .with_context(|| format!("reading the journal {}", path.display()))?;
    if let JournalAction::Check = args.action {
        return check(&journal, &path);
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
        JournalAction::Show { json, export } => show(&journal, &path, json, &export),
        JournalAction::Export { format, output, .. } => export(&journal, &format, output),
    }
}

/// Nothing measured yet: `show` lists nothing (a script's first run); the rest refuse.
fn no_journal(action: &JournalAction, path: &Path) -> Result<()> {
    let JournalAction::Show { json, export } = action else {
        bail!("no journal at {} (profile something first)", path.display());
    };
    let doc = serde_json::json!({ "results": [] });
    if *json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!("0 measurements (no journal at {} yet)", path.display());
    }
    export.write(&doc, &results_table(std::iter::empty()))
}

fn repair_journal(path: &Path) -> Result<()> {
    let r = repair(path, measurement_header())
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
    Ok(())
}

fn check(journal: &MeasurementJournal, path: &Path) -> Result<()> {
    println!("{}: {} valid records", path.display(), journal.len());
    for d in journal.damaged() {
        println!(
            "damaged: {} bytes at offset {} ({})",
            d.bytes, d.offset, d.reason
        );
    }
    let torn = journal.recovery.torn_tail_bytes;
    if torn > 0 {
        println!("torn tail: {torn} bytes of an interrupted write (the next measurement cuts it)");
    }
    // A timing program's batch that was interrupted: its finished rounds, kept beside.
    match edgenas_ondevice::measure::pending(path) {
        Ok(batches) => {
            for b in batches {
                println!(
                    "batch in progress: {} round{} of {} subjects ({} first) through {}; \
                     timing that batch again goes on from them",
                    b.rounds,
                    if b.rounds == 1 { "" } else { "s" },
                    b.subjects.len(),
                    b.subjects.first().map_or("", String::as_str),
                    b.runtime
                );
            }
        }
        Err(e) => println!("rounds of a batch in progress are unreadable: {e}"),
    }
    if !journal.damaged().is_empty() {
        bail!(
            "the journal has {} damaged stretch(es); `edgenas journal repair` keeps every valid record and the original beside it",
            journal.damaged().len()
        );
    }
    Ok(())
}

fn show(journal: &MeasurementJournal, path: &Path, json: bool, export: &ExportFiles) -> Result<()> {
    if json || export.any() {
        let all: Vec<Measurement> = journal.iter().collect::<Result<_, _>>()?;
        let doc = serde_json::json!({
            "results": all.iter().map(|m| measurement_json(m, false)).collect::<Vec<_>>(),
        });
        export.write(&doc, &results_table(all.iter().map(|m| (m, false))))?;
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
        let flags = if flags.is_empty() {
            "-".to_string()
        } else {
            flags.join(",")
        };
        let (median, mad) = (ms(s.median_ms), ms(s.mad_ms));
        let fp = &m.fingerprint;
        println!(
            "{i:>3}  {median:>12} {mad:>11} {:>5} {:>3} {:<7} {flags:<16} {}",
            s.runs, fp.threads, fp.runtime, m.subject
        );
    }
    Ok(())
}

/// Every record with its full conditions, one decoded at a time: the rows, not the raw
/// samples, are kept.
fn export(journal: &MeasurementJournal, format: &str, output: Option<PathBuf>) -> Result<()> {
    let text = match format {
        "json" => {
            let mut results = Vec::with_capacity(journal.len());
            for m in journal.iter() {
                results.push(measurement_json(&m?, false));
            }
            serde_json::to_string_pretty(&serde_json::json!({ "results": results }))? + "\n"
        }
        _ => {
            let mut table = full_table();
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
        Some(p) => crate::output::write_text(&p, &text),
        None => Ok(std::io::stdout().lock().write_all(text.as_bytes())?),
    }
}
