//! `remote run|attach|jobs`: a command runs on the board in its own session, its output in the
//! job's log there; we only follow it. A dropped link stops the following, never the job, and
//! how much of the log was shown here is kept per job so that `attach` shows the rest.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{anyhow, bail, Result};
use edgenas_remote::ssh::{classify, marked};
use edgenas_remote::{fleet, scripts, Host, RemoteError};

use super::{succeeded, summarise, Remote};
use crate::output::Exit;

pub fn run(r: &Remote, args: &[String], detach: bool) -> Result<()> {
    if !r.fleet {
        let host = &r.hosts[0];
        let id = start(r, host, args)?;
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
        let id = start(r, host, args)?;
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
            None => newest_job(r, host)?,
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
    let listed = fleet::fan_out(&r.hosts, r.jobs, |host| jobs_of(r, host));
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

struct Job {
    id: String,
    state: String,
    command: String,
}

fn jobs_of(r: &Remote, host: &Host) -> Result<Vec<Job>> {
    let out = r
        .ssh
        .run(host, &scripts::jobs(r.remote_home.as_deref()), b"")?;
    let out = succeeded(host, "listing jobs", out)?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, '\t');
            Some(Job {
                id: f.next()?.to_string(),
                state: f.next()?.to_string(),
                command: f.next().unwrap_or("").to_string(),
            })
        })
        .collect())
}

fn newest_job(r: &Remote, host: &Host) -> Result<String> {
    // Ids are UTC times: the listing's order is their age.
    jobs_of(r, host)?.pop().map(|j| j.id).ok_or_else(|| {
        anyhow!(
            "{}: no jobs on the board (start one with `edgenas remote run`)",
            host.name
        )
    })
}

fn start(r: &Remote, host: &Host, args: &[String]) -> Result<String> {
    let script = scripts::start(&r.remote_bin, args, r.remote_home.as_deref());
    let out = succeeded(host, "starting the job", r.ssh.run(host, &script, b"")?)?;
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if id.is_empty() {
        bail!(
            "{}: the job did not start (the board gave no job id)",
            host.name
        );
    }
    Ok(id)
}

/// Where this machine keeps how many bytes of a job's log it has shown.
fn shown_file(r: &Remote, host: &Host, id: &str) -> PathBuf {
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    r.local_dir(host).join("jobs").join(format!("{safe}.shown"))
}

/// Shows the job's log from `offset` until it ends; its exit status.
fn follow(r: &Remote, host: &Host, id: &str, offset: u64, sink: &mut dyn Sink) -> Result<i32> {
    let shown = shown_file(r, host, id);
    if let Some(dir) = shown.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let script = scripts::stream(id, offset, r.remote_home.as_deref());
    let mut child = r.ssh.spawn(host, &script)?;
    let mut stderr = child.stderr.take().expect("piped");
    let errors = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut stdout = child.stdout.take().expect("piped");
    let mut at = offset;
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match stdout.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        sink.write(&buf[..n])?;
        at += n as u64;
        // Not fsynced: losing the last figure in a crash only shows some output twice.
        let _ = std::fs::write(&shown, at.to_string());
    }
    sink.finish()?;
    let status = child.wait()?;
    let stderr = errors.join().unwrap_or_default();
    match status.code() {
        Some(255) | None => {
            let why = match status.code() {
                None => "ssh was killed".to_string(),
                Some(_) => match classify(host, &stderr) {
                    // Never connected: say why, as for any other command.
                    e @ (RemoteError::AuthRefused { .. }
                    | RemoteError::HostKeyChanged { .. }
                    | RemoteError::HostKeyUnknown { .. }) => return Err(e.into()),
                    e => e.to_string(),
                },
            };
            Err(Exit {
                code: 255,
                message: Some(format!(
                    "{0}: connection lost ({why}); job {id} goes on on the board: `edgenas remote attach {0} {id}` shows the rest",
                    host.name
                )),
            }
            .into())
        }
        Some(code) => match marked(&stderr) {
            Some(detail) => Err(RemoteError::Remote {
                host: host.name.clone(),
                detail,
            }
            .into()),
            None => Ok(code),
        },
    }
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
    fn write(&mut self, bytes: &[u8]) -> Result<()>;
    fn finish(&mut self) -> Result<()>;
}

/// One board: the bytes as they come.
struct Plain;

impl Sink for Plain {
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(bytes)?;
        out.flush()?;
        Ok(())
    }
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

/// A fleet: whole lines, each behind its board's name, never interleaved mid-line.
struct Prefixed<'a> {
    name: &'a str,
    partial: Vec<u8>,
    lock: &'a Mutex<()>,
}

impl<'a> Prefixed<'a> {
    fn new(name: &'a str, lock: &'a Mutex<()>) -> Prefixed<'a> {
        Prefixed {
            name,
            partial: Vec::new(),
            lock,
        }
    }

    fn emit(&self, line: &[u8]) -> Result<()> {
        let _held = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = std::io::stdout().lock();
        write!(out, "{} | ", self.name)?;
        out.write_all(line)?;
        out.write_all(b"\n")?;
        out.flush()?;
        Ok(())
    }
}

impl Sink for Prefixed<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.partial.extend_from_slice(bytes);
        while let Some(nl) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=nl).collect();
            // Progress bars redraw with '\r': keep the last state of the line.
            let line = &line[..line.len() - 1];
            let line = match line.iter().rposition(|&b| b == b'\r') {
                Some(cr) if cr + 1 < line.len() => &line[cr + 1..],
                _ => line,
            };
            self.emit(line)?;
        }
        Ok(())
    }
    fn finish(&mut self) -> Result<()> {
        if !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            self.emit(&rest)?;
        }
        Ok(())
    }
}
