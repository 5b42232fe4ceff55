//! The predictor commands end to end: the shipped models, HELP's protocol on a device the
//! model has never seen, and bad input refused in one line.

mod common;

use std::path::Path;

use common::*;

fn nb201() -> String {
    shared_data("nb201_latency_help.csv")
}

/// A computed column: its name and how it is made from a row's (fpga_ms, gold_6226_ms).
type DerivedColumn = (&'static str, fn(f64, f64) -> String);

/// The first `rows` rows of the NB201 table and its reference archs, with `keep` columns, and extra columns computed
/// from the row's `fpga_ms` and `gold_6226_ms`.
fn derived_table(dir: &Path, rows: usize, keep: &[&str], extra: &[DerivedColumn]) -> String {
    let text = std::fs::read_to_string(nb201()).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (fpga, gold) = (col("fpga_ms"), col("gold_6226_ms"));
    let mut out = keep.join(",");
    for (name, _) in extra {
        out.push(',');
        out.push_str(name);
    }
    out.push('\n');
    // The rows of HELP's pools, then the reference archs (the hardware embedding needs them).
    let all: Vec<&str> = lines.collect();
    let refs =
        std::fs::read_to_string(shared_data("help_hw_embedding_reference_archs.csv")).unwrap();
    let ref_rows = refs
        .lines()
        .filter(|l| l.starts_with("nasbench201,"))
        .map(|l| l.split(',').nth(2).unwrap().parse::<usize>().unwrap())
        .filter(|&r| r >= rows);
    for line in all[..rows].iter().copied().chain(ref_rows.map(|r| all[r])) {
        let c: Vec<&str> = line.split(',').collect();
        let mut cells: Vec<String> = keep.iter().map(|k| c[col(k)].to_string()).collect();
        let (f, g): (f64, f64) = (c[fpga].parse().unwrap(), c[gold].parse().unwrap());
        cells.extend(extra.iter().map(|(_, make)| make(f, g)));
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    let path = dir.join("table.csv");
    std::fs::write(&path, out).unwrap();
    path.display().to_string()
}

/// The mean validation Spearman of a space's model (`--model FILE`, else the shipped one) on
/// its recorded validation devices, seeds and support size.
fn validation_spearman(home: &Path, space: &str, model: Option<&str>) -> (f64, f64) {
    let info = json(&ok(home, &["predictor", "info", "--space", space]));
    let devices: Vec<String> = info["valid_devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect();
    let seeds = info["valid_seeds"].as_array().unwrap().len().to_string();
    let samples = info["valid_samples"].to_string();
    let data = shared_data(&format!("{space}_latency_help.csv"));
    let devices = devices.join(",");
    let mut args = vec![
        "predictor",
        "eval",
        "--space",
        space,
        "--data",
        &data,
        "--devices",
        &devices,
        "--samples",
        &samples,
        "--seeds",
        &seeds,
        "--meta-only",
        "--json",
    ];
    if let Some(m) = model {
        args.extend(["--model", m]);
    }
    let out = json(&ok(home, &args));
    (
        info["valid_spearman"].as_f64().unwrap(),
        out["mean_spearman"].as_f64().unwrap(),
    )
}

#[test]
fn the_shipped_models_rank_as_their_full_precision_files_do() {
    let home = TempDir::new("pred-info");
    for space in ["nb201", "fbnet", "ofa"] {
        // The full-precision file reaches the accuracy recorded when it was trained...
        let file = format!("{}/models/{space}.predictor", env!("CARGO_MANIFEST_DIR"));
        let (recorded, full) = validation_spearman(home.path(), space, Some(&file));
        assert!(
            (full - recorded).abs() < 1e-4,
            "{space}: recorded {recorded}, evaluated {full}"
        );
        assert!(full > 0.8, "{space}: {full}");
        // ...and the compact copy in the binary (weights at f16's precision) ranks the same to
        // 3 decimals.
        let (_, compact) = validation_spearman(home.path(), space, None);
        assert!(
            (compact - full).abs() < 5e-4,
            "{space}: compact {compact:.5} against full {full:.5}"
        );
    }
}

#[test]
fn eval_works_on_a_device_the_model_never_saw() {
    let home = TempDir::new("pred-new-device");
    // A made-up accelerator: FPGA-like with a CPU-like share, in another unit scale.
    let table = derived_table(
        home.path(),
        2000,
        &["index", "arch_str"],
        &[("my_board_ms", |f, g| format!("{:.6}", 3.0 * f + 0.2 * g))],
    );
    let out = json(&ok(
        home.path(),
        &[
            "predictor",
            "eval",
            "--space",
            "nb201",
            "--data",
            &table,
            "--devices",
            "my_board",
            "--seeds",
            "2",
            "--json",
        ],
    ));
    let d = &out["devices"][0];
    assert_eq!(d["device"], "my_board");
    let rho = d["spearman"].as_f64().unwrap();
    assert!(rho > 0.8, "spearman {rho}");
    for key in ["kendall", "within_10pct"] {
        let v = d[key].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&v), "{key} {v}");
    }
    assert_eq!(out["samples"], 10);
    assert_eq!(out["space"], "nb201");
}

#[test]
fn bad_tables_and_models_are_refused_in_one_line() {
    let home = TempDir::new("pred-bad");
    let dir = home.path();
    let eval = |data: &str, extra: &[&str]| {
        let mut args = vec![
            "predictor",
            "eval",
            "--space",
            "nb201",
            "--data",
            data,
            "--devices",
            "dev",
            "--seeds",
            "1",
        ];
        args.extend_from_slice(extra);
        fails(dir, &args)
    };

    // A missing arch column.
    let p = dir.join("nocol.csv");
    std::fs::write(&p, "index,dev_ms\n0,1.0\n").unwrap();
    let e = eval(p.to_str().unwrap(), &[]);
    assert!(e.contains("no column 'arch_str'"), "{e}");

    // A latency that is not a number.
    let p = dir.join("nan.csv");
    std::fs::write(&p, format!("arch_str,dev_ms\n{ALL_SKIP},fast\n")).unwrap();
    let e = eval(p.to_str().unwrap(), &[]);
    assert!(e.contains("line 2") && e.contains("'fast'"), "{e}");

    // An arch that is not one.
    let p = dir.join("arch.csv");
    std::fs::write(&p, "arch_str,dev_ms\n|nor_conv_9x9~0|+|,1.0\n").unwrap();
    let e = eval(p.to_str().unwrap(), &[]);
    assert!(e.contains("row 1") && e.contains("nor_conv_9x9"), "{e}");

    // A device that is not in the table.
    let e = fails(
        dir,
        &[
            "predictor",
            "eval",
            "--space",
            "nb201",
            "--data",
            &nb201(),
            "--devices",
            "nosuch",
            "--seeds",
            "1",
        ],
    );
    assert!(e.contains("no device 'nosuch'"), "{e}");

    // The network's knobs configure the meta-learned model alone: refused without --meta-only
    // rather than silently ignored by the on-device model.
    for knob in [&["--blend", "1"][..], &["--adaptation", "sgd"][..]] {
        let e = eval(&nb201(), knob);
        assert!(e.contains("add --meta-only"), "{knob:?}: {e}");
    }

    // A model file of another kind, of another version, and not an edgenas file at all.
    let journal = dir.join("j.bin");
    let mut bytes = b"EDGENAS\0MEASURE\0".to_vec();
    bytes.extend([1, 0]);
    std::fs::write(&journal, &bytes).unwrap();
    let e = eval(&nb201(), &["--model", journal.to_str().unwrap()]);
    assert!(
        e.contains("is a measurement-journal file, expected a predictor file"),
        "{e}"
    );
    let future = dir.join("future.bin");
    let mut bytes = b"EDGENAS\0PREDICT\0".to_vec();
    bytes.extend([99, 0]);
    std::fs::write(&future, &bytes).unwrap();
    let e = eval(&nb201(), &["--model", future.to_str().unwrap()]);
    assert!(e.contains("format version 99"), "{e}");
    let junk = dir.join("junk.bin");
    std::fs::write(&junk, b"hello").unwrap();
    let e = eval(&nb201(), &["--model", junk.to_str().unwrap()]);
    assert!(e.contains("not an edgenas file"), "{e}");

    // A model file that is not there.
    let e = fails(
        dir,
        &[
            "predictor",
            "info",
            "--space",
            "fbnet",
            "--model",
            "/nonexistent/m.bin",
        ],
    );
    assert!(e.contains("/nonexistent/m.bin"), "{e}");
}

#[test]
fn meta_training_is_deterministic_for_a_seed() {
    let home = TempDir::new("pred-train");
    let dir = home.path();
    let table = derived_table(
        dir,
        2000,
        &[
            "index",
            "arch_str",
            "fpga_ms",
            "gold_6226_ms",
            "raspi4_ms",
            "eyeriss_ms",
            "pixel3_ms",
        ],
        &[],
    );
    let train = |out: &str, seed: &str| {
        let o = dir.join(out);
        ok(
            dir,
            &[
                "predictor",
                "meta-train",
                "--space",
                "nb201",
                "--data",
                &table,
                "--train",
                "fpga,gold_6226,pixel3",
                "--valid",
                "raspi4",
                "--iterations",
                "20",
                "--seed",
                seed,
                "-o",
                o.to_str().unwrap(),
            ],
        );
        std::fs::read(o).unwrap()
    };
    let a = train("a.bin", "3");
    let b = train("b.bin", "3");
    let c = train("c.bin", "4");
    // Identical weights for a seed (the recorded wall time may differ: compare the rest).
    let strip = |v: &[u8]| v[..v.len() - 8].to_vec();
    assert_eq!(strip(&a), strip(&b));
    assert_ne!(strip(&a), strip(&c));
    // The model it wrote evaluates.
    let out = json(&ok(
        dir,
        &[
            "predictor",
            "eval",
            "--space",
            "nb201",
            "--data",
            &table,
            "--devices",
            "eyeriss",
            "--model",
            dir.join("a.bin").to_str().unwrap(),
            "--seeds",
            "1",
            "--json",
        ],
    ));
    assert!(out["devices"][0]["spearman"].is_number());
    // A device in both sets is refused.
    let e = fails(
        dir,
        &[
            "predictor",
            "meta-train",
            "--space",
            "nb201",
            "--data",
            &table,
            "--train",
            "fpga",
            "--valid",
            "fpga",
            "-o",
            dir.join("x.bin").to_str().unwrap(),
        ],
    );
    assert!(e.contains("both a training and a validation device"), "{e}");
}
