//! Any timing program as the runtime (`--runtime exec --exec 'trtexec --onnx={model} --fp16'`).
//!
//! edgenas writes the network to a file in the format the program reads, runs the program
//! without a shell (the template is split into arguments once; `{model}` is replaced by the
//! file's path, so an arch string never reaches a command line), and reads the latencies the
//! program reports from its output. The program's start-up, model parsing and engine building
//! are never counted: only what it reports as inference time is.
//!
//! What is read, first match wins:
//! 1. the line contract: one `edgenas-latency-ms: 1.234` line per timed run;
//! 2. JSON: `{"latencies_ms": [1.2, 1.3, ...]}` anywhere in the output;
//! 3. TensorRT's `trtexec`: the performance summary's `GPU Compute Time: ... median = X ms`,
//!    or, from TensorRT 7, each `Average on N runs - GPU latency: X ms` line;
//! 4. TensorFlow Lite's `benchmark_model`: `Inference (avg): X` (microseconds).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::export::ExportFormat;
use crate::ir::Network;
use crate::RuntimeError;

/// A timing program: its arguments (with `{model}`), the format it reads, and its identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecSpec {
    /// The template as given, for messages and the identity.
    pub template: String,
    args: Vec<String>,
    pub format: ExportFormat,
    /// The program's name (its file name) and a hash of the template and of every file it
    /// names that exists (the program itself, a timing script): what the Fingerprint records.
    pub identity: (String, String),
}

impl ExecSpec {
    /// Parses `template` (arguments split as a shell would split words, with '…' and "…"
    /// quoting and no expansion) for a program that reads `format`.
    pub fn new(template: &str, format: ExportFormat) -> Result<ExecSpec, RuntimeError> {
        let args = split_words(template)?;
        let Some(program) = args.first() else {
            return Err(RuntimeError::Unsupported("--exec is empty".into()));
        };
        if !args.iter().any(|a| a.contains("{model}")) {
            return Err(RuntimeError::Unsupported(format!(
                "--exec '{template}' never names {{model}}, the file edgenas writes for it to time"
            )));
        }
        let resolved = resolve_program(program).ok_or_else(|| {
            RuntimeError::Unsupported(format!(
                "--exec: the program '{program}' is not a file and not on PATH"
            ))
        })?;
        let name = resolved
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| program.clone());
        let mut hash = Fnv::default();
        hash.add(template.as_bytes());
        for path in std::iter::once(resolved.clone()).chain(args[1..].iter().map(PathBuf::from)) {
            if path.is_file() {
                if let Ok(bytes) = std::fs::read(&path) {
                    hash.add(&bytes);
                }
            }
        }
        Ok(ExecSpec {
            template: template.to_string(),
            args,
            format,
            identity: (format!("exec:{name}"), format!("{:016x}", hash.0)),
        })
    }

    /// The arguments with `{model}` replaced by `model`.
    fn argv(&self, model: &Path) -> Vec<String> {
        let m = model.to_string_lossy();
        self.args.iter().map(|a| a.replace("{model}", &m)).collect()
    }
}

/// FNV-1a, 64 bits: a stable identity hash (not a security one).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn add(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// The program as a file: a path as given, or the first match on PATH.
fn resolve_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        return p.is_file().then_some(p);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

