//! End-to-end tests of the binary: probe, profile, export, journal, bad input.

mod common;

use common::*;

#[test]
fn profile_json_carries_figures_and_conditions() {
    let home = TempDir::new("json");
    let mut args = vec!["profile", ALL_SKIP, "--json"];
    args.extend_from_slice(QUICK);
    let v = profile_result(&ok(home.path(), &args));
    assert_eq!(v["subject"], ALL_SKIP);
    assert_eq!(v["kind"], "arch");
    assert_eq!(v["space"], "nb201");
    assert_eq!(v["resumed"], false);
    assert_eq!(v["runtime"], "tract");
    assert_eq!(v["threads"], 1);
    for key in ["median_ms", "mad_ms", "p10_ms", "p90_ms", "cv"] {
        assert!(v[key].as_f64().is_some_and(|x| x >= 0.0), "{key}: {v}");
    }
    assert!(v["median_ms"].as_f64().unwrap() > 0.0);
    assert!(v["runs"].as_u64().unwrap() >= 2);
    assert!(v["flags"].is_array());
    assert_eq!(v["fingerprint"]["threads"], 1);
    assert!(v["fingerprint"]["arch"].is_string());
    // p10 <= median <= p90
    let (p10, med, p90) = (
        v["p10_ms"].as_f64().unwrap(),
        v["median_ms"].as_f64().unwrap(),
        v["p90_ms"].as_f64().unwrap(),
    );
    assert!(p10 <= med && med <= p90, "{v}");
}

#[test]
fn probe_reports_this_machine() {
    let home = TempDir::new("probe");
    let v = json(&ok(home.path(), &["probe", "--json"]));
    assert!(v["system"]["logical_cpus"].as_u64().unwrap() >= 1);
    let page = v["system"]["page_size"].as_u64().unwrap();
    assert!(page.is_power_of_two() && page >= 4096, "{page}");
    assert!(ok(home.path(), &["probe"]).contains("Board:"));
}

#[test]
fn corrupt_onnx_is_refused_in_one_line() {
    let home = TempDir::new("corrupt");
    let bad = home.path().join("bad.onnx");
    std::fs::write(&bad, b"\x08\x07garbage that is not protobuf \xff\xff\xff").unwrap();
    // --allow-unstable: the model must be what is refused, whatever the host's governor.
    let err = fails(
        home.path(),
        &["profile", bad.to_str().unwrap(), "--allow-unstable"],
    );
    assert!(err.contains("bad.onnx"), "{err}");
    // A missing file and a truncated real model are refused the same way.
    let err = fails(
        home.path(),
        &["profile", "/nonexistent/model.onnx", "--allow-unstable"],
    );
    assert!(err.contains("model.onnx"), "{err}");
    let good = home.path().join("good.onnx");
    ok(
        home.path(),
        &["export", ALL_SKIP, "-o", good.to_str().unwrap()],
    );
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    let err = fails(
        home.path(),
        &["profile", bad.to_str().unwrap(), "--allow-unstable"],
    );
    assert!(err.contains("bad.onnx"), "{err}");
}

#[test]
fn bad_arch_strings_and_flags_are_refused_in_one_line() {
    let home = TempDir::new("badarch");
    let err = fails(
        home.path(),
        &[
            "profile",
            "|nor_conv_3x3~0|+|none~0|conv_7x7~1|+|none~0|none~1|none~2|",
        ],
    );
    assert!(err.contains("conv_7x7~1"), "{err}");
    let err = fails(
        home.path(),
        &["export", "|none~0|+|none~0|none~1|", "-o", "/tmp/x.onnx"],
    );
    assert!(err.contains("3 nodes"), "{err}");
    let err = fails(home.path(), &["profile", ALL_SKIP, "--cpus", "7-2"]);
    assert!(err.contains("7-2"), "{err}");
    fails(home.path(), &["profile", ALL_SKIP, "--threads", "0"]);
    fails(
        home.path(),
        &["profile", ALL_SKIP, "--min-time", "5", "--max-time", "1"],
    );
}

#[test]
fn export_then_profile_the_file() {
    let home = TempDir::new("export");
    let file = home.path().join("skip.onnx");
    let out = ok(
        home.path(),
        &["export", ALL_SKIP, "-o", file.to_str().unwrap()],
    );
    assert!(out.contains("73098 parameters"), "{out}");
    let mut args = vec!["profile", file.to_str().unwrap(), "--json"];
    args.extend_from_slice(QUICK);
    let v = profile_result(&ok(home.path(), &args));
    assert_eq!(v["kind"], "onnx");
    assert!(v["space"].is_null(), "{v}");
}

