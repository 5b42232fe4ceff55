//! `edgenas journal show|export --csv|check|repair`: everything but `repair` opens the journal
//! read-only and never changes it.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use edgenas_profiler::{
    journal::repair, measurement_header, read_measurements, Measurement, MeasurementJournal,
};

use crate::cli::{JournalAction, JournalArgs};
use crate::output::{ellipsize, ms};
use crate::state;

pub fn run(args: JournalArgs, home: Option<&Path>) -> Result<()> {
    let path = match &args.host {
        Some(host) => crate::commands::remote::fetched_journal(home, host)?,
        None => state::journal_path(home, args.journal.as_deref())?,
    };
    if !path.exists() {
        anyhow::bail!("no journal at {} (profile something first)", path.display());
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
    warn_damage(&journal);
    match args.action {
        JournalAction::Check | JournalAction::Repair => unreachable!("handled above"),
        JournalAction::Show { json } => {
            if json {
                let mut v = Vec::with_capacity(journal.len());
                for m in journal.iter() {
                    v.push(crate::commands::profile::measurement_json(&m?));
                }
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            println!("{} measurement(s) in {}", journal.len(), path.display());
            println!(
                "{:>3}  {:<44} {:>12} {:>11} {:>5} {:>3}  flags",
                "#", "subject", "median", "MAD", "runs", "thr"
            );
            for (i, m) in journal.iter().enumerate() {
                let m = m?;
                let s = m.stats();
                let flags: Vec<&str> = m.flags.iter().map(|f| f.code()).collect();
                println!(
                    "{:>3}  {:<44} {:>12} {:>11} {:>5} {:>3}  {}",
                    i,
                    ellipsize(&m.subject, 44),
                    ms(s.median_ms),
                    ms(s.mad_ms),
                    s.runs,
                    m.fingerprint.threads,
                    if flags.is_empty() {
                        "-".to_string()
                    } else {
                        flags.join(",")
                    }
                );
            }
        }
        JournalAction::Export { csv: _, output } => {
            let mut text = String::new();
            text.push_str(CSV_HEADER);
            text.push('\n');
            for m in journal.iter() {
                text.push_str(&csv_row(&m?));
                text.push('\n');
            }
            match output {
                Some(p) => edgenas_format::write_atomic(&p, text.as_bytes())
                    .with_context(|| format!("writing {}", p.display()))?,
                None => std::io::stdout().lock().write_all(text.as_bytes())?,
            }
        }
    }
    Ok(())
}

/// What opening the journal for appending found: a torn tail it cut, damage it skipped.
pub fn report_opened(journal: &MeasurementJournal) {
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
fn warn_damage(journal: &MeasurementJournal) {
    let n = journal.damaged().len();
    if n > 0 {
        eprintln!(
            "warning: {} has {n} damaged stretch(es) that were skipped; `edgenas journal check` lists them, `edgenas journal repair` rewrites it with every valid record",
            journal.path().display()
        );
    }
}

const CSV_HEADER: &str = "unix_time,space,subject,board,cpu_model,arch,kernel,firmware,power_mode,governor,runtime,runtime_version,threads,cpus,runs,median_ms,mad_ms,mean_ms,std_ms,min_ms,max_ms,p10_ms,p90_ms,cv,outliers,init_ms,flags";

/// Quotes a CSV field when it holds a comma, a quote or a newline (RFC 4180).
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv_row(m: &Measurement) -> String {
    let s = m.stats();
    let f = &m.fingerprint;
    let cpus: Vec<String> = f.cpus.iter().map(|c| c.to_string()).collect();
    let flags: Vec<&str> = m.flags.iter().map(|x| x.code()).collect();
    [
        m.unix_time.to_string(),
        field(&m.space),
        field(&m.subject),
        field(&f.board),
        field(&f.cpu_model),
        field(&f.arch),
        field(&f.kernel),
        field(f.firmware.as_deref().unwrap_or("")),
        field(f.power_mode.as_deref().unwrap_or("")),
        field(&f.governor),
        field(&f.runtime),
        field(&f.runtime_version),
        f.threads.to_string(),
        field(&cpus.join(" ")),
        s.runs.to_string(),
        s.median_ms.to_string(),
        s.mad_ms.to_string(),
        s.mean_ms.to_string(),
        s.std_ms.to_string(),
        s.min_ms.to_string(),
        s.max_ms.to_string(),
        s.p10_ms.to_string(),
        s.p90_ms.to_string(),
        s.cv.to_string(),
        s.outliers.to_string(),
        m.init_ms.to_string(),
        field(&flags.join(" ")),
    ]
    .join(",")
}
