//! `edgenas remote` end to end: real `sshd`s on 127.0.0.1 (Debian's openssh-server, throwaway
//! host and client keys, host-key checking on), boards whose edgenas is the aarch64 release
//! build from `dist/` run under qemu-aarch64, and the native binary driving them as a user's
//! workstation would.
//!
//! A "board" is a folder: `bin/` (first on the session's PATH: `uname -m` says aarch64, and
//! `getconf` can be told to report an old glibc), `state/` (its EDGENAS_HOME). sshd sets that
//! environment with `SetEnv`, including `EDGENAS_REMOTE_RUNNER=qemu-aarch64 -L …`, the runner
//! prefix the board-side scripts put before edgenas (for tests only).
//!
//! These tests need the aarch64 tarball, so they belong to the ARM tier: `scripts/test.sh`
//! runs them with `--ignored` after `cross/build.sh`.

mod common;

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{shared_data, TempDir, ALL_SKIP};

const RUNNER: &str = "qemu-aarch64 -L /usr/aarch64-linux-gnu";

/// An sshd on 127.0.0.1, ended (by its pid) when dropped.
struct Sshd(Child);

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Board {
    name: String,
    root: PathBuf,
    port: u16,
    _sshd: Option<Sshd>,
}

impl Board {
    fn state(&self) -> PathBuf {
        self.root.join("state")
    }
}

/// Throwaway keys, an ssh config with one alias per board, and the boards.
struct Lab {
    dir: TempDir,
    ssh_config: PathBuf,
    boards: Vec<Board>,
    user: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn keygen(path: &Path) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen runs");
    assert!(st.success());
}

fn write_exec(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    Command::new("chmod").arg("755").arg(path).status().unwrap();
}

