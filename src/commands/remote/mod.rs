//! `edgenas remote deploy|run|attach|jobs|fetch`: boards driven over the system ssh.
//!
//! One board: its output as it comes, its errors as one line, `run` exits with the job's
//! status. A fleet (`--hosts FILE`): every board worked on in parallel (`--jobs N` at once),
//! one line per board at the end, and the exit status says how many failed.

mod deploy;
mod fetch;
mod job;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use edgenas_remote::{fleet, parse_inventory, Host, Ssh};

use crate::cli::{RemoteAction, RemoteArgs, RemoteBoards};
use crate::output::Exit;
use crate::state;

pub fn run(args: RemoteArgs, home: Option<&Path>) -> Result<()> {
    match args.action {
        RemoteAction::Deploy {
            boards,
            binary,
            dist,
        } => {
            let r = Remote::new(&boards, home)?;
            let build = edgenas_remote::deploy::Builds { binary, dist };
            r.each("deploy", |h| deploy::deploy(&r, h, &build))
        }
        RemoteAction::Run {
            boards,
            detach,
            args,
        } => job::run(&Remote::new(&boards, home)?, &args, detach),
        RemoteAction::Attach {
            boards,
            job,
            from_start,
        } => job::attach(&Remote::new(&boards, home)?, job.as_deref(), from_start),
        RemoteAction::Jobs { boards } => job::list(&Remote::new(&boards, home)?),
        RemoteAction::Fetch { boards } => {
            let r = Remote::new(&boards, home)?;
            r.each("fetch", |h| fetch::fetch(&r, h))
        }
    }
}

/// The boards of one command and how to reach them.
pub struct Remote {
    pub ssh: Ssh,
    pub hosts: Vec<Host>,
    /// More than one board, or a hosts file: parallel, prefixed, summarised.
    pub fleet: bool,
    pub jobs: usize,
    pub remote_bin: String,
    pub remote_home: Option<String>,
    /// The local state directory (fetched boards and followed jobs live under hosts/).
    pub home: PathBuf,
}

impl Remote {
    fn new(b: &RemoteBoards, home: Option<&Path>) -> Result<Remote> {
        for o in &b.ssh_options {
            match o.split_once('=') {
                Some((k, _)) if !k.trim().is_empty() && !k.starts_with('-') => {}
                _ => bail!("--ssh-option '{o}': expected KEY=VALUE (for example ConnectTimeout=5)"),
            }
        }
        if b.jobs == 0 {
            bail!("--jobs 0: at least one board must be worked on at a time");
        }
        if let Some(f) = &b.ssh_config {
            if !f.is_file() {
                bail!("--ssh-config {}: no such file", f.display());
            }
        }
        let hosts = match (&b.host, &b.hosts) {
            (Some(spec), None) => vec![Host::parse(spec)?],
            (None, Some(file)) => {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("reading the hosts file {}", file.display()))?;
                parse_inventory(&text, &file.display().to_string(), b.group.as_deref())?
            }
            _ => bail!("name a board (HOST) or a hosts file (--hosts FILE)"),
        };
        let fleet = b.hosts.is_some();
        Ok(Remote {
            ssh: Ssh {
                config: b.ssh_config.clone(),
                options: b.ssh_options.clone(),
                batch: fleet,
            },
            hosts,
            fleet,
            jobs: b.jobs,
            remote_bin: b.remote_bin.clone(),
            remote_home: b.remote_home.clone(),
            home: state::home(home)?,
        })
    }

    /// This board's folder in the local state directory.
    pub fn local_dir(&self, host: &Host) -> PathBuf {
        state::host_dir(&self.home, host)
    }

    /// Each board's name beside its result (errors as their one line), for [`summarise`].
    pub fn rows(&self, results: Vec<Result<String>>) -> Vec<(String, Result<String, String>)> {
        self.hosts
            .iter()
            .zip(results)
            .map(|(h, r)| (h.name.clone(), r.map_err(|e| format!("{e:#}"))))
            .collect()
    }

    /// Runs `work` on every board; one board: its result line or its error; a fleet: a table.
    fn each<F>(&self, verb: &str, work: F) -> Result<()>
    where
        F: Fn(&Host) -> Result<String> + Sync,
    {
        if !self.fleet {
            let line = work(&self.hosts[0])?;
            println!("{}: {line}", self.hosts[0].name);
            return Ok(());
        }
        let results = fleet::fan_out(&self.hosts, self.jobs, |h| work(h));
        summarise(verb, &self.rows(results))
    }
}

pub use edgenas_remote::jobs::succeeded;

/// The fleet's table, and an error when any board failed.
pub fn summarise(verb: &str, rows: &[(String, Result<String, String>)]) -> Result<()> {
    let width = rows.iter().map(|(h, _)| h.len()).max().unwrap_or(4).max(4);
    println!("{:<width$}  {:<6}  detail", "host", "result");
    for (host, r) in rows {
        match r {
            Ok(line) => println!("{host:<width$}  {:<6}  {line}", "ok"),
            Err(e) => println!("{host:<width$}  {:<6}  {e}", "FAILED"),
        }
    }
    let failed = rows.iter().filter(|(_, r)| r.is_err()).count();
    if failed > 0 {
        return Err(Exit {
            // The status is the number of boards that failed (capped below the shell's 126).
            code: failed.min(125) as u8,
            message: Some(format!(
                "{verb}: {failed} of {} boards failed (see the table above)",
                rows.len()
            )),
        }
        .into());
    }
    Ok(())
}
