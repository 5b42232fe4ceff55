//! The README's "A short tour" block runs top to bottom, as written, in a fresh state directory.
//!
//! The block is run by bash as one script (`set -e`), with `edgenas` on PATH (the binary under
//! test, through the emulator when there is one), in a fresh folder that sees the checkout's
//! tests/ (for the fixture boards), against the `desktop-performance` fixture board so that its
//! measurements pass pre-flight whatever the host's governor.
#![cfg(feature = "tflite")] // the tour times a .tflite file

mod common;

use common::*;

fn tour_block() -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let from = readme.find("## A short tour").expect("README has a tour");
    let rest = &readme[from..];
    let start = rest.find("```sh\n").expect("a sh block") + "```sh\n".len();
    let end = rest[start..].find("```").expect("the block ends");
    rest[start..start + end].to_string()
}

#[test]
fn the_readme_tour_runs_top_to_bottom() {
    let dir = TempDir::new("tour");
    let bin_dir = dir.path().join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let runner = std::env::var("EDGENAS_TEST_RUNNER").unwrap_or_default();
    let wrapper = bin_dir.join("edgenas");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexec {runner} '{}' \"$@\"\n", bin().display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::os::unix::fs::symlink(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests"),
        work.join("tests"),
    )
    .unwrap();
    let script = dir.path().join("tour.sh");
    std::fs::write(&script, format!("set -euo pipefail\n{}", tour_block())).unwrap();
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/boards/desktop-performance"
    );
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = std::process::Command::new("bash")
        .arg(&script)
        .current_dir(&work)
        .env("PATH", path)
        .env("EDGENAS_HOME", dir.path().join("home"))
        .env("EDGENAS_SYSROOT", fixture)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "the tour stopped: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    for file in [
        "cell.onnx",
        "cell.tflite",
        "cell.py",
        "runs.csv",
        "runs.md",
        "measurements.csv",
        "edgenas.bash",
        "edgenas.1",
    ] {
        let p = work.join(file);
        assert!(
            p.metadata().is_ok_and(|m| m.len() > 0),
            "{file} was not written"
        );
    }
    // Five measurements: the cell, FBNet, the ONNX file, the .tflite file, the ONNX file under
    // ONNX Runtime; the resumed cell is not measured twice.
    let shown = json(&ok(
        &dir.path().join("home"),
        &["journal", "show", "--json"],
    ));
    assert_eq!(shown["results"].as_array().unwrap().len(), 5, "{shown}");
}
