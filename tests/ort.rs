//! ONNX Runtime as the third runtime: it computes what tract computes on networks of all three
//! spaces, the commands run, record and refuse with `--runtime ort`, and the execution
//! provider is part of what a measurement is.
//!
//! Needs the library (scripts/fetch-ort.sh puts it in third_party/onnxruntime/).

mod common;

use common::*;
use edgenas_nas::Space;
use edgenas_runtime::{Model, ModelOptions, OrtProvider, Runtime, TractModel, TractOptions};
use rand::SeedableRng;

/// The same ONNX model, same weights and same seeded input: tract and ONNX Runtime agree.
#[test]
fn tract_and_onnxruntime_agree_on_archs_of_every_space() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(23);
    for (space, archs) in [(Space::Nb201, 4), (Space::Fbnet, 2), (Space::Ofa, 1)] {
        for _ in 0..archs {
            let arch = space.sample(&mut rng);
            let net = arch.build();
            let seed = 4;
            let mut tract = TractModel::from_network(&net, TractOptions { threads: 1, seed })
                .unwrap_or_else(|e| panic!("{arch}: {e}"));
            let opts = ModelOptions {
                runtime: Runtime::ORT,
                threads: 1,
                seed,
                precision: Default::default(),
            };
            let mut ort = Model::from_network(&net, opts).unwrap_or_else(|e| panic!("{arch}: {e}"));
            assert_eq!(ort.input_shape(), tract.input_shape(), "NCHW, as tract");
            let (want_shape, want) = tract.run().unwrap();
            let (shape, got) = ort.run().unwrap();
            assert_eq!(shape, want_shape, "{arch}");
            let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-3);
            let worst = want
                .iter()
                .zip(&got)
                .map(|(w, g)| (w - g).abs())
                .fold(0f32, f32::max);
            assert!(
                worst <= 1e-3 * scale,
                "{space:?} {arch}: outputs differ by {worst} (scale {scale})"
            );
            // A timed run writes into the same output: the values do not move.
            ort.run_discard().unwrap();
            assert_eq!(ort.run().unwrap().1, got);
        }
    }
}

