//! Running the real binary from end-to-end tests.
//!
//! `EDGENAS_TEST_BIN` points the tests at another build of the binary (the cross-compiled
//! aarch64 one) and `EDGENAS_TEST_RUNNER` prefixes it (`qemu-aarch64 -L /usr/aarch64-linux-gnu`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const ALL_CONV3: &str =
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|";
pub const ALL_CONV1: &str =
    "|nor_conv_1x1~0|+|nor_conv_1x1~0|nor_conv_1x1~1|+|nor_conv_1x1~0|nor_conv_1x1~1|nor_conv_1x1~2|";
pub const ALL_SKIP: &str =
    "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|";
pub const ALL_NONE: &str = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|";

/// Protocol flags that keep a run short (correctness tests, not timing). `--allow-unstable`:
/// these tests check what edgenas computes, not the host's governor (a laptop's `schedutil`
/// would otherwise refuse them at pre-flight; scripts/test.sh proves it with a fixture).
pub const QUICK: &[&str] = &[
    "--allow-unstable",
    "--warmup-runs",
    "1",
    "--warmup-time",
    "0",
    "--min-runs",
    "2",
    "--min-time",
    "0",
    "--max-time",
    "0",
];

/// QUICK without `--allow-unstable`: for tests of pre-flight itself (with a fixture sysroot).
pub const QUICK_STRICT: &[&str] = QUICK.split_at(1).1;

pub fn bin() -> PathBuf {
    std::env::var_os("EDGENAS_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_edgenas")))
}

/// True when the binary runs under an emulator: slow, so heavy tests are skipped.
pub fn emulated() -> bool {
    std::env::var("EDGENAS_TEST_RUNNER").is_ok_and(|r| !r.trim().is_empty())
}

/// A command for the binary, with a private state directory.
pub fn edgenas(home: &Path) -> Command {
    let runner = std::env::var("EDGENAS_TEST_RUNNER").unwrap_or_default();
    let mut parts = runner.split_whitespace();
    let mut cmd = match parts.next() {
        Some(prog) => {
            let mut c = Command::new(prog);
            c.args(parts).arg(bin());
            c
        }
        None => Command::new(bin()),
    };
    cmd.env("EDGENAS_HOME", home).env_remove("RUST_LOG");
    cmd
}

pub fn run(home: &Path, args: &[&str]) -> Output {
    edgenas(home).args(args).output().expect("start edgenas")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs and requires success, returning stdout.
pub fn ok(home: &Path, args: &[&str]) -> String {
    let o = run(home, args);
    assert!(
        o.status.success(),
        "edgenas {args:?} failed: {}",
        stderr(&o)
    );
    stdout(&o)
}

/// Runs and requires a clean failure: non-zero exit, one line on stderr, no panic.
pub fn fails(home: &Path, args: &[&str]) -> String {
    let o = run(home, args);
    let err = stderr(&o);
    assert!(
        !o.status.success(),
        "edgenas {args:?} should fail; stdout: {}",
        stdout(&o)
    );
    assert_eq!(o.status.code(), Some(1), "exit status of {args:?}: {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected, got: {err}"
    );
    assert!(err.starts_with("error: "), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("internal error"),
        "{err}"
    );
    err
}

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "edgenas-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A file of the public tables: `../shared/data` beside the checkout, or `$EDGENAS_SHARED/data`.
pub fn shared_data(file: &str) -> String {
    std::env::var_os("EDGENAS_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"))
        .join("data")
        .join(file)
        .display()
        .to_string()
}

/// The one result of `profile --json` (the shape is `{"results": [...], "failures": [...]}`).
pub fn profile_result(s: &str) -> serde_json::Value {
    let v = json(s);
    let results = v["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results: {v}"));
    assert_eq!(results.len(), 1, "one result expected: {v}");
    results[0].clone()
}

pub fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// Relative L2 distance of `got` from `want`.
pub fn rel_err(want: &[f32], got: &[f32]) -> f32 {
    let err: f32 = want.iter().zip(got).map(|(a, b)| (a - b).powi(2)).sum();
    let norm: f32 = want.iter().map(|a| a * a).sum();
    (err / norm).sqrt()
}

/// The top-1 class of `int8` is `fp32`'s, unless fp32's lead over its second class is within
/// twice the largest int8 error (then rounding may swap them).
pub fn assert_top1_kept(what: &str, fp32: &[f32], int8: &[f32]) {
    let top = |v: &[f32]| (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap();
    let mut sorted = fp32.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let lead = sorted[0] - sorted[1];
    let worst = fp32
        .iter()
        .zip(int8)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(
        top(fp32) == top(int8) || lead <= 2.0 * worst,
        "{what}: top-1 {} at fp32, {} at int8, with a lead of {lead} over an error of {worst}",
        top(fp32),
        top(int8)
    );
}

/// The output of `net` built at `precision` and run once by `runtime` (1 thread, weights and
/// input of seed 2).
pub fn output_of(
    net: &edgenas_runtime::Network,
    runtime: edgenas_runtime::Runtime,
    precision: edgenas_runtime::Precision,
) -> Vec<f32> {
    let opts = edgenas_runtime::ModelOptions {
        runtime,
        threads: 1,
        seed: 2,
        precision,
    };
    let mut model = edgenas_runtime::Model::from_network(net, opts)
        .unwrap_or_else(|e| panic!("{runtime} at {precision}: {e}"));
    model.run().unwrap().1
}

/// Seeded archs of every space built at int8 and run by `runtime`: each output stays within
/// the int8 error bound of the fp32 one (15 % NB201, whose unnormalised residual sums grow
/// large; 3 % FBNet and OFA), within `peer_bound` of `peer`'s int8 run of the same weights and
/// ranges, and keeps its top-1 class (see [`assert_top1_kept`]). The bounds are the measured
/// worst cases with room (README, "Precision").
pub fn check_int8_outputs(
    runtime: edgenas_runtime::Runtime,
    peer: edgenas_runtime::Runtime,
    peer_bound: f32,
    seed: u64,
) {
    use edgenas_nas::Space;
    use edgenas_runtime::Precision;
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for (space, archs, bound) in [
        (Space::Nb201, 6, 0.15),
        (Space::Fbnet, 2, 0.03),
        (Space::Ofa, 1, 0.03),
    ] {
        for _ in 0..archs {
            let arch = space.sample(&mut rng);
            let net = arch.build();
            let fp32 = output_of(&net, runtime, Precision::Fp32);
            let int8 = output_of(&net, runtime, Precision::Int8);
            let peer8 = output_of(&net, peer, Precision::Int8);
            let e = rel_err(&fp32, &int8);
            let between = rel_err(&peer8, &int8);
            eprintln!(
                "{space:?} {arch}: int8 vs fp32 {e:.4}, {runtime} vs {peer} int8 {between:.4}"
            );
            assert!(e <= bound, "{arch}: int8 is {e} from fp32 (bound {bound})");
            assert!(
                between <= peer_bound,
                "{arch}: {runtime}'s int8 is {between} from {peer}'s (bound {peer_bound})"
            );
            assert_top1_kept(&arch.to_string(), &fp32, &int8);
        }
    }
}