/// Splits a command line into words: whitespace separates, '…' quotes literally, "…" quotes
/// with `\"` and `\\` escapes, a backslash outside quotes escapes the next character.
pub fn split_words(s: &str) -> Result<Vec<String>, RuntimeError> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = s.chars();
    let unclosed = || RuntimeError::Unsupported(format!("--exec '{s}': an unclosed quote"));
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err(unclosed()),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => w.push(c),
                            Some(c) => {
                                w.push('\\');
                                w.push(c);
                            }
                            None => return Err(unclosed()),
                        },
                        Some(c) => w.push(c),
                        None => return Err(unclosed()),
                    }
                }
            }
            '\\' => {
                let w = word.get_or_insert_with(String::new);
                if let Some(c) = chars.next() {
                    w.push(c);
                }
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

/// The latencies (ms) a timing program reported in `output`, by the first rule that matches
/// (see the module's documentation); empty when none does.
pub fn parse_latencies(output: &str) -> Vec<f64> {
    let contract: Vec<f64> = output
        .lines()
        .filter_map(|l| l.trim().strip_prefix("edgenas-latency-ms:"))
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    if !contract.is_empty() {
        return contract;
    }
    if let Some(v) = json_latencies(output) {
        return v;
    }
    if let Some(v) = trtexec_latencies(output) {
        return v;
    }
    benchmark_model_latency(output).into_iter().collect()
}

/// `"latencies_ms": [ ... ]` anywhere in the output.
fn json_latencies(output: &str) -> Option<Vec<f64>> {
    let at = output.find("\"latencies_ms\"")?;
    let rest = &output[at + "\"latencies_ms\"".len()..];
    let rest = rest
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('[')?;
    let list = &rest[..rest.find(']')?];
    list.split(',')
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map(|v| v.parse().ok())
        .collect()
}

/// The number after `key` in `line` (up to the next space or comma).
fn number_after(line: &str, key: &str) -> Option<f64> {
    let rest = &line[line.find(key)? + key.len()..];
    let rest = rest.trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// trtexec: the summary's GPU compute median (TensorRT 8 and later), else each "Average on N
/// runs - GPU latency" line (TensorRT 7).
fn trtexec_latencies(output: &str) -> Option<Vec<f64>> {
    if let Some(line) = output.lines().find(|l| l.contains("GPU Compute Time: min")) {
        return number_after(line, "median = ").map(|m| vec![m]);
    }
    let averages: Vec<f64> = output
        .lines()
        .filter(|l| l.contains("Average on") && l.contains("GPU latency:"))
        .filter_map(|l| number_after(l, "GPU latency:"))
        .collect();
    (!averages.is_empty()).then_some(averages)
}

/// benchmark_model: "Inference (avg): X" in microseconds.
fn benchmark_model_latency(output: &str) -> Option<f64> {
    output
        .lines()
        .find(|l| l.contains("Inference timings in us"))
        .and_then(|l| number_after(l, "Inference (avg):"))
        .map(|us| us / 1e3)
}

/// A network written for a timing program, timed by running it.
#[derive(Debug)]
pub struct ExecModel {
    spec: &'static ExecSpec,
    file: PathBuf,
    /// The folder edgenas made for the file, removed when the model is dropped; None for a
    /// user's file.
    _made: Option<ModelFolder>,
    pub init_time: Duration,
}

/// Model folders are `$TMPDIR/edgenas-exec-PID-N`. A run killed with -9 or by the OOM killer,
/// or cut off with its SSH session (SIGHUP), never removes its own, and /tmp keeps them until
/// the board reboots (in RAM, where /tmp is a tmpfs), so each process first removes those of
/// runs that have ended.
const FOLDER_PREFIX: &str = "edgenas-exec-";
/// A folder's maker holds an flock on this file for as long as the folder is in use; the
/// kernel drops it when the process ends however it ends, whatever PID namespace it ran in.
const LOCK_FILE: &str = "in-use.lock";
/// Folders made before the lock existed are removed once they are this old.
const UNLOCKED_FOLDER_AGE: Duration = Duration::from_secs(24 * 3600);

/// A model folder in use: removed on drop, its lock held until then.
#[derive(Debug)]
struct ModelFolder {
    path: PathBuf,
    _lock: std::fs::File,
}

impl Drop for ModelFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

impl ModelFolder {
    /// Makes `$TMPDIR/edgenas-exec-PID-N`, locked before it has its name, so that no other
    /// process ever sees it unlocked.
    fn make(tmp: &Path) -> Result<ModelFolder, RuntimeError> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        static SWEPT: std::sync::Once = std::sync::Once::new();
        SWEPT.call_once(|| {
            remove_ended_runs_folders(tmp);
        });
        let name = format!(
            "{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let staging = tmp.join(format!(".{FOLDER_PREFIX}{name}"));
        let path = tmp.join(format!("{FOLDER_PREFIX}{name}"));
        let io = |at: &Path| {
            let at = at.display().to_string();
            move |source| RuntimeError::Io { path: at, source }
        };
        std::fs::create_dir_all(&staging).map_err(io(&staging))?;
        let lock = std::fs::File::create(staging.join(LOCK_FILE)).and_then(|f| {
            // Where the file system has no locks (some network mounts) the folder goes on
            // unlocked: no sweeper can take its lock either, so none removes it.
            let _ = f.try_lock();
            std::fs::rename(&staging, &path).map(|()| f)
        });
        match lock {
            Ok(lock) => Ok(ModelFolder { path, _lock: lock }),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                Err(io(&path)(e))
            }
        }
    }
}

/// Removes the model folders in `tmp` whose runs have ended (their lock is free, or, made
/// before the lock or left while being made, they are a day old); how many. Another user's
/// folders stay: they cannot be opened or removed, and nothing here fails for that.
fn remove_ended_runs_folders(tmp: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let staging = name
            .strip_prefix('.')
            .is_some_and(|n| n.starts_with(FOLDER_PREFIX));
        let is_folder = entry.file_type().is_ok_and(|t| t.is_dir());
        if !is_folder || !(staging || name.starts_with(FOLDER_PREFIX)) {
            continue;
        }
        let path = entry.path();
        let day_old = || {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age >= UNLOCKED_FOLDER_AGE))
        };
        // Held while the folder is removed, so that no second sweeper takes it meanwhile.
        let lock = std::fs::File::open(path.join(LOCK_FILE));
        let ended = match &lock {
            // A folder being made is locked only after its lock file exists.
            _ if staging => day_old(),
            // std's try_lock is an flock with LOCK_EX | LOCK_NB on Linux, as the maker's.
            Ok(file) => file.try_lock().is_ok(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => day_old(),
            Err(_) => false,
        };
        if ended && std::fs::remove_dir_all(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

impl ExecModel {
    /// Writes `net` (weights seeded by `seed`) in the program's format to a private folder.
    pub fn from_network(
        net: &Network,
        seed: u64,
        precision: crate::Precision,
        spec: &'static ExecSpec,
    ) -> Result<ExecModel, RuntimeError> {
        let start = Instant::now();
        let folder = ModelFolder::make(&std::env::temp_dir())?;
        let file = folder
            .path
            .join(format!("model.{}", spec.format.extension()));
        let io = |source| RuntimeError::Io {
            path: file.display().to_string(),
            source,
        };
        // At fp16 the program converts the fp32 file itself (`trtexec --fp16`).
        let written = match precision {
            crate::Precision::Fp16 => crate::Precision::Fp32,
            p => p,
        };
        let qdq = crate::quantize::QdqStyle::TensorRt;
        let bytes = spec.format.bytes(net, "network", seed, written, qdq)?;
        std::fs::write(&file, bytes).map_err(io)?;
        Ok(ExecModel {
            spec,
            file,
            _made: Some(folder),
            init_time: start.elapsed(),
        })
    }

    /// A model file the user gave, handed to the program as it is.
    pub fn from_file(path: &Path, spec: &'static ExecSpec) -> Result<ExecModel, RuntimeError> {
        if !path.is_file() {
            return Err(RuntimeError::Io {
                path: path.display().to_string(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            });
        }
        Ok(ExecModel {
            spec,
            file: path.to_path_buf(),
            _made: None,
            init_time: Duration::ZERO,
        })
    }

    /// Runs the program once; the latencies it reported, in milliseconds.
    pub fn run_reported(&mut self) -> Result<Vec<f64>, RuntimeError> {
        let argv = self.spec.argv(&self.file);
        let fail = |message: String| RuntimeError::Exec {
            program: self.spec.identity.0.clone(),
            message,
        };
        let out = Command::new(&argv[0])
            .args(&argv[1..])
            .output()
            .map_err(|e| fail(format!("cannot start {}: {e}", argv[0])))?;
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() {
            let last = String::from_utf8_lossy(&out.stderr)
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no message")
                .trim()
                .to_string();
            return Err(fail(format!("exited with {}: {last}", out.status)));
        }
        let v = parse_latencies(&text);
        if v.is_empty() || v.iter().any(|x| !(x.is_finite() && *x >= 0.0)) {
            return Err(fail(
                "reported no latency (print one `edgenas-latency-ms: 1.234` line per run, \
                 {\"latencies_ms\": [...]}, or use trtexec or benchmark_model)"
                    .into(),
            ));
        }
        Ok(v)
    }

    pub fn spec(&self) -> &'static ExecSpec {
        self.spec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Folders of ended runs go; one in use, one of another program and young unlocked
    /// ones stay.
    #[test]
    fn only_the_folders_of_ended_runs_are_removed() {
        let tmp = std::env::temp_dir().join(format!("edgenas-sweep-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).unwrap();
        let folder = |name: &str, lock: bool| {
            let p = tmp.join(name);
            std::fs::create_dir_all(&p).unwrap();
            std::fs::write(p.join("model.onnx"), b"x").unwrap();
            if lock {
                std::fs::write(p.join(LOCK_FILE), b"").unwrap();
            }
            p
        };
        let day_ago = std::time::SystemTime::now() - UNLOCKED_FOLDER_AGE - Duration::from_secs(60);
        let age = |p: &Path| {
            std::fs::File::open(p)
                .unwrap()
                .set_modified(day_ago)
                .unwrap()
        };
        // Made first: a process's first folder sweeps the folder it is made in.
        let in_use = ModelFolder::make(&tmp).unwrap();
        let ended = folder("edgenas-exec-1-0", true);
        let unlocked_young = folder("edgenas-exec-2-0", false);
        let unlocked_old = folder("edgenas-exec-3-0", false);
        age(&unlocked_old);
        let staging_old = folder(".edgenas-exec-4-0", true);
        age(&staging_old);
        let staging_young = folder(".edgenas-exec-5-0", true);
        let other = folder("other-program", true);
        age(&other);

        assert_eq!(remove_ended_runs_folders(&tmp), 3);
        assert!(!ended.exists() && !unlocked_old.exists() && !staging_old.exists());
        for stays in [&in_use.path, &unlocked_young, &staging_young, &other] {
            assert!(stays.exists(), "{}", stays.display());
        }
        // Once its model is dropped, the folder in use is gone with it.
        let path = in_use.path.clone();
        drop(in_use);
        assert!(!path.exists());
        assert_eq!(remove_ended_runs_folders(&tmp), 0);
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn words_split_like_a_shell_without_expansion() {
        let w =
            split_words(r#"trtexec --onnx={model}  --fp16 'a b' "c \"d\"" e\ f $HOME"#).unwrap();
        assert_eq!(
            w,
            [
                "trtexec",
                "--onnx={model}",
                "--fp16",
                "a b",
                "c \"d\"",
                "e f",
                "$HOME"
            ]
        );
        assert!(split_words("python3 'unclosed").is_err());
        assert!(split_words("").unwrap().is_empty());
    }

    #[test]
    fn the_line_contract_and_json_are_read() {
        let out = "loading\nedgenas-latency-ms: 1.5\nedgenas-latency-ms: 1.25\nbye";
        assert_eq!(parse_latencies(out), [1.5, 1.25]);
        let out = r#"noise {"latencies_ms": [2.0, 2.5 ,3]} more"#;
        assert_eq!(parse_latencies(out), [2.0, 2.5, 3.0]);
        assert!(parse_latencies("nothing here").is_empty());
        assert!(parse_latencies(r#"{"latencies_ms": [1, x]}"#).is_empty());
    }

    /// TensorRT 10's performance summary, as posted in NVIDIA/TensorRT issue #4177 (2024).
    #[test]
    fn trtexec_summary_gives_its_gpu_compute_median() {
        let out = "\
[10/03/2024-10:47:59] [I] === Performance summary ===
[10/03/2024-10:47:59] [I] Throughput: 130.298 qps
[10/03/2024-10:47:59] [I] Latency: min = 5.38672 ms, max = 13.3664 ms, mean = 7.60628 ms, median = 7.16092 ms, percentile(90%) = 10.2996 ms, percentile(95%) = 10.8698 ms, percentile(99%) = 12.9675 ms
[10/03/2024-10:47:59] [I] Enqueue Time: min = 2.72876 ms, max = 15.0201 ms, mean = 7.63062 ms, median = 7.86694 ms, percentile(90%) = 10.1792 ms, percentile(95%) = 11.7217 ms, percentile(99%) = 14.1848 ms
[10/03/2024-10:47:59] [I] H2D Latency: min = 0.0065918 ms, max = 0.0698242 ms, mean = 0.0122212 ms, median = 0.00814819 ms, percentile(90%) = 0.0253906 ms, percentile(95%) = 0.0270996 ms, percentile(99%) = 0.0515137 ms
[10/03/2024-10:47:59] [I] GPU Compute Time: min = 5.34595 ms, max = 13.3388 ms, mean = 7.58404 ms, median = 7.14139 ms, percentile(90%) = 10.2881 ms, percentile(95%) = 10.8175 ms, percentile(99%) = 12.9485 ms
[10/03/2024-10:47:59] [I] D2H Latency: min = 0.00390625 ms, max = 0.110596 ms, mean = 0.0100141 ms, median = 0.00439453 ms, percentile(90%) = 0.0254517 ms, percentile(95%) = 0.0319824 ms, percentile(99%) = 0.0994873 ms
[10/03/2024-10:47:59] [I] Total Host Walltime: 3.00082 s
[10/03/2024-10:47:59] [I] Total GPU Compute Time: 2.96536 s";
        assert_eq!(parse_latencies(out), [7.14139]);
    }

    /// TensorRT 7's per-batch lines, as posted in NVIDIA/TensorRT issue #1243 (2021).
    #[test]
    fn trtexec_7_gives_each_average_line() {
        let out = "\
[05/10/2021-12:24:30] [I] Average on 10 runs - GPU latency: 3.05903 ms - Host latency: 3.5863 ms (end to end 6.07532 ms, enqueue 0.538281 ms)
[05/10/2021-12:24:30] [I] Average on 10 runs - GPU latency: 3.05674 ms - Host latency: 3.58508 ms (end to end 6.07249 ms, enqueue 0.489038 ms)
[05/10/2021-12:24:30] [I] Average on 10 runs - GPU latency: 3.04807 ms - Host latency: 3.57705 ms (end to end 6.04717 ms, enqueue 0.552759 ms)";
        assert_eq!(parse_latencies(out), [3.05903, 3.05674, 3.04807]);
    }

    /// benchmark_model's output, as posted in tensorflow/tensorflow issue #42507 (2020).
    #[test]
    fn benchmark_model_gives_its_average_in_ms() {
        let out = "\
Initialized session in 0.855ms.
Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
count=15 first=49060 curr=33682 min=32825 max=49060 avg=34825.1 std=3930

Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
count=50 first=32891 curr=33978 min=32641 max=34005 avg=33209.4 std=450

Inference timings in us: Init: 855, First inference: 49060, Warmup (avg): 34825.1, Inference (avg): 33209.4";
        let v = parse_latencies(out);
        assert_eq!(v.len(), 1);
        assert!((v[0] - 33.2094).abs() < 1e-9, "{v:?}");
    }

    #[test]
    fn a_template_must_name_the_model_and_an_existing_program() {
        let e = ExecSpec::new("sh -c true", ExportFormat::Onnx)
            .unwrap_err()
            .to_string();
        assert!(e.contains("{model}"), "{e}");
        let e = ExecSpec::new("no-such-program-here {model}", ExportFormat::Onnx)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not on PATH"), "{e}");
        let s = ExecSpec::new(
            "sh -c 'echo edgenas-latency-ms: 1' {model}",
            ExportFormat::Onnx,
        )
        .unwrap();
        assert_eq!(s.identity.0, "exec:sh");
        let other = ExecSpec::new(
            "sh -c 'echo edgenas-latency-ms: 2' {model}",
            ExportFormat::Onnx,
        )
        .unwrap();
        assert_ne!(
            s.identity.1, other.identity.1,
            "the template is part of the identity"
        );
    }
}
