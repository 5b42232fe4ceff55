//! `remote run|attach|jobs`: a command runs on the board in its own session, its output in the
//! job's log there; we only follow it. A dropped link stops the following, never the job, and
//! how much of the log was shown here is kept per job so that `attach` shows the rest.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{anyhow, Result};
use edgenas_remote::jobs::{self, Followed, Lines};
use edgenas_remote::{fleet, Host};

use super::{summarise, Remote};
use crate::output::Exit;

pub fn run(r: &Remote, args: &[String], detach: bool) -> Result<()> {
    if !r.fleet {
        let host = &r.hosts[0];
        let id = jobs::start(&r.ssh, host, &r.remote_bin, args, r.remote_home.as_deref())?;
        if detach {
            println!("{id}");
            eprintln!(
                "started job {id} on {0}; follow it with `edgenas remote attach {0} {id}`",
                host.name
            );
            return Ok(());
        }
        eprintln!(
            "job {id} on {0} (if the link drops: `edgenas remote attach {0} {id}`)",
            host.name
        );
        let status = follow(r, host, &id, 0, &mut Plain)?;
        return exit_with(status);
    }
    let out = Mutex::new(());
    let rows = fleet::fan_out(&r.hosts, r.jobs, |host| {
        let id = jobs::start(&r.ssh, host, &r.remote_bin, args, r.remote_home.as_deref())?;
        if detach {
            return Ok(format!("started job {id}"));
        }
        let status = follow(r, host, &id, 0, &mut Prefixed::new(&host.name, &out))?;
        job_result(&id, status)
    });
    summarise("run", &r.rows(rows))
}

pub fn attach(r: &Remote, job: Option<&str>, from_start: bool) -> Result<()> {
    let pick = |host: &Host| -> Result<(String, u64)> {
        let id = match job {
            Some(j) => j.to_string(),
            None => jobs::newest(&r.ssh, host, r.remote_home.as_deref())?,
        };
        let offset = if from_start {
            0
        } else {
            std::fs::read_to_string(shown_file(r, host, &id))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0)
        };
        Ok((id, offset))
    };
    if !r.fleet {
        let host = &r.hosts[0];
        let (id, offset) = pick(host)?;
        if offset > 0 {
            eprintln!(
                "job {id} on {}: the output not shown yet (--from-start shows all of it)",
                host.name
            );
        }
        let status = follow(r, host, &id, offset, &mut Plain)?;
        return exit_with(status);
    }
    let out = Mutex::new(());
    let rows = fleet::fan_out(&r.hosts, r.jobs, |host| {
        let (id, offset) = pick(host)?;
        let status = follow(r, host, &id, offset, &mut Prefixed::new(&host.name, &out))?;
        job_result(&id, status)
    });
    summarise("attach", &r.rows(rows))
}

pub fn list(r: &Remote) -> Result<()> {
    let listed = fleet::fan_out(&r.hosts, r.jobs, |host| {
        jobs::list(&r.ssh, host, r.remote_home.as_deref())
    });
    if !r.fleet {
        let jobs = listed.into_iter().next().expect("one board")?;
        if jobs.is_empty() {
            println!("no jobs on {}", r.hosts[0].name);
            return Ok(());
        }
        println!("{:<24}  {:<9}  command", "job", "state");
        for j in jobs {
            println!("{:<24}  {:<9}  {}", j.id, j.state, j.command);
        }
        return Ok(());
    }
    let mut rows = Vec::new();
    println!("{:<16}  {:<24}  {:<9}  command", "host", "job", "state");
    for (host, jobs) in r.hosts.iter().zip(listed) {
        match jobs {
            Ok(jobs) => {
                for j in &jobs {
                    println!(
                        "{:<16}  {:<24}  {:<9}  {}",
                        host.name, j.id, j.state, j.command
                    );
                }
                let running = jobs.iter().filter(|j| j.state == "running").count();
                rows.push((
                    host.name.clone(),
                    Ok(format!("{} job(s), {running} running", jobs.len())),
                ));
            }
            Err(e) => rows.push((host.name.clone(), Err(format!("{e:#}")))),
        }
    }
    summarise("jobs", &rows)
}

/// Shows job `id`'s log from `offset` until it ends: its exit status, or an error that says
/// how to attach again when the link dropped.
fn follow(r: &Remote, host: &Host, id: &str, offset: u64, sink: &mut dyn Sink) -> Result<i32> {
    let shown = shown_file(r, host, id);
    let followed = jobs::follow(
        &r.ssh,
        host,
        id,
        offset,
        r.remote_home.as_deref(),
        &shown,
        &mut |bytes| sink.write(bytes),
    )?;
    sink.finish()?;
    match followed {
        Followed::Exited(code) => Ok(code),
        Followed::Lost(why) => Err(Exit {
            code: 255,
            message: Some(format!(
                "{0}: connection lost ({why}); job {id} goes on on the board: `edgenas remote attach {0} {id}` shows the rest",
                host.name
            )),
        }
        .into()),
    }
}

/// Where this machine keeps how many bytes of a job's log it has shown.
fn shown_file(r: &Remote, host: &Host, id: &str) -> PathBuf {
    let name = format!("{}.shown", jobs::file_name(id));
    r.local_dir(host).join("jobs").join(name)
}

fn exit_with(status: i32) -> Result<()> {
    match status {
        0 => Ok(()),
        c => Err(Exit {
            code: u8::try_from(c).unwrap_or(1),
            message: None,
        }
        .into()),
    }
}

fn job_result(id: &str, status: i32) -> Result<String> {
    match status {
        0 => Ok(format!("job {id}: exit 0")),
        c => Err(anyhow!("job {id}: exit {c}")),
    }
}

/// Where a job's output goes here.
trait Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()>;
    fn finish(&mut self) -> std::io::Result<()>;
}

/// One board: the bytes as they come.
struct Plain;

impl Sink for Plain {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(bytes)?;
        out.flush()
    }
    fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A fleet: whole lines, each behind its board's name, never interleaved mid-line.
struct Prefixed<'a> {
    name: &'a str,
    lines: Lines,
    lock: &'a Mutex<()>,
}

impl<'a> Prefixed<'a> {
    fn new(name: &'a str, lock: &'a Mutex<()>) -> Prefixed<'a> {
        Prefixed {
            name,
            lines: Lines::default(),
            lock,
        }
    }
}

fn emit(name: &str, lock: &Mutex<()>, line: &[u8]) -> std::io::Result<()> {
    let _held = lock.lock().unwrap_or_else(|p| p.into_inner());
    let mut out = std::io::stdout().lock();
    write!(out, "{name} | ")?;
    out.write_all(line)?;
    out.write_all(b"\n")?;
    out.flush()
}

impl Sink for Prefixed<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let (name, lock) = (self.name, self.lock);
        self.lines.push(bytes, &mut |line| emit(name, lock, line))
    }
    fn finish(&mut self) -> std::io::Result<()> {
        match self.lines.rest() {
            Some(rest) => emit(self.name, self.lock, &rest),
            None => Ok(()),
        }
    }
}
