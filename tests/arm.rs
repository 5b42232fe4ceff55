//! The emulated-ARM tier's own check: the cross-compiled binary computes what the native one
//! does. Runs when `EDGENAS_TEST_RUNNER` points the tests at an emulated binary.

mod common;

use std::process::Command;

use common::*;

fn native(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_edgenas"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "native {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
#[ignore = "ARM tier: compares the aarch64 build under qemu with this one (scripts/test.sh runs it)"]
fn emulated_binary_matches_the_native_one() {
    assert!(
        emulated(),
        "set EDGENAS_TEST_BIN to the aarch64 build and EDGENAS_TEST_RUNNER to its emulator"
    );
    let home = TempDir::new("arm");
    // Network outputs agree within float tolerance (NEON and AVX kernels sum in other orders).
    for arch in [ALL_SKIP, "skip-k3_e1-skip-skip-k3_e1_g2-skip-skip-skip-skip-skip-skip-skip-skip-skip-skip-skip-skip-skip-skip-skip-skip-skip"] {
        let a = json(&ok(home.path(), &["infer", arch, "--json"]));
        let b = json(&native(&["infer", arch, "--json"]));
        assert_eq!(a["shape"], b["shape"]);
        let (a, b) = (a["output"].as_array().unwrap(), b["output"].as_array().unwrap());
        for (x, y) in a.iter().zip(b) {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!((x - y).abs() <= 1e-4 + 1e-3 * y.abs(), "{x} vs {y}");
        }
    }
    // The predictor scores a device alike (float sums may differ in the last bits).
    let data = shared_data("nb201_latency_help.csv");
    let args = [
        "predictor",
        "eval",
        "--space",
        "nb201",
        "--data",
        &data,
        "--devices",
        "raspi4,fpga",
        "--seeds",
        "2",
        "--json",
    ];
    let a = json(&ok(home.path(), &args));
    let b = json(&native(&args));
    for (x, y) in a["devices"]
        .as_array()
        .unwrap()
        .iter()
        .zip(b["devices"].as_array().unwrap())
    {
        let (x, y) = (
            x["spearman"].as_f64().unwrap(),
            y["spearman"].as_f64().unwrap(),
        );
        assert!((x - y).abs() < 1e-3, "{x} vs {y}");
    }
    // Exported models are byte-identical: weights come from the same seeded generator.
    let arm_file = home.path().join("arm.onnx");
    let native_file = home.path().join("native.onnx");
    ok(
        home.path(),
        &["export", ALL_SKIP, "-o", arm_file.to_str().unwrap()],
    );
    native(&["export", ALL_SKIP, "-o", native_file.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(arm_file).unwrap(),
        std::fs::read(native_file).unwrap()
    );
}
