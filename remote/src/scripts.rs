//! The POSIX shell programs run on the board. They need only what every Raspberry Pi OS,
//! Ubuntu (Jetson, RK3588) and BusyBox userland has: sh, uname, getconf, df, sha256sum, tar,
//! setsid (else the job still runs, only in the login session's process group).
//!
//! Jobs live in the board's state directory, one folder each:
//! `jobs/<UTC time>-<pid>/{command, pid, log, status}`; `status` appears (by rename) only when
//! the command has ended, so "no status and no process" means the job was killed or the board
//! rebooted.

use crate::quote;

/// Where edgenas keeps its state on the board: the same rule as the binary's, evaluated in the
/// board's environment, or the path given.
pub fn home(remote_home: Option<&str>) -> String {
    match remote_home {
        Some(p) => format!("home={}\n", quote::path(p)),
        None => r#"home=${EDGENAS_HOME:-}
if [ -z "$home" ] && [ -n "${XDG_DATA_HOME:-}" ]; then home=$XDG_DATA_HOME/edgenas; fi
if [ -z "$home" ]; then home=$HOME/.local/share/edgenas; fi
"#
        .to_string(),
    }
}

/// How the board runs edgenas: directly, or behind `$EDGENAS_REMOTE_RUNNER` (a prefix such as
/// `qemu-aarch64 -L /usr/aarch64-linux-gnu`, set in the board's environment by tests that
/// emulate a board).
const RUNNER: &str = "${EDGENAS_REMOTE_RUNNER:-}";

/// What the board is: `key=value` lines (arch, bits, libc, avail_kib, sha256 of the installed
/// binary, bin).
pub fn probe(bin: &str) -> String {
    format!(
        r#"bin={bin}
echo "arch=$(uname -m)"
echo "bits=$(getconf LONG_BIT 2>/dev/null)"
echo "libc=$(getconf GNU_LIBC_VERSION 2>/dev/null || ldd --version 2>&1 | head -n 1)"
dir=$(dirname "$bin")
mkdir -p "$dir" 2>/dev/null
echo "avail_kib=$(df -Pk "$dir" 2>/dev/null | awk 'NR == 2 {{ print $4 }}')"
if [ -f "$bin" ]; then echo "sha256=$(sha256sum "$bin" | cut -d ' ' -f 1)"; else echo "sha256="; fi
echo "bin=$bin"
"#,
        bin = quote::path(bin)
    )
}

/// Reads the binary from stdin into a temporary name beside `bin`, checks its sha256, then
/// renames it over `bin`: a board never has a half-written edgenas. Prints the installed
/// binary's `--version`.
pub fn install(bin: &str, sha256: &str) -> String {
    format!(
        r#"bin={bin}
dir=$(dirname "$bin")
mkdir -p "$dir" || exit 1
tmp=$dir/.edgenas.upload.$$
trap 'rm -f "$tmp"' EXIT
if ! cat > "$tmp"; then echo "{m}writing $tmp failed" >&2; exit 1; fi
sum=$(sha256sum "$tmp" | cut -d ' ' -f 1)
if [ "$sum" != {sha} ]; then echo "{m}the copy on the board has sha256 $sum, not {sha} (damaged in transfer); nothing was replaced" >&2; exit 1; fi
chmod 755 "$tmp" && mv -f "$tmp" "$bin" || exit 1
trap - EXIT
{RUNNER} "$bin" --version
"#,
        bin = quote::path(bin),
        sha = quote::word(sha256),
        m = crate::ssh::MARKER,
    )
}

/// Starts `edgenas ARGS` on the board in its own session, detached from the SSH connection:
/// output to the job's log, the exit status written when it ends. Prints the job id.
pub fn start(bin: &str, args: &[String], remote_home: Option<&str>) -> String {
    let shown = format!("edgenas {}", quote::words(args));
    format!(
        r#"{home}bin={bin}
if [ ! -f "$bin" ]; then echo "{m}missing $bin" >&2; exit 127; fi
mkdir -p "$home/jobs" || exit 1
id=$(date -u +%Y%m%dT%H%M%SZ)-$$
d=$home/jobs/$id
mkdir "$d" || exit 1
printf '%s\n' {shown} > "$d/command"
cd "$HOME" || exit 1
if command -v setsid > /dev/null 2>&1; then s=setsid; else s=; fi
$s sh -c 'd=$1; shift; echo $$ > "$d/pid"; "$@" > "$d/log" 2>&1 < /dev/null; echo $? > "$d/status.part"; mv "$d/status.part" "$d/status"' edgenas-job "$d" {RUNNER} "$bin" {args} > /dev/null 2>&1 < /dev/null &
echo "$id"
"#,
        home = home(remote_home),
        bin = quote::path(bin),
        shown = quote::word(&shown),
        args = quote::words(args),
        m = crate::ssh::MARKER,
    )
}

