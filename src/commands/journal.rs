//! `edgenas journal show|export --csv`

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use edgenas_profiler::{open_measurements, Measurement};

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
    let journal = open_measurements(&path)
        .with_context(|| format!("opening the journal {}", path.display()))?;
    if journal.recovery.truncated_bytes > 0 {
        eprintln!(
            "note: the journal's last record was torn; cut {} bytes",
            journal.recovery.truncated_bytes
        );
    }
    match args.action {
        JournalAction::Show { json } => {
            if json {
                let v: Vec<_> = journal
                    .records()
                    .iter()
                    .map(crate::commands::profile::measurement_json)
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            println!(
                "{} measurement(s) in {}",
                journal.records().len(),
                path.display()
            );
            println!(
                "{:>3}  {:<44} {:>12} {:>11} {:>5} {:>3}  flags",
                "#", "subject", "median", "MAD", "runs", "thr"
            );
            for (i, m) in journal.records().iter().enumerate() {
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
            for m in journal.records() {
                text.push_str(&csv_row(m));
                text.push('\n');
            }
            match output {
                Some(p) => {
                    std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?
                }
                None => std::io::stdout().lock().write_all(text.as_bytes())?,
            }
        }
    }
    Ok(())
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