/// The library is named with its version and providers, and a provider it lacks is refused
/// in one line that names the ones it has.
#[test]
fn providers_are_listed_and_a_missing_one_is_refused() {
    let providers = edgenas_runtime::ort::providers().expect("scripts/fetch-ort.sh");
    assert!(providers.iter().any(|p| p == "cpu"), "{providers:?}");
    let (name, version) = Runtime::ORT.identity().unwrap();
    assert_eq!(name, "onnxruntime+cpu");
    assert!(version.starts_with("1."), "{version}");
    let absent = [
        OrtProvider::Tensorrt,
        OrtProvider::Cuda,
        OrtProvider::Xnnpack,
    ]
    .into_iter()
    .find(|p| !providers.iter().any(|q| q == p.name()))
    .expect("the CPU build lacks TensorRT");
    let net = Space::Nb201.references()[0].build();
    let e = Model::from_network(
        &net,
        ModelOptions {
            runtime: Runtime::Ort(absent),
            threads: 1,
            seed: 0,
            precision: Default::default(),
        },
    )
    .unwrap_err()
    .to_string();
    let has = e
        .split_once("; it has ")
        .map(|(_, list)| list)
        .unwrap_or("");
    assert!(e.contains(&format!("--ep {}", absent.name())), "{e}");
    assert!(has.split(", ").any(|p| p == "cpu"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
}

/// `profile --runtime ort` records `onnxruntime+cpu` and the library's version; `infer` of the
/// exported file gives the output of the arch; a missing library is one line.
#[test]
fn the_commands_run_on_onnxruntime_and_record_it() {
    let home = TempDir::new("ort-cli");
    let mut args = vec![
        "profile",
        ALL_CONV1,
        "--runtime",
        "ort",
        "--resume",
        "--json",
    ];
    args.extend_from_slice(QUICK);
    let v = json(&ok(home.path(), &args));
    let r = &v["results"][0];
    assert_eq!(r["fingerprint"]["runtime"], "onnxruntime+cpu", "{r}");
    assert!(r["fingerprint"]["runtime_version"]
        .as_str()
        .unwrap()
        .starts_with("1."));
    assert!(r["median_ms"].as_f64().unwrap() > 0.0);
    // The same arch under tract is another measurement, never resumed from this one.
    let mut args = vec!["profile", ALL_CONV1, "--resume", "--json"];
    args.extend_from_slice(QUICK);
    let v = json(&ok(home.path(), &args));
    assert_eq!(v["results"][0]["fingerprint"]["runtime"], "tract");
    assert_eq!(v["results"][0]["resumed"], false);

    let file = home.path().join("cell.onnx");
    ok(
        home.path(),
        &[
            "export",
            ALL_CONV3,
            "-o",
            file.to_str().unwrap(),
            "--seed",
            "2",
        ],
    );
    let output = |args: &[&str]| -> Vec<f64> {
        json(&ok(home.path(), args))["output"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let from_arch = output(&[
        "infer",
        ALL_CONV3,
        "--seed",
        "2",
        "--runtime",
        "ort",
        "--json",
    ]);
    let from_file = output(&[
        "infer",
        file.to_str().unwrap(),
        "--seed",
        "2",
        "--runtime",
        "ort",
        "--json",
    ]);
    assert_eq!(from_arch.len(), 10);
    assert_eq!(from_arch, from_file, "the file is the network that was run");

    // --ep belongs to ort; a .tflite file is not ONNX Runtime's.
    let e = fails(home.path(), &["infer", ALL_CONV1, "--ep", "cuda"]);
    assert!(e.contains("--runtime ort"), "{e}");
    let tfl = home.path().join("cell.tflite");
    ok(
        home.path(),
        &["export", ALL_CONV1, "-o", tfl.to_str().unwrap()],
    );
    let e = fails(
        home.path(),
        &["infer", tfl.to_str().unwrap(), "--runtime", "ort"],
    );
    assert!(e.contains("--runtime tflite"), "{e}");

    // Without the library: one line that says how to get it.
    let o = edgenas(home.path())
        .env(
            "EDGENAS_ORT_LIB",
            home.path().join("nowhere/libonnxruntime.so"),
        )
        .args(["infer", ALL_CONV1, "--runtime", "ort"])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("not found") && err.contains("fetch-ort.sh"),
        "{err}"
    );

    // probe lists it with its providers.
    let v = json(&ok(home.path(), &["probe", "--json"]));
    let ort = &v["runtimes"][2];
    assert_eq!(ort["name"], "ort", "{v}");
    assert!(ort["version"].as_str().unwrap().starts_with("1."), "{v}");
    assert!(
        ort["accelerators"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "cpu"),
        "{v}"
    );
}

/// `bench runtimes`: the same archs on each runtime, a program among them; each runtime's
/// median and ratio to the fastest, and every pair's rank agreement.
#[test]
fn bench_runtimes_compares_the_same_archs_on_each_runtime() {
    let home = TempDir::new("ort-bench");
    let v = json(&ok(
        home.path(),
        &[
            "bench",
            "runtimes",
            "--archs",
            "3",
            "--max-time",
            "0",
            "--runtimes",
            "tract,ort",
            "--exec",
            "sh -c 'echo edgenas-latency-ms: 0.25' {model}",
            "--json",
        ],
    ));
    let runtimes = v["runtimes"].as_array().unwrap();
    let labels: Vec<&str> = runtimes
        .iter()
        .map(|r| r["runtime"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["tract", "ort+cpu", "exec:sh"], "{v}");
    assert_eq!(v["archs"].as_array().unwrap().len(), 3);
    for r in runtimes {
        assert_eq!(r["latencies_ms"].as_array().unwrap().len(), 3, "{r}");
        assert!(r["ratio_to_fastest"].as_f64().unwrap() >= 1.0, "{r}");
    }
    // The program reports 0.25 ms for every arch: the fastest, at ratio 1.
    assert_eq!(runtimes[2]["median_ms"], 0.25);
    assert_eq!(runtimes[2]["ratio_to_fastest"], 1.0);
    assert_eq!(v["pairs"].as_array().unwrap().len(), 3);
    assert!(v["pairs"][0]["spearman"].as_f64().unwrap().abs() <= 1.0);
}

/// int8 (QDQ, fused into ONNX Runtime's integer kernels) against fp32 from the same seeded
/// weights, on archs of every space; and ONNX Runtime's int8 against tract's run of the same
/// file. The bounds are the measured worst cases with room (README, "Precision").
#[test]
fn int8_outputs_are_close_to_fp32_and_agree_between_runtimes() {
    check_int8_outputs(Runtime::ORT, Runtime::Tract, 0.03, 41);
}

/// `export --precision int8` (the aarch64 build's too, in the emulated tier) writes a QDQ .onnx
/// that onnxruntime's own Python package loads and runs, about a quarter the size of the fp32
/// file; `infer` runs it through the binding; a precision edgenas does not write a format at
/// is refused in one line.
#[test]
fn an_int8_export_runs_in_onnxruntimes_own_package() {
    let home = TempDir::new("ort-int8");
    let fp32 = home.path().join("cell.onnx");
    let int8 = home.path().join("cell.int8.onnx");
    let (f, i) = (fp32.to_str().unwrap(), int8.to_str().unwrap());
    ok(home.path(), &["export", ALL_CONV3, "-o", f]);
    let said = ok(
        home.path(),
        &["export", ALL_CONV3, "-o", i, "--precision", "int8"],
    );
    assert!(said.contains("at int8"), "{said}");
    let (fs, is) = (
        std::fs::metadata(&fp32).unwrap().len(),
        std::fs::metadata(&int8).unwrap().len(),
    );
    assert!(is * 3 < fs, "int8 {is} bytes against fp32 {fs}");
    let script = r#"
import sys, numpy as np, onnxruntime as ort
so = ort.SessionOptions(); so.intra_op_num_threads = 1
s32 = ort.InferenceSession(sys.argv[1], so, providers=["CPUExecutionProvider"])
s8 = ort.InferenceSession(sys.argv[2], so, providers=["CPUExecutionProvider"])
x = np.random.RandomState(0).uniform(-1, 1, s32.get_inputs()[0].shape).astype(np.float32)
a = s32.run(None, {"input": x})[0]; b = s8.run(None, {"input": x})[0]
print(a.shape == b.shape, float(np.linalg.norm(a - b) / np.linalg.norm(a)))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script, f, i])
        .output()
        .expect("python3 with onnxruntime (scripts/test.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (same_shape, err) = text.trim().split_once(' ').unwrap();
    assert_eq!(same_shape, "True");
    let err: f64 = err.parse().unwrap();
    assert!(
        err <= 0.15,
        "onnxruntime's package: int8 is {err} from fp32"
    );
    // The binding runs the file as written, and the arch at int8 gives the same output (the
    // emulated tier has no ONNX Runtime: there the aarch64 build's file was checked above).
    if !emulated() {
        let file = json(&ok(
            home.path(),
            &["infer", i, "--runtime", "ort", "--json"],
        ));
        let built = json(&ok(
            home.path(),
            &[
                "infer",
                ALL_CONV3,
                "--runtime",
                "ort",
                "--precision",
                "int8",
                "--json",
            ],
        ));
        assert_eq!(file["output"], built["output"]);
    }
    let e = fails(
        home.path(),
        &["export", ALL_CONV3, "-o", "m.tflite", "--precision", "fp16"],
    );
    assert!(e.contains("TensorFlow Lite at fp32, int8, not fp16"), "{e}");
    assert_eq!(e.trim().lines().count(), 1, "{e}");
}