impl Lab {
    /// Boards named `up` each get an sshd; `down` ones get a port nobody listens on.
    fn new(tag: &str, up: &[&str], down: &[&str]) -> Lab {
        let dir = TempDir::new(tag);
        let d = dir.path().to_path_buf();
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string();
        keygen(&d.join("host_key"));
        keygen(&d.join("id_ed25519"));
        std::fs::copy(d.join("id_ed25519.pub"), d.join("authorized_keys")).unwrap();
        let host_pub = std::fs::read_to_string(d.join("host_key.pub")).unwrap();
        // sshd run as root insists on its privilege-separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        let mut boards = Vec::new();
        for name in up {
            let root = d.join(format!("board {name}"));
            let bin = root.join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            std::fs::create_dir_all(root.join("state")).unwrap();
            let fake = |f: &str| root.join(f).display().to_string();
            write_exec(
                &bin.join("uname"),
                &format!(
                    "#!/bin/sh\nif [ \"$1\" = -m ]; then if [ -f '{0}' ]; then cat '{0}'; else echo aarch64; fi; else exec /bin/uname \"$@\"; fi\n",
                    fake("fake_arch")
                ),
            );
            write_exec(
                &bin.join("getconf"),
                &format!(
                    "#!/bin/sh\nif [ \"$1\" = GNU_LIBC_VERSION ] && [ -f '{0}' ]; then cat '{0}'; exit 0; fi\nexec /usr/bin/getconf \"$@\"\n",
                    fake("fake_glibc")
                ),
            );
            write_exec(
                &bin.join("df"),
                &format!(
                    "#!/bin/sh\nif [ -f '{0}' ]; then echo 'Filesystem 1024-blocks Used Available Capacity Mounted on'; echo \"/dev/root 100 99 $(cat '{0}') 99% /\"; exit 0; fi\nexec /bin/df \"$@\"\n",
                    fake("fake_avail_kib")
                ),
            );
            let port = free_port();
            let config = root.join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nAuthorizedKeysFile {ak}\n\
                     PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
                     StrictModes no\nPermitRootLogin prohibit-password\nPidFile none\nLogLevel ERROR\n\
                     SetEnv \"PATH={bin}:/usr/local/bin:/usr/bin:/bin\" \"EDGENAS_HOME={state}\" \"EDGENAS_REMOTE_RUNNER={RUNNER}\"\n",
                    hk = d.join("host_key").display(),
                    ak = d.join("authorized_keys").display(),
                    bin = bin.display(),
                    state = root.join("state").display(),
                ),
            )
            .unwrap();
            let sshd = Command::new("/usr/sbin/sshd")
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                // Its own log: our readiness probes make it complain on every start.
                .stderr(std::fs::File::create(root.join("sshd.log")).unwrap())
                .spawn()
                .expect("start /usr/sbin/sshd (Debian: openssh-server)");
            boards.push(Board {
                name: name.to_string(),
                root,
                port,
                _sshd: Some(Sshd(sshd)),
            });
        }
        for name in down {
            boards.push(Board {
                name: name.to_string(),
                root: d.join(format!("board {name}")),
                port: free_port(),
                _sshd: None,
            });
        }
        let mut known = String::new();
        let mut config = String::new();
        for b in &boards {
            known.push_str(&format!("[127.0.0.1]:{} {}", b.port, host_pub));
            config.push_str(&format!(
                "Host {}\n  HostName 127.0.0.1\n  Port {}\n",
                b.name, b.port
            ));
        }
        std::fs::write(d.join("known_hosts"), known).unwrap();
        config.push_str(&format!(
            "Host *\n  User {user}\n  IdentityFile {key}\n  IdentitiesOnly yes\n  UserKnownHostsFile {kh}\n  \
             GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  BatchMode yes\n  LogLevel ERROR\n",
            key = d.join("id_ed25519").display(),
            kh = d.join("known_hosts").display(),
        ));
        let ssh_config = d.join("ssh_config");
        std::fs::write(&ssh_config, config).unwrap();
        for b in boards.iter().filter(|b| b._sshd.is_some()) {
            wait_for_sshd(b.port);
        }
        Lab {
            dir,
            ssh_config,
            boards,
            user,
        }
    }

    fn board(&self, name: &str) -> &Board {
        self.boards.iter().find(|b| b.name == name).unwrap()
    }

    fn local_home(&self) -> PathBuf {
        self.dir.path().join("workstation")
    }

    /// `edgenas remote VERB ARGS` from the workstation: the native build, our ssh config.
    fn remote(&self, verb: &str, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_edgenas"));
        c.env("EDGENAS_HOME", self.local_home())
            .arg("remote")
            .arg(verb)
            .arg("--ssh-config")
            .arg(&self.ssh_config)
            .args(args);
        c
    }

    fn run(&self, verb: &str, args: &[&str]) -> Output {
        self.remote(verb, args).output().unwrap()
    }

    /// `edgenas remote run TARGET... --remote-bin BIN -- ARGS...`, not yet started.
    fn job(&self, targets: &[&str], bin: &str, args: &[&str]) -> Command {
        let mut all = targets.to_vec();
        all.extend(["--remote-bin", bin, "--"]);
        all.extend_from_slice(args);
        self.remote("run", &all)
    }

    fn run_job(&self, targets: &[&str], bin: &str, args: &[&str]) -> Output {
        self.job(targets, bin, args).output().unwrap()
    }
}

