//! The system `ssh`: one command line for every remote call, and its failures as one line each.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

use crate::{quote, Host, RemoteError};

/// How ssh is called: the user's config file and options come first (ssh keeps the first value
/// it sees for an option), then our defaults. Host-key checking is left as the user has it.
#[derive(Debug, Clone, Default)]
pub struct Ssh {
    /// `-F FILE`.
    pub config: Option<PathBuf>,
    /// `-o KEY=VALUE` each.
    pub options: Vec<String>,
    /// No password or passphrase prompts (a fleet's prompts would interleave and hang).
    pub batch: bool,
}

/// ssh's own failures exit 255; anything else is the remote command's status.
const SSH_FAILED: i32 = 255;
/// What our board-side scripts prefix their own errors with, on stderr.
pub const MARKER: &str = "edgenas-remote: ";

impl Ssh {
    /// `ssh … DEST sh -c SCRIPT`: the script runs under the board's POSIX `sh` whatever the
    /// user's login shell is.
    pub fn command(&self, host: &Host, script: &str) -> Command {
        let mut c = Command::new("ssh");
        if let Some(f) = &self.config {
            c.arg("-F").arg(f);
        }
        for o in &self.options {
            c.arg("-o").arg(o);
        }
        // A dropped link is noticed within a minute instead of the TCP timeout's hours.
        c.args(["-o", "ConnectTimeout=15"])
            .args(["-o", "ServerAliveInterval=15"])
            .args(["-o", "ServerAliveCountMax=4"]);
        if self.batch {
            c.args(["-o", "BatchMode=yes"]);
        }
        if let Some(p) = host.port {
            c.arg("-p").arg(p.to_string());
        }
        c.arg("-T")
            .arg("--")
            .arg(&host.destination)
            .arg(format!("sh -c {}", quote::word(script)));
        c
    }

    /// Runs `script` on the board with `stdin` fed to it; ssh's own failures become errors,
    /// the remote status is the caller's to read.
    pub fn run(&self, host: &Host, script: &str, stdin: &[u8]) -> Result<Output, RemoteError> {
        let mut child = self
            .command(host, script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(RemoteError::SshMissing)?;
        let mut input = child.stdin.take().expect("stdin is piped");
        let out = std::thread::scope(|s| {
            // Fed from a thread: a large stdin and a chatty remote must not block each other.
            s.spawn(move || {
                let _ = input.write_all(stdin);
            });
            child.wait_with_output()
        })?;
        check(host, &out)?;
        Ok(out)
    }

    /// Starts `script` with stdout and stderr piped, for streaming.
    pub fn spawn(&self, host: &Host, script: &str) -> Result<Child, RemoteError> {
        self.command(host, script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(RemoteError::SshMissing)
    }
}

/// ssh's exit 255 (or death by a signal) as an error; our scripts' marked errors too.
pub fn check(host: &Host, out: &Output) -> Result<(), RemoteError> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(SSH_FAILED) => Err(classify(host, &stderr)),
        None => Err(RemoteError::Ssh {
            host: host.name.clone(),
            detail: "ssh was killed".into(),
        }),
        Some(_) => {
            if let Some(line) = stderr
                .lines()
                .find(|l| l.contains("No space left on device"))
            {
                return Err(RemoteError::NoSpace {
                    host: host.name.clone(),
                    detail: line.trim().to_string(),
                });
            }
            match marked(&stderr) {
                Some(detail) => Err(match detail.strip_prefix("missing ") {
                    Some(path) => RemoteError::MissingEdgenas {
                        host: host.name.clone(),
                        path: path.to_string(),
                    },
                    None => RemoteError::Remote {
                        host: host.name.clone(),
                        detail,
                    },
                }),
                None => Ok(()),
            }
        }
    }
}

/// The first error our board-side scripts reported, if any.
pub fn marked(stderr: &str) -> Option<String> {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix(MARKER))
        .map(str::to_string)
}

