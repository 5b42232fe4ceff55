//! `export --format pytorch`: a trainable module of exactly the network that was timed. For one
//! arch of each space, the module is run by Python (real torch where it is installed, else the
//! shape-only stand-in in tests/fixtures/fake_torch) and its output shape and parameter count
//! are checked against the ONNX export of the same arch.

mod common;

use common::*;

const FBNET: &str = "k3_e1-k3_e1_g2-k5_e6-skip-k3_e3-k5_e1-k3_e6-k5_e3-k3_e1-k5_e6-k3_e1_g2-skip-k5_e1_g2-k3_e6-k5_e3-k3_e1-k5_e6-skip-k3_e3-k5_e1-k3_e6-k5_e3";
const OFA: &str = "ks=7,5,3,3,5,7,3,5,3,3,5,7,3,5,7,3,5,7,3,5;e=6,4,3,3,6,4,3,6,4,3,6,4,3,6,4,3,6,4,3,6;d=2,3,4,2,3;r=160";
const NB201: &str =
    "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|";

fn python_has_torch() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import torch"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn the_pytorch_module_matches_the_onnx_export_of_each_space() {
    let home = TempDir::new("pytorch");
    let fake = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fake_torch");
    let real = python_has_torch();
    for (arch, classes) in [(NB201, 10), (FBNET, 100), (OFA, 1000)] {
        let py = home.path().join("model.py");
        let onnx = home.path().join("model.onnx");
        let said = ok(home.path(), &["export", arch, "-o", onnx.to_str().unwrap()]);
        // "...: ARCH (N parameters, ...)"
        let params: u64 = said
            .rsplit('(')
            .next()
            .and_then(|s| s.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no parameter count in {said}"));
        ok(
            home.path(),
            &[
                "export",
                arch,
                "-o",
                py.to_str().unwrap(),
                "--format",
                "pytorch",
            ],
        );
        let mut cmd = std::process::Command::new("python3");
        cmd.arg(&py);
        if !real {
            cmd.env("PYTHONPATH", fake);
        }
        let o = cmd.output().expect("python3");
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{arch}: {}{}",
            text,
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(
            text.trim(),
            format!("output (1, {classes}) parameters {params}"),
            "{arch} (real torch: {real})"
        );
    }
    // The extension picks the format too; an unknown format names the known ones.
    let py = home.path().join("by-extension.py");
    ok(home.path(), &["export", NB201, "-o", py.to_str().unwrap()]);
    assert!(std::fs::read_to_string(&py)
        .unwrap()
        .contains("class Net(nn.Module)"));
}