/// Streams a job's log from byte `offset` until the job ends, then exits with its status.
pub fn stream(job: &str, offset: u64, remote_home: Option<&str>) -> String {
    format!(
        r#"{home}id={id}
d=$home/jobs/$id
if [ ! -d "$d" ]; then echo "{m}no job '$id' on the board (list them with: edgenas remote jobs)" >&2; exit 2; fi
i=0
while [ ! -s "$d/pid" ] && [ ! -f "$d/status" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
pid=$(cat "$d/pid" 2>/dev/null || echo none)
off={offset}
show() {{
  size=$(wc -c < "$d/log" 2>/dev/null || echo 0)
  size=$((size + 0))
  if [ "$size" -gt "$off" ]; then tail -c +$((off + 1)) "$d/log" | head -c $((size - off)); off=$size; fi
}}
while :; do
  if [ -f "$d/status" ]; then show; exit "$(cat "$d/status")"; fi
  show
  if ! kill -0 "$pid" 2>/dev/null && [ ! -f "$d/status" ]; then
    show
    echo "{m}job $id ended without an exit status (killed, or the board rebooted)" >&2
    exit 3
  fi
  sleep 0.2
done
"#,
        home = home(remote_home),
        id = quote::word(job),
        m = crate::ssh::MARKER,
    )
}

/// One line per job: `id \t state \t command`, state being `running`, `exit N` or `lost`.
pub fn jobs(remote_home: Option<&str>) -> String {
    format!(
        r#"{home}[ -d "$home/jobs" ] || exit 0
for d in "$home"/jobs/*/; do
  [ -d "$d" ] || continue
  d=${{d%/}}
  if [ -f "$d/status" ]; then state="exit $(cat "$d/status")"
  elif kill -0 "$(cat "$d/pid" 2>/dev/null || echo none)" 2>/dev/null; then state=running
  else state=lost; fi
  printf '%s\t%s\t%s\n' "${{d##*/}}" "$state" "$(head -n 1 "$d/command" 2>/dev/null)"
done
"#,
        home = home(remote_home)
    )
}

/// What `fetch` copies, relative to the state directory (the feature cache is rebuilt anywhere).
pub const FETCHED: [&str; 5] = [
    "measurements.journal",
    "embeddings",
    "predictors",
    "runs",
    "jobs",
];

/// A tar stream of the state directory's results on stdout (nothing when there are none).
pub fn fetch(remote_home: Option<&str>) -> String {
    format!(
        r#"{home}cd "$home" 2>/dev/null || exit 0
set --
for f in {files}; do if [ -e "$f" ]; then set -- "$@" "$f"; fi; done
[ $# -gt 0 ] || exit 0
tar -cf - "$@"
rc=$?
# GNU tar's 1 is "a file changed as we read it": a job appending to the journal meanwhile. The
# copy's torn tail is cut when it is merged; the record comes with the next fetch.
if [ $rc -eq 1 ]; then exit 0; fi
exit $rc
"#,
        home = home(remote_home),
        files = FETCHED.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Every script is valid POSIX sh (parsed, not run, by the machine's sh).
    #[test]
    fn scripts_parse_under_sh() {
        let args = vec!["profile".to_string(), "a b; $(x)".to_string()];
        for s in [
            probe("~/.local/bin/edgenas"),
            install("/opt/x y/edgenas", "ab12"),
            start("~/bin/edgenas", &args, None),
            stream("20260101T000000Z-1", 10, Some("/srv/e home")),
            jobs(None),
            fetch(None),
        ] {
            let out = Command::new("sh")
                .arg("-n")
                .arg("-c")
                .arg(&s)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{s}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// A job started, followed from an offset, listed: run for real under the machine's sh,
    /// with a home in a temporary folder standing in for the board.
    #[test]
    fn a_job_runs_detached_and_is_followed_to_its_status() {
        let dir = std::env::temp_dir().join(format!("edgenas-scripts-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let bin = dir.join("bin dir/edgenas");
        std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
        // A stand-in edgenas: prints its arguments one per line, slowly, then exits 7.
        std::fs::write(
            &bin,
            "#!/bin/sh\nfor a in \"$@\"; do echo \"arg:$a\"; sleep 0.1; done\nexit 7\n",
        )
        .unwrap();
        Command::new("chmod").arg("755").arg(&bin).status().unwrap();
        let home = dir.join("state");
        let home = home.to_str().unwrap();
        let args: Vec<String> = ["one", "two words", "$(touch pwned)", "it's"]
            .map(String::from)
            .to_vec();
        let sh = |script: &str| Command::new("sh").arg("-c").arg(script).output().unwrap();
        let started = sh(&start(bin.to_str().unwrap(), &args, Some(home)));
        assert!(started.status.success(), "{started:?}");
        let id = String::from_utf8(started.stdout)
            .unwrap()
            .trim()
            .to_string();
        let followed = sh(&stream(&id, 0, Some(home)));
        assert_eq!(followed.status.code(), Some(7));
        let log = String::from_utf8(followed.stdout).unwrap();
        assert_eq!(
            log,
            "arg:one\narg:two words\narg:$(touch pwned)\narg:it's\n"
        );
        // From an offset: the rest only.
        let rest = sh(&stream(&id, 8, Some(home)));
        assert_eq!(String::from_utf8(rest.stdout).unwrap(), &log[8..]);
        let listed = String::from_utf8(sh(&jobs(Some(home))).stdout).unwrap();
        assert!(
            listed.starts_with(&format!("{id}\texit 7\tedgenas one 'two words'")),
            "{listed}"
        );
        assert!(!std::path::Path::new(&std::env::var("HOME").unwrap())
            .join("pwned")
            .exists());
        let missing = sh(&stream("nope", 0, Some(home)));
        assert_eq!(missing.status.code(), Some(2));
        assert!(
            crate::ssh::marked(&String::from_utf8_lossy(&missing.stderr))
                .unwrap()
                .contains("no job 'nope'")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