/// ssh's stderr of a failed connection as the error a user can act on.
pub fn classify(host: &Host, stderr: &str) -> RemoteError {
    let h = host.name.clone();
    let has = |s: &str| stderr.contains(s);
    if has("REMOTE HOST IDENTIFICATION HAS CHANGED") {
        return RemoteError::HostKeyChanged { host: h };
    }
    if has("Host key verification failed")
        || has("No ED25519 host key is known")
        || has("No RSA host key is known")
        || has("No ECDSA host key is known")
    {
        return RemoteError::HostKeyUnknown { host: h };
    }
    if has("Permission denied") || has("Too many authentication failures") {
        return RemoteError::AuthRefused { host: h };
    }
    for what in [
        "Could not resolve hostname",
        "Connection refused",
        "No route to host",
        "Connection timed out",
        "Network is unreachable",
        "Operation timed out",
        "Connection reset",
        "Connection closed by remote host",
        "Timeout, server",
        "Broken pipe",
    ] {
        if has(what) {
            return RemoteError::Unreachable {
                host: h,
                detail: last_line(stderr),
            };
        }
    }
    RemoteError::Ssh {
        host: h,
        detail: last_line(stderr),
    }
}

fn last_line(s: &str) -> String {
    let line = s
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("ssh exited with status 255 and said nothing");
    line.strip_prefix("ssh: ").unwrap_or(line).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Host {
        Host::parse("pi@board:2222").unwrap()
    }

    #[test]
    fn the_command_line_puts_the_users_options_first_and_never_weakens_host_keys() {
        let ssh = Ssh {
            config: Some("/tmp/cfg".into()),
            options: vec!["ConnectTimeout=3".into(), "ProxyJump=bastion".into()],
            batch: true,
        };
        let c = ssh.command(&host(), "echo 'hi'; exit 3");
        let args: Vec<String> = c
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let pos = |s: &str| args.iter().position(|a| a == s).unwrap();
        assert_eq!(args[..2], ["-F", "/tmp/cfg"]);
        assert!(pos("ConnectTimeout=3") < pos("ConnectTimeout=15"));
        assert!(args.contains(&"ProxyJump=bastion".to_string()));
        assert!(args.contains(&"BatchMode=yes".to_string()));
        assert!(!args.iter().any(|a| a.contains("StrictHostKeyChecking")));
        assert_eq!(args[pos("-p") + 1], "2222");
        assert_eq!(
            args[args.len() - 3..],
            ["--", "pi@board", r#"sh -c 'echo '\''hi'\''; exit 3'"#]
        );
    }

    #[test]
    fn ssh_failures_read_as_what_to_do() {
        // The texts are OpenSSH 9's.
        let cases = [
            ("ssh: connect to host 127.0.0.1 port 1: Connection refused", "unreachable"),
            ("ssh: Could not resolve hostname nope: Name or service not known", "unreachable"),
            ("root@127.0.0.1: Permission denied (publickey).", "ssh-copy-id"),
            ("@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n...\nHost key verification failed.", "ssh-keygen -R"),
            ("No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict checking.\nHost key verification failed.", "connect once"),
            ("kex_exchange_identification: read: weird", "weird"),
        ];
        for (stderr, expect) in cases {
            let e = classify(&host(), stderr).to_string();
            assert!(e.starts_with("pi@board:2222: "), "{e}");
            assert!(e.contains(expect), "{stderr:?} gave {e}");
        }
        assert_eq!(
            marked("noise\nedgenas-remote: no job x\n").as_deref(),
            Some("no job x")
        );
    }

    #[test]
    fn remote_statuses_read_as_what_happened() {
        use std::os::unix::process::ExitStatusExt;
        let output = |code: i32, stderr: &str| Output {
            status: std::process::ExitStatus::from_raw(code << 8),
            stdout: Vec::new(),
            stderr: stderr.as_bytes().to_vec(),
        };
        assert!(check(&host(), &output(0, "")).is_ok());
        // A command's own failure is the caller's to read.
        assert!(check(&host(), &output(1, "some error")).is_ok());
        let e = check(&host(), &output(1, "cat: /x/.edgenas.upload.9: No space left on device\nedgenas-remote: writing failed"));
        assert!(matches!(e, Err(RemoteError::NoSpace { .. })), "{e:?}");
        let e = check(
            &host(),
            &output(127, "edgenas-remote: missing /opt/edgenas"),
        );
        assert!(e
            .unwrap_err()
            .to_string()
            .contains("edgenas remote deploy pi@board:2222"));
        let e = check(
            &host(),
            &output(
                255,
                "ssh: connect to host board port 2222: No route to host",
            ),
        );
        assert!(matches!(e, Err(RemoteError::Unreachable { .. })), "{e:?}");
        assert_eq!(marked("plain error\n"), None);
    }
}