#[test]
fn journal_keeps_every_complete_record_after_a_torn_write() {
    let home = TempDir::new("journal");
    let mut args = vec!["profile", ALL_SKIP, ALL_NONE];
    args.extend_from_slice(QUICK);
    ok(home.path(), &args);
    let path = home.path().join("measurements.journal");
    let bytes = std::fs::read(&path).unwrap();
    // Tear the second record in its middle, as a kill -9 during a write would.
    let first_len = u32::from_le_bytes(bytes[18..22].try_into().unwrap()) as usize;
    let second_start = 18 + 8 + first_len;
    let cut = second_start + (bytes.len() - second_start) / 2;
    std::fs::write(&path, &bytes[..cut]).unwrap();
    let o = run(home.path(), &["journal", "show"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("torn"), "{}", stderr(&o));
    assert!(stdout(&o).contains("1 measurement(s)"), "{}", stdout(&o));
    // Reading never modifies the journal; the next writer cuts the torn tail.
    assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, cut);
    let mut again = vec!["profile", ALL_NONE];
    again.extend_from_slice(QUICK);
    ok(home.path(), &again);
    let shown = json(&ok(home.path(), &["journal", "show", "--json"]));
    assert_eq!(shown["results"].as_array().unwrap().len(), 2);
    assert!(ok(home.path(), &["journal", "check"]).contains("2 valid records"));
    // CSV export: a header and one row, with the arch quoted-free and the figures numeric.
    let csv = ok(home.path(), &["journal", "export", "--csv"]);
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 3, "{csv}");
    assert!(rows[0].starts_with("unix_time,space,subject"));
    assert!(rows[1].contains(ALL_SKIP));
    // A file that is not a journal is refused, not misread.
    std::fs::write(&path, b"hello").unwrap();
    let err = fails(home.path(), &["journal", "show"]);
    assert!(err.contains("not an edgenas file"), "{err}");
}

#[test]
fn a_damaged_record_is_reported_skipped_and_repaired_never_deleted_by_reading() {
    let home = TempDir::new("damage");
    let mut args = vec!["profile", ALL_SKIP, ALL_NONE];
    args.extend_from_slice(QUICK);
    ok(home.path(), &args);
    let path = home.path().join("measurements.journal");
    let mut bytes = std::fs::read(&path).unwrap();
    // Two flipped bytes in the first record's payload.
    bytes[18 + 8 + 3] ^= 0x41;
    bytes[18 + 8 + 4] ^= 0x41;
    std::fs::write(&path, &bytes).unwrap();
    let o = run(home.path(), &["journal", "show", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("damaged"), "{}", stderr(&o));
    let shown = json(&stdout(&o));
    assert_eq!(shown["results"].as_array().unwrap().len(), 1);
    assert_eq!(shown["results"][0]["subject"], ALL_NONE);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "reading changed the journal"
    );
    // A writer is not locked out either: it appends after the damage.
    let mut more = vec!["profile", ALL_SKIP];
    more.extend_from_slice(QUICK);
    ok(home.path(), &more);
    let o = run(home.path(), &["journal", "check"]);
    assert!(!o.status.success());
    assert!(stdout(&o).contains("2 valid records"), "{}", stdout(&o));
    assert!(stdout(&o).contains("checksum mismatch"), "{}", stdout(&o));
    assert!(stderr(&o).contains("journal repair"), "{}", stderr(&o));
    let repaired = ok(home.path(), &["journal", "repair"]);
    assert!(repaired.contains("kept all 2 valid records"), "{repaired}");
    let aside: Vec<_> = std::fs::read_dir(home.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("measurements.journal.damaged-"))
        .collect();
    assert_eq!(aside.len(), 1, "the original is kept");
    assert!(ok(home.path(), &["journal", "check"]).contains("2 valid records"));
    assert!(ok(home.path(), &["journal", "repair"]).contains("nothing to repair"));
}

#[test]
fn resume_skips_what_the_journal_already_holds() {
    let home = TempDir::new("resume");
    let mut first = vec!["profile", ALL_SKIP];
    first.extend_from_slice(QUICK);
    ok(home.path(), &first);
    let mut again = vec!["profile", ALL_SKIP, ALL_NONE, "--resume"];
    again.extend_from_slice(QUICK);
    let o = run(home.path(), &again);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("skipped (--resume)"), "{}", stderr(&o));
    assert!(stdout(&o).contains(ALL_NONE));
    let shown = ok(home.path(), &["journal", "show", "--json"]);
    let v = json(&shown);
    assert_eq!(
        v["results"].as_array().unwrap().len(),
        2,
        "only the new arch was measured: {shown}"
    );
}

