//! Jobs on a board: a command runs there in its own session with its output in the job's log;
//! this side lists jobs, starts one, and follows a log from an offset until the job ends. A
//! dropped link stops the following, never the job; how much of a log was shown is kept in a
//! file here so that a later follow shows the rest.

use std::io::Read;
use std::path::Path;
use std::process::Output;

use crate::ssh::{classify, marked};
use crate::{scripts, Host, RemoteError, Ssh};

/// A job as the board lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: String,
    pub state: String,
    pub command: String,
}

/// The output of a board-side script that must have succeeded; else `what` failed, with the
/// board's stderr.
pub fn succeeded(host: &Host, what: &str, out: Output) -> Result<Output, RemoteError> {
    if !out.status.success() {
        return Err(RemoteError::Remote {
            host: host.name.clone(),
            detail: format!(
                "{what} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(out)
}

/// The board's jobs, oldest first (ids are UTC times).
pub fn list(ssh: &Ssh, host: &Host, remote_home: Option<&str>) -> Result<Vec<Job>, RemoteError> {
    let out = ssh.run(host, &scripts::jobs(remote_home), b"")?;
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

/// The id of the board's newest job.
pub fn newest(ssh: &Ssh, host: &Host, remote_home: Option<&str>) -> Result<String, RemoteError> {
    list(ssh, host, remote_home)?
        .pop()
        .map(|j| j.id)
        .ok_or_else(|| RemoteError::Remote {
            host: host.name.clone(),
            detail: "no jobs on the board (start one with `edgenas remote run`)".into(),
        })
}

/// Starts `args` as a job of the board's edgenas at `remote_bin`; its id.
pub fn start(
    ssh: &Ssh,
    host: &Host,
    remote_bin: &str,
    args: &[String],
    remote_home: Option<&str>,
) -> Result<String, RemoteError> {
    let script = scripts::start(remote_bin, args, remote_home);
    let out = succeeded(host, "starting the job", ssh.run(host, &script, b"")?)?;
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if id.is_empty() {
        return Err(RemoteError::Remote {
            host: host.name.clone(),
            detail: "the job did not start (the board gave no job id)".into(),
        });
    }
    Ok(id)
}

/// A job id as a file name here.
pub fn file_name(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// How following a log ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Followed {
    /// The job ended with this status.
    Exited(i32),
    /// The link dropped (why); the job goes on on the board.
    Lost(String),
}

/// Shows job `id`'s log from `offset` through `sink` until the job ends, recording in `shown`
/// how many bytes were shown.
pub fn follow(
    ssh: &Ssh,
    host: &Host,
    id: &str,
    offset: u64,
    remote_home: Option<&str>,
    shown: &Path,
    sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<Followed, RemoteError> {
    if let Some(dir) = shown.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let script = scripts::stream(id, offset, remote_home);
    let mut child = ssh.spawn(host, &script)?;
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
        sink(&buf[..n])?;
        at += n as u64;
        // Not fsynced: losing the last figure in a crash only shows some output twice.
        let _ = std::fs::write(shown, at.to_string());
    }
    let status = child.wait()?;
    let stderr = errors.join().unwrap_or_default();
    match status.code() {
        None => Ok(Followed::Lost("ssh was killed".into())),
        Some(255) => match classify(host, &stderr) {
            // Never connected: say why, as for any other command.
            e @ (RemoteError::AuthRefused { .. }
            | RemoteError::HostKeyChanged { .. }
            | RemoteError::HostKeyUnknown { .. }) => Err(e),
            e => Ok(Followed::Lost(e.to_string())),
        },
        Some(code) => match marked(&stderr) {
            Some(detail) => Err(RemoteError::Remote {
                host: host.name.clone(),
                detail,
            }),
            None => Ok(Followed::Exited(code)),
        },
    }
}

/// Splits a stream into whole lines for a fleet's prefixed output: a line is given out once
/// its newline arrives, and of a line that progress bars redrew with '\r' only the last state.
#[derive(Debug, Default)]
pub struct Lines {
    partial: Vec<u8>,
}

impl Lines {
    /// Adds `bytes`; calls `line` with each line they complete (without its newline).
    pub fn push<E>(
        &mut self,
        bytes: &[u8],
        line: &mut dyn FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        self.partial.extend_from_slice(bytes);
        while let Some(nl) = self.partial.iter().position(|&b| b == b'\n') {
            let whole: Vec<u8> = self.partial.drain(..=nl).collect();
            let whole = &whole[..whole.len() - 1];
            let last = match whole.iter().rposition(|&b| b == b'\r') {
                Some(cr) if cr + 1 < whole.len() => &whole[cr + 1..],
                _ => whole,
            };
            line(last)?;
        }
        Ok(())
    }

    /// What is left without a newline.
    pub fn rest(&mut self) -> Option<Vec<u8>> {
        (!self.partial.is_empty()).then(|| std::mem::take(&mut self.partial))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_the_last_redraw_and_wait_for_newlines() {
        let mut l = Lines::default();
        let mut got: Vec<String> = Vec::new();
        let mut take = |b: &[u8]| -> Result<(), ()> {
            got.push(String::from_utf8_lossy(b).into_owned());
            Ok(())
        };
        l.push(b"a\nprogress 1\rprogress 2\nhal", &mut take)
            .unwrap();
        l.push(b"f", &mut take).unwrap();
        assert_eq!(got, ["a", "progress 2"]);
        assert_eq!(l.rest().as_deref(), Some(&b"half"[..]));
        assert_eq!(l.rest(), None);
    }
}