/// `profile` of a cheap arch sampling for `seconds` (0: as short as it gets).
fn quick_profile(seconds: &'static str) -> Vec<&'static str> {
    vec![
        "profile",
        ALL_SKIP,
        "--allow-unstable",
        "--warmup-runs",
        "1",
        "--warmup-time",
        "0",
        "--min-runs",
        "3",
        "--min-time",
        seconds,
        "--max-time",
        seconds,
    ]
}

fn wait_for_sshd(port: u16) {
    let start = Instant::now();
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let mut banner = [0u8; 4];
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            if s.read_exact(&mut banner).is_ok() && &banner == b"SSH-" {
                return;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "sshd on port {port} did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn dist() -> String {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("dist");
    let tarball = d.join(format!(
        "edgenas-{}-aarch64-unknown-linux-gnu.tar.gz",
        env!("CARGO_PKG_VERSION")
    ));
    assert!(
        tarball.is_file(),
        "{} is missing: build it with cross/build.sh aarch64-unknown-linux-gnu",
        tarball.display()
    );
    d.display().to_string()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A failure: a non-zero status and an error line that says `what`.
fn fails_with(o: &Output, what: &str) {
    assert!(!o.status.success(), "succeeded: {}", out(o));
    let e = err(o);
    assert!(e.contains(what), "expected '{what}' in: {e}");
    assert!(
        !e.contains("panicked") && !e.contains("internal error"),
        "{e}"
    );
}

/// Where the board keeps edgenas in these tests: a path with a space, quoted all the way.
fn remote_bin(lab: &Lab, board: &str) -> String {
    lab.board(board)
        .root
        .join("opt dir/edgenas")
        .display()
        .to_string()
}

/// The ssh process among `pid`'s children (the one following the job).
fn ssh_child(pid: u32) -> Option<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    for t in tasks.flatten() {
        let kids = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
        for kid in kids.split_whitespace() {
            let comm = std::fs::read_to_string(format!("/proc/{kid}/comm")).unwrap_or_default();
            if comm.trim() == "ssh" {
                return kid.parse().ok();
            }
        }
    }
    None
}

#[test]
#[ignore = "ARM tier: needs sshd, qemu-aarch64 and dist/'s aarch64 tarball (scripts/test.sh runs it after cross/build.sh)"]
fn one_board_deploy_run_attach_fetch_and_every_error_as_one_line() {
    let lab = Lab::new("remote-one", &["board-a"], &["board-down"]);
    let a = lab.board("board-a");
    let bin = remote_bin(&lab, "board-a");
    let dist = dist();

    // Deploy: the aarch64 build, sha256-checked on the board; again: a no-op.
    let o = lab.run("deploy", &["board-a", "--dist", &dist, "--dest", &bin]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        out(&o).contains("installed edgenas 0.1.0 (aarch64-unknown-linux-gnu"),
        "{}",
        out(&o)
    );
    let installed = std::fs::read(&bin).unwrap();
    assert_eq!(&installed[..4], b"\x7fELF");
    assert_eq!(
        u16::from_le_bytes([installed[18], installed[19]]),
        183,
        "aarch64"
    );
    let before = std::fs::metadata(&bin).unwrap().modified().unwrap();
    let o = lab.run("deploy", &["board-a", "--dist", &dist, "--dest", &bin]);
    assert!(
        o.status.success() && out(&o).contains("up to date"),
        "{}",
        out(&o)
    );
    assert_eq!(std::fs::metadata(&bin).unwrap().modified().unwrap(), before);
    // No leftover temporary file beside it.
    let names: Vec<_> = std::fs::read_dir(Path::new(&bin).parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["edgenas"]);

    // The board says what it is; deploy refuses what cannot run there.
    std::fs::write(a.root.join("fake_arch"), "riscv64\n").unwrap();
    fails_with(
        &lab.run("deploy", &["board-a", "--dist", &dist, "--dest", &bin]),
        "unsupported board: architecture 'riscv64'",
    );
    std::fs::remove_file(a.root.join("fake_arch")).unwrap();
    std::fs::write(a.root.join("fake_glibc"), "glibc 2.12\n").unwrap();
    fails_with(
        &lab.run("deploy", &["board-a", "--dist", &dist, "--dest", &bin]),
        "glibc is 2.12, older than the 2.17",
    );
    std::fs::remove_file(a.root.join("fake_glibc")).unwrap();
    std::fs::write(a.root.join("fake_avail_kib"), "2048\n").unwrap();
    std::fs::write(&bin, b"an older build").unwrap();
    fails_with(
        &lab.run("deploy", &["board-a", "--dist", &dist, "--dest", &bin]),
        "no space left on the board (2048 KiB free",
    );
    assert_eq!(
        std::fs::read(&bin).unwrap(),
        b"an older build",
        "nothing replaced"
    );
    std::fs::remove_file(a.root.join("fake_avail_kib")).unwrap();
    let o = lab.run("deploy", &["board-a", "--dist", &dist, "--dest", &bin]);
    assert!(out(&o).contains("installed"), "{}", out(&o));
    fails_with(
        &lab.run(
            "deploy",
            &["board-a", "--dist", "/nonexistent", "--dest", &bin],
        ),
        "no edgenas 0.1.0 build for aarch64-unknown-linux-gnu",
    );

    // remote run: probe --json from the emulated ARM build.
    let o = lab.run_job(&["board-a"], &bin, &["probe", "--json"]);
    assert!(o.status.success(), "{}", err(&o));
    let probe: serde_json::Value = serde_json::from_str(&out(&o)).expect("probe's JSON, whole");
    assert_eq!(probe["fingerprint"]["arch"], "aarch64");

    // A short embed in oracle mode; the exit status is the job's.
    let table = shared_data("nb201_latency_help.csv");
    let embed = ["embed", "--oracle", &table, "--oracle-device"];
    let o = lab.run_job(
        &["board-a"],
        &bin,
        &[&embed[..], &["raspi4", "--json"]].concat(),
    );
    assert!(o.status.success(), "{}", err(&o));
    let e: serde_json::Value = serde_json::from_str(&out(&o)).expect("embed's JSON");
    assert_eq!(e["fingerprint"]["runtime"], "oracle");
    let o = lab.run_job(&["board-a"], &bin, &[&embed[..], &["toaster"]].concat());
    assert_eq!(o.status.code(), Some(1), "the job's own status");
    assert!(
        out(&o).contains("toaster"),
        "the job's error is in its output: {}",
        out(&o)
    );

    // Quoting: spaces, quotes, ';' and $(…) reach the board as one literal argument.
    let outdir = lab.dir.path().join("out dir");
    std::fs::create_dir_all(&outdir).unwrap();
    // Were it run, `touch` would create this in the job's directory ($HOME) or ours.
    let marker = format!("edgenas-pwned-{}", std::process::id());
    let weird = outdir.join(format!("a b;$(touch {marker})`touch {marker}`'q\".onnx"));
    let o = lab.run_job(
        &["board-a"],
        &bin,
        &["export", ALL_SKIP, "-o", weird.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}{}", out(&o), err(&o));
    assert!(weird.is_file(), "exported under its literal name");
    let home = PathBuf::from(std::env::var("HOME").unwrap());
    assert!(
        !home.join(&marker).exists() && !Path::new(&marker).exists(),
        "nothing was executed"
    );

    // A measurement as a detached job; the ssh client is killed mid-job; attach shows the rest.
    let mut profile = lab.job(&["board-a"], &bin, &quick_profile("4"));
    let child = profile
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let jobs_dir = a.state().join("jobs");
    let start = Instant::now();
    let job_dir = loop {
        let running: Vec<PathBuf> = std::fs::read_dir(&jobs_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| !p.join("status").exists() && p.join("pid").exists())
            .collect();
        if let (Some(job), Some(ssh)) = (running.first(), ssh_child(child.id())) {
            std::thread::sleep(Duration::from_millis(800));
            assert!(
                !job.join("status").exists(),
                "the job ended before the link dropped"
            );
            Command::new("kill")
                .arg("-9")
                .arg(ssh.to_string())
                .status()
                .unwrap();
            break job.clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the job never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let cut = child.wait_with_output().unwrap();
    assert_eq!(cut.status.code(), Some(255), "{}", err(&cut));
    assert!(
        err(&cut).contains("connection lost")
            && err(&cut).contains("edgenas remote attach board-a"),
        "{}",
        err(&cut)
    );
    let jobs = lab.run("jobs", &["board-a"]);
    let id = job_dir.file_name().unwrap().to_str().unwrap().to_string();
    assert!(out(&jobs).contains(&id), "{}", out(&jobs));
    let rest = lab.run("attach", &["board-a"]);
    assert!(rest.status.success(), "{}", err(&rest));
    assert_eq!(
        std::fs::read_to_string(job_dir.join("status"))
            .unwrap()
            .trim(),
        "0"
    );
    // What was shown before the drop plus what attach showed is the whole log, once.
    let log = std::fs::read(job_dir.join("log")).unwrap();
    let mut shown = cut.stdout.clone();
    shown.extend_from_slice(&rest.stdout);
    assert_eq!(
        String::from_utf8_lossy(&shown),
        String::from_utf8_lossy(&log)
    );
    assert!(
        String::from_utf8_lossy(&log).contains("median"),
        "{}",
        String::from_utf8_lossy(&log)
    );
    let jobs = lab.run("jobs", &["board-a"]);
    assert!(
        out(&jobs)
            .lines()
            .any(|l| l.starts_with(&id) && l.contains(" exit 0 ")),
        "{}",
        out(&jobs)
    );

    // Fetch: the board's record is in the local journal, once, however often we fetch.
    let o = lab.run("fetch", &["board-a"]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        out(&o).contains("1 new measurement(s), 0 already here"),
        "{}",
        out(&o)
    );
    let o = lab.run("fetch", &["board-a"]);
    assert!(
        out(&o).contains("0 new measurement(s), 1 already here"),
        "{}",
        out(&o)
    );
    let show = Command::new(env!("CARGO_BIN_EXE_edgenas"))
        .env("EDGENAS_HOME", lab.local_home())
        .args(["journal", "show", "--host", "board-a", "--json"])
        .output()
        .unwrap();
    assert!(show.status.success(), "{}", err(&show));
    let records: serde_json::Value = serde_json::from_str(&out(&show)).unwrap();
    assert_eq!(records["results"].as_array().unwrap().len(), 1);
    assert_eq!(records["results"][0]["subject"], ALL_SKIP);
    let fetched = lab.local_home().join("hosts/board-a");
    assert_eq!(
        std::fs::read_dir(fetched.join("embeddings"))
            .unwrap()
            .count(),
        1
    );
    assert!(fetched.join("jobs").join(&id).join("log").is_file());

    // Each failure is one line that says what to do.
    let missing = lab.run_job(&["board-a"], "/no such/edgenas", &["probe"]);
    fails_with(&missing, "edgenas remote deploy board-a");
    fails_with(&lab.run("jobs", &["board-down"]), "unreachable");
    let other_key = lab.dir.path().join("other_host_key");
    keygen(&other_key);
    let changed = lab.dir.path().join("changed_known_hosts");
    std::fs::write(
        &changed,
        format!(
            "[127.0.0.1]:{} {}",
            a.port,
            std::fs::read_to_string(other_key.with_extension("pub")).unwrap()
        ),
    )
    .unwrap();
    let kh = format!("UserKnownHostsFile={}", changed.display());
    fails_with(
        &lab.run("jobs", &["board-a", "--ssh-option", &kh]),
        "host key changed",
    );
    fails_with(
        &lab.run(
            "jobs",
            &["board-a", "--ssh-option", "UserKnownHostsFile=/dev/null"],
        ),
        "host key is not known",
    );
    fails_with(
        &lab.run(
            "jobs",
            &["board-a", "--ssh-option", "User=edgenas-no-such-user"],
        ),
        "authentication refused",
    );
    fails_with(
        &lab.run("jobs", &["board-a", "--ssh-option", "nonsense"]),
        "expected KEY=VALUE",
    );
    fails_with(
        &lab.run("attach", &["board-a", "no-such-job"]),
        "no job 'no-such-job'",
    );
    fails_with(
        &lab.run("jobs", &["--", "-oProxyCommand=touch"]),
        "cannot start with '-'",
    );
}

#[test]
#[ignore = "ARM tier: needs sshd, qemu-aarch64 and dist/'s aarch64 tarball (scripts/test.sh runs it after cross/build.sh)"]
fn a_fleet_from_a_hosts_file_and_an_ansible_inventory_with_one_board_down() {
    let lab = Lab::new("remote-fleet", &["board-a", "board-b"], &["board-down"]);
    let dist = dist();
    let bin_a = remote_bin(&lab, "board-a");
    let bin_b = remote_bin(&lab, "board-b");

    // A plain hosts file: deploy to both boards; the down one fails alone.
    let hosts = lab.dir.path().join("hosts.txt");
    std::fs::write(&hosts, "# the lab\nboard-a\nboard-down   # unplugged\n").unwrap();
    let o = lab.run(
        "deploy",
        &[
            "--hosts",
            hosts.to_str().unwrap(),
            "--dist",
            &dist,
            "--dest",
            &bin_a,
            "--jobs",
            "2",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let table = out(&o);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("board-a") && l.contains("ok") && l.contains("installed")),
        "{table}"
    );
    assert!(
        table.lines().any(|l| l.starts_with("board-down")
            && l.contains("FAILED")
            && l.contains("unreachable")),
        "{table}"
    );
    assert!(
        err(&o).contains("deploy: 1 of 2 boards failed"),
        "{}",
        err(&o)
    );
    let o = lab.run("deploy", &["board-b", "--dist", &dist, "--dest", &bin_b]);
    assert!(o.status.success(), "{}", err(&o));

    // The same edgenas path on both boards, as a fleet would have it.
    let shared_bin = lab.dir.path().join("fleet-bin/edgenas");
    std::fs::create_dir_all(shared_bin.parent().unwrap()).unwrap();
    std::fs::copy(&bin_a, &shared_bin).unwrap();

    // An Ansible inventory: groups, children, vars; the down board in its own group.
    let inventory = lab.dir.path().join("inventory.ini");
    std::fs::write(
        &inventory,
        format!(
            "[lab]\na ansible_host=127.0.0.1 ansible_port={}\nb ansible_host=127.0.0.1 ansible_port={}\n\n\
             [broken]\ndown ansible_host=127.0.0.1 ansible_port={}\n\n\
             [edge:children]\nlab\nbroken\n\n[edge:vars]\nansible_user={}\n",
            lab.board("board-a").port,
            lab.board("board-b").port,
            lab.board("board-down").port,
            lab.user
        ),
    )
    .unwrap();
    let inv = inventory.to_str().unwrap();
    let sb = shared_bin.to_str().unwrap();
    let o = lab.run_job(
        &["--hosts", inv, "--group", "edge"],
        sb,
        &["probe", "--json"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    let text = out(&o);
    for board in ["a", "b"] {
        let json: String = text
            .lines()
            .filter_map(|l| l.strip_prefix(&format!("{board} | ")))
            .collect::<Vec<_>>()
            .join("\n");
        let v: serde_json::Value =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("{board}: {e}: {text}"));
        assert_eq!(v["fingerprint"]["arch"], "aarch64");
        assert!(
            text.lines()
                .any(|l| l.starts_with(board) && l.contains("ok") && l.contains("exit 0")),
            "{text}"
        );
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("down") && l.contains("FAILED") && l.contains("unreachable")),
        "{text}"
    );
    assert!(err(&o).contains("run: 1 of 3 boards failed"), "{}", err(&o));

    // The group without the down board: all well; fetch lands each board under its own name.
    let o = lab.run_job(&["--hosts", inv, "--group", "lab"], sb, &quick_profile("0"));
    assert!(o.status.success(), "{}{}", out(&o), err(&o));
    let o = lab.run("fetch", &["--hosts", inv, "--group", "lab"]);
    assert!(o.status.success(), "{}", err(&o));
    for alias in ["a", "b"] {
        let show = Command::new(env!("CARGO_BIN_EXE_edgenas"))
            .env("EDGENAS_HOME", lab.local_home())
            .args(["journal", "show", "--host", alias, "--json"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&out(&show)).unwrap();
        assert_eq!(v["results"].as_array().unwrap().len(), 1, "{alias}");
    }
    let o = lab.run("jobs", &["--hosts", inv, "--group", "lab"]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(
        out(&o).lines().filter(|l| l.contains("exit 0")).count(),
        4,
        "{}",
        out(&o)
    );
}