#[test]
fn threads_and_affinity_are_recorded() {
    let home = TempDir::new("threads");
    let mut args = vec![
        "profile",
        ALL_SKIP,
        "--threads",
        "2",
        "--cpus",
        "0",
        "--json",
    ];
    args.extend_from_slice(QUICK);
    // Two threads on one CPU is refused, naming the way to ask for it on purpose.
    let e = fails(home.path(), &args);
    assert!(e.contains("--oversubscribe"), "{e}");
    args.push("--oversubscribe");
    let v = profile_result(&ok(home.path(), &args));
    assert_eq!(v["threads"], 2);
    assert_eq!(v["cpus"], serde_json::json!([0]));
    assert!(
        v["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "oversubscribed"),
        "{v}"
    );
}

#[test]
fn output_to_a_closed_pipe_ends_quietly_with_status_0() {
    let home = TempDir::new("pipe");
    let mut args = vec!["profile", ALL_SKIP, ALL_NONE];
    args.extend_from_slice(QUICK);
    ok(home.path(), &args);
    for cmd in [
        &["probe"][..],
        &["journal", "show"],
        &["journal", "show", "--json"],
        &["journal", "export", "--csv"],
    ] {
        let mut child = edgenas(home.path())
            .args(cmd)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader is gone before edgenas writes a byte (as `| head -0` would be).
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{cmd:?}: {}", stderr(&o));
        assert_eq!(stderr(&o), "", "{cmd:?}");
    }
}

#[test]
fn search_json_with_nothing_under_the_budget_fails_like_the_human_form() {
    let home = TempDir::new("search-nofit");
    let table = shared_data("nb201_latency_help.csv");
    for json in [true, false] {
        let mut args = vec![
            "search",
            "--space",
            "nb201",
            "--data",
            &table,
            "--device",
            "raspi4",
            "--budget-ms",
            "0.001",
        ];
        if json {
            args.push("--json");
        }
        let o = run(home.path(), &args);
        assert_eq!(o.status.code(), Some(1), "json={json}");
        assert_eq!(stdout(&o), "", "no result printed");
        assert!(stderr(&o).contains("fastest nb201"), "{}", stderr(&o));
    }
}

/// The precision is part of what a measurement is: int8 and fp32 records of one arch never
/// stand for each other; tract runs the int8 file `export` writes (the aarch64 build too, in
/// the emulated tier), and a runtime refuses a precision it cannot run in one line.
#[test]
fn precision_is_part_of_the_measurement_and_refused_where_it_cannot_run() {
    let home = TempDir::new("precision");
    let profile = |precision: &str| {
        let mut args = vec![
            "profile",
            ALL_CONV1,
            "--precision",
            precision,
            "--resume",
            "--json",
        ];
        args.extend_from_slice(QUICK);
        json(&ok(home.path(), &args))["results"][0].clone()
    };
    let int8 = profile("int8");
    assert_eq!(int8["fingerprint"]["precision"], "int8", "{int8}");
    assert_eq!(int8["precision"], "int8");
    assert_eq!(int8["resumed"], false);
    let fp32 = profile("fp32");
    assert_eq!(fp32["fingerprint"]["precision"], "fp32");
    assert_eq!(
        fp32["resumed"], false,
        "an int8 record never resumes an fp32 one"
    );
    assert_eq!(profile("int8")["resumed"], true);

    let file = home.path().join("cell.int8.onnx");
    let f = file.to_str().unwrap();
    ok(
        home.path(),
        &["export", ALL_CONV1, "-o", f, "--precision", "int8"],
    );
    let from_file = json(&ok(home.path(), &["infer", f, "--json"]));
    let built = json(&ok(
        home.path(),
        &["infer", ALL_CONV1, "--precision", "int8", "--json"],
    ));
    assert_eq!(from_file["output"], built["output"]);
    let fp = json(&ok(home.path(), &["infer", ALL_CONV1, "--json"]));
    assert_ne!(fp["output"], built["output"], "int8 rounds");

    let e = fails(
        home.path(),
        &[
            "profile",
            ALL_CONV1,
            "--runtime",
            "tflite",
            "--precision",
            "fp16",
        ],
    );
    assert!(
        e.contains("does not run fp16 networks here; it runs fp32, int8"),
        "{e}"
    );
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    // A usage error, as clap reports every bad flag value (status 2).
    let o = run(home.path(), &["profile", ALL_CONV1, "--precision", "int4"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("precisions: fp32, fp16, int8"),
        "{}",
        stderr(&o)
    );
}
