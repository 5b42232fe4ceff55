//! TensorFlow Lite as the second runtime: the `.tflite` writer agrees with tract on networks of
//! all three spaces, and the commands run, record and refuse with `--runtime tflite`.
//!
//! Needs a build with `--features tflite` and the library (scripts/fetch-tflite.sh); under
//! qemu, the -tflite tarball's binary with the library beside it.
#![cfg(feature = "tflite")]

mod common;

use common::*;
use edgenas_nas::Space;
use edgenas_runtime::tflite::{nchw_to_nhwc, to_tflite_bytes, TfliteModel};
use edgenas_runtime::{TfliteDelegate, TractModel, TractOptions};
use rand::SeedableRng;

/// The writer is right: for seeded archs of each space, tract on the ONNX model and TensorFlow
/// Lite on the `.tflite` model (same weights) give the same outputs on the same image.
#[test]
fn tract_and_tflite_agree_on_archs_of_every_space() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    for (space, archs) in [(Space::Nb201, 4), (Space::Fbnet, 2), (Space::Ofa, 1)] {
        for _ in 0..archs {
            let arch = space.sample(&mut rng);
            let net = arch.build();
            let seed = 3;
            let mut tract = TractModel::from_network(&net, TractOptions { threads: 1, seed })
                .unwrap_or_else(|e| panic!("{arch}: {e}"));
            let bytes = to_tflite_bytes(&net, seed).unwrap_or_else(|e| panic!("{arch}: {e}"));
            // Both ways TensorFlow Lite runs it: its own kernels and the XNNPACK delegate.
            let mut tfl = TfliteModel::from_bytes(&bytes, 1, seed, TfliteDelegate::None)
                .unwrap_or_else(|e| panic!("{arch}: {e}"));
            let mut xnn = TfliteModel::from_bytes(&bytes, 1, seed, TfliteDelegate::Xnnpack)
                .unwrap_or_else(|e| panic!("{arch}: {e}"));
            let n = net.input.elements();
            let input: Vec<f32> = (0..n)
                .map(|i| ((i * 7919 % 2003) as f32 / 1001.0) - 1.0)
                .collect();
            let want = tract.run_on(&input).unwrap().remove(0);
            let nhwc = nchw_to_nhwc(&input, net.input.dims());
            for (name, model) in [("tflite", &mut tfl), ("tflite+xnnpack", &mut xnn)] {
                let got = model.run_on(&nhwc).unwrap().remove(0);
                assert_eq!(want.len(), got.len(), "{arch}");
                let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-3);
                let worst = want
                    .iter()
                    .zip(&got)
                    .map(|(w, g)| (w - g).abs())
                    .fold(0f32, f32::max);
                assert!(
                    worst <= 1e-3 * scale,
                    "{space:?} {arch} on {name}: outputs differ by {worst} (scale {scale})"
                );
            }
        }
    }
}

/// The seeded input is the same image under both runtimes: `infer` of an arch prints the same
/// output with tract, with TensorFlow Lite, and from the exported `.tflite` file.
#[test]
fn infer_and_export_agree_across_runtimes() {
    let home = TempDir::new("tflite-infer");
    let file = home.path().join("cell.tflite");
    let out = ok(
        home.path(),
        &[
            "export",
            ALL_CONV3,
            "-o",
            file.to_str().unwrap(),
            "--seed",
            "5",
        ],
    );
    assert!(out.contains("cell.tflite"), "{out}");
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(&bytes[4..8], b"TFL3");
    let output = |args: &[&str]| -> Vec<f64> {
        let v = json(&ok(home.path(), args));
        v["output"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let tract = output(&["infer", ALL_CONV3, "--seed", "5", "--json"]);
    let tflite = output(&[
        "infer",
        ALL_CONV3,
        "--seed",
        "5",
        "--runtime",
        "tflite",
        "--json",
    ]);
    let from_file = output(&[
        "infer",
        file.to_str().unwrap(),
        "--seed",
        "5",
        "--runtime",
        "tflite",
        "--json",
    ]);
    assert_eq!(tract.len(), 10);
    assert_eq!(tflite, from_file, "the file is the network that was run");
    for (a, b) in tract.iter().zip(&tflite) {
        assert!(
            (a - b).abs() < 1e-3 * a.abs().max(1.0),
            "{tract:?} vs {tflite:?}"
        );
    }
    // --format wins over the extension; an unknown format is one line.
    let forced = home.path().join("cell.bin");
    ok(
        home.path(),
        &[
            "export",
            ALL_CONV3,
            "-o",
            forced.to_str().unwrap(),
            "--format",
            "tflite",
        ],
    );
    assert_eq!(&std::fs::read(&forced).unwrap()[4..8], b"TFL3");
    let e = fails(
        home.path(),
        &[
            "export",
            ALL_CONV3,
            "-o",
            forced.to_str().unwrap(),
            "--format",
            "pb",
        ],
    );
    assert!(e.contains("onnx, tflite, pytorch"), "{e}");
    // Each runtime refuses the other's file, naming the right flag.
    let e = fails(home.path(), &["infer", file.to_str().unwrap()]);
    assert!(e.contains("--runtime tflite"), "{e}");
}

/// `profile --runtime tflite` records the runtime and its library version in the Fingerprint,
/// so a tract record is never reused for TensorFlow Lite (nor the reverse).
#[test]
fn profile_records_the_runtime_and_never_mixes_them() {
    let home = TempDir::new("tflite-profile");
    let profile = |runtime: &str| {
        let mut args = vec![
            "profile",
            ALL_CONV1,
            "--resume",
            "--runtime",
            runtime,
            "--json",
        ];
        args.extend_from_slice(QUICK);
        json(&ok(home.path(), &args))
    };
    let tract = profile("tract");
    let tflite = profile("tflite");
    let plain = profile("tflite+none");
    let fp = |v: &serde_json::Value| {
        let v = &v["results"][0];
        (
            v["fingerprint"]["runtime"].as_str().unwrap().to_string(),
            v["fingerprint"]["runtime_version"]
                .as_str()
                .unwrap()
                .to_string(),
            v["median_ms"].as_f64().unwrap(),
        )
    };
    let (rt, _, ms) = fp(&tract);
    assert_eq!(rt, "tract");
    assert!(ms > 0.0);
    // XNNPACK by default, as benchmark_model and LiteRT run; the delegate is in the identity.
    let (rt, version, ms) = fp(&tflite);
    assert_eq!(rt, "tflite+xnnpack");
    assert!(version.starts_with("2."), "{version}");
    assert!(ms > 0.0);
    let (rt, _, ms) = fp(&plain);
    assert_eq!(rt, "tflite");
    assert!(ms > 0.0);
    // All are in the journal: each TFLite run was measured, not resumed from another's record.
    let shown = json(&ok(home.path(), &["journal", "show", "--json"]));
    let runtimes: Vec<&str> = shown["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["fingerprint"]["runtime"].as_str().unwrap())
        .collect();
    assert_eq!(runtimes, ["tract", "tflite+xnnpack", "tflite"]);
    // A second tflite --resume reuses the tflite record.
    profile("tflite");
    let shown = json(&ok(home.path(), &["journal", "show", "--json"]));
    assert_eq!(shown["results"].as_array().unwrap().len(), 3);
}

/// Without the library: one line that says how to get it; tract is unaffected.
#[test]
fn a_missing_library_is_one_clear_line() {
    let home = TempDir::new("tflite-missing");
    let missing = home.path().join("nowhere/libtensorflowlite_c.so");
    let mut args = vec!["profile", ALL_CONV1, "--runtime", "tflite"];
    args.extend_from_slice(QUICK);
    let o = edgenas(home.path())
        .env("EDGENAS_TFLITE_LIB", &missing)
        .args(&args)
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("not found") && err.contains("-tflite tarball"),
        "{err}"
    );
    // A file that is not a loadable library is named, with the loader's reason.
    let not_lib = home.path().join("libtensorflowlite_c.so");
    std::fs::write(&not_lib, "not an ELF file").unwrap();
    let o = edgenas(home.path())
        .env("EDGENAS_TFLITE_LIB", &not_lib)
        .args(["infer", ALL_CONV1, "--runtime", "tflite"])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("does not load"), "{err}");
    // probe says which runtimes this board has, and why one is missing.
    let v = json(&ok(home.path(), &["probe", "--json"]));
    assert!(
        v["runtimes"][1]["version"]
            .as_str()
            .unwrap()
            .starts_with("2."),
        "{v}"
    );
    let o = edgenas(home.path())
        .env("EDGENAS_TFLITE_LIB", &missing)
        .args(["probe", "--json"])
        .output()
        .unwrap();
    let v = json(&stdout(&o));
    assert!(
        v["runtimes"][1]["error"]
            .as_str()
            .unwrap()
            .contains("not found"),
        "{v}"
    );
    assert_eq!(v["runtimes"][0]["name"], "tract");
    // The same binary, same environment, runs tract.
    let o = edgenas(home.path())
        .env("EDGENAS_TFLITE_LIB", &missing)
        .args(["infer", ALL_CONV1])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // An unknown runtime is a usage error (clap's status 2) that names the valid ones.
    let o = run(home.path(), &["infer", ALL_CONV1, "--runtime", "tensorrt"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("tract, tflite, ort"), "{}", stderr(&o));
}

/// The full-integer int8 `.tflite` of archs of every space runs (XNNPACK's int8 kernels), stays
/// within the int8 error of the fp32 output, keeps the top-1 class unless fp32's lead is within
/// that error, and agrees with ONNX Runtime's run of the QDQ `.onnx` quantised from the same
/// weights and ranges. The bounds are the measured worst cases with room (README, "Precision").
#[test]
fn int8_tflite_is_close_to_fp32_and_agrees_with_onnxruntime_int8() {
    use edgenas_runtime::Runtime;
    check_int8_outputs(Runtime::TFLITE, Runtime::ORT, 0.05, 43);
}
