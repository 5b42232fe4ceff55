//! The command line as a new user meets it: one output contract, exports, progress, batches,
//! input checks, error text, help and shell integration, fixture fidelity. Each test is named
//! after what it checks; together they cover every "Found" item of the CLI review (issue 14).

mod common;

use common::*;
use serde_json::Value;

fn quick<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.extend_from_slice(QUICK);
    v
}

/// A minimal JSON Schema check (type, enum, required, properties, items): enough for the
/// schema this repository ships, with the path of the first violation.
fn check_schema(schema: &Value, v: &Value, path: &str) -> Result<(), String> {
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(|x| x.as_str()).collect(),
            _ => vec![],
        };
        let ok = types.iter().any(|t| match *t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "number" => v.is_number(),
            "integer" => v.is_u64() || v.is_i64(),
            "boolean" => v.is_boolean(),
            "null" => v.is_null(),
            _ => false,
        });
        if !ok {
            return Err(format!("{path}: {v} is not {types:?}"));
        }
    }
    if let Some(e) = schema.get("enum").and_then(|e| e.as_array()) {
        if !e.contains(v) {
            return Err(format!("{path}: {v} not in {e:?}"));
        }
    }
    if let Some(req) = schema.get("required").and_then(|r| r.as_array()) {
        for k in req {
            let k = k.as_str().unwrap();
            if v.get(k).is_none() {
                return Err(format!("{path}: missing '{k}'"));
            }
        }
    }
    if let Some(props) = schema.get("properties").and_then(|p| p.as_object()) {
        for (k, s) in props {
            if let Some(x) = v.get(k) {
                check_schema(s, x, &format!("{path}.{k}"))?;
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
        for (i, x) in arr.iter().enumerate() {
            check_schema(items, x, &format!("{path}[{i}]"))?;
        }
    }
    Ok(())
}

fn schema() -> Value {
    json(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/schema/results.schema.json"
        ))
        .unwrap(),
    )
}

#[test]
fn profile_json_is_one_shape_for_one_or_many_targets_and_marks_resumed_records() {
    let home = TempDir::new("contract");
    let one = json(&ok(home.path(), &quick(&["profile", ALL_SKIP, "--json"])));
    check_schema(&schema(), &one, "$").unwrap();
    assert_eq!(one["results"].as_array().unwrap().len(), 1);
    assert_eq!(one["results"][0]["subject"], ALL_SKIP);
    assert_eq!(one["results"][0]["kind"], "arch");
    assert_eq!(one["results"][0]["space"], "nb201");
    assert_eq!(one["results"][0]["resumed"], false);
    assert!(
        one["results"][0].get("arch").is_none(),
        "no ambiguous `arch` key"
    );
    let two = json(&ok(
        home.path(),
        &quick(&["profile", ALL_SKIP, ALL_NONE, "--resume", "--json"]),
    ));
    check_schema(&schema(), &two, "$").unwrap();
    let r = two["results"].as_array().unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!(
        (&r[0]["subject"], &r[0]["resumed"]),
        (&ALL_SKIP.into(), &true.into())
    );
    assert_eq!(
        (&r[1]["subject"], &r[1]["resumed"]),
        (&ALL_NONE.into(), &false.into())
    );
    // The journal lists the same objects.
    let shown = json(&ok(home.path(), &["journal", "show", "--json"]));
    check_schema(&schema(), &shown, "$").unwrap();
    assert_eq!(shown["results"].as_array().unwrap().len(), 2);
}

#[test]
fn exports_write_json_csv_and_markdown_with_rounded_numbers() {
    let home = TempDir::new("exports");
    let dir = home.path();
    let (j, c, m) = (dir.join("r.json"), dir.join("r.csv"), dir.join("r.md"));
    let args = quick(&[
        "profile",
        ALL_SKIP,
        "--export-json",
        j.to_str().unwrap(),
        "--export-csv",
        c.to_str().unwrap(),
        "--export-markdown",
        m.to_str().unwrap(),
    ]);
    ok(dir, &args);
    let doc = json(&std::fs::read_to_string(&j).unwrap());
    check_schema(&schema(), &doc, "$").unwrap();
    let csv = std::fs::read_to_string(&c).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("subject,kind,space,runtime"), "{csv}");
    assert_eq!(lines.len(), 2, "{csv}");
    // Six significant digits at most: no float noise such as 0.00016999999999999999.
    for field in lines[1].split(',') {
        if let Ok(x) = field.parse::<f64>() {
            let digits = field.trim_start_matches(['-', '0', '.']).replace('.', "");
            assert!(digits.len() <= 6, "{field} ({x}) in {csv}");
        }
    }
    let md = std::fs::read_to_string(&m).unwrap();
    assert!(md.starts_with("| subject | kind |"), "{md}");
    assert!(md.contains("|---|"), "{md}");
    // journal show exports the same table; journal export needs no --csv and rounds too.
    let jc = dir.join("j.csv");
    ok(
        dir,
        &["journal", "show", "--export-csv", jc.to_str().unwrap()],
    );
    assert_eq!(std::fs::read_to_string(&jc).unwrap().lines().count(), 2);
    let exported = ok(dir, &["journal", "export"]);
    assert!(
        exported.starts_with("unix_time,space,subject"),
        "{exported}"
    );
    assert!(!exported.contains("9999999"), "{exported}");
    let md = ok(dir, &["journal", "export", "--format", "markdown"]);
    assert!(md.starts_with("| unix_time |"), "{md}");
}

#[test]
fn every_target_is_checked_before_the_first_measurement() {
    let home = TempDir::new("batch");
    let missing = home.path().join("missing.onnx");
    let args = quick(&["profile", ALL_SKIP, missing.to_str().unwrap(), "--json"]);
    let e = fails(home.path(), &args);
    assert!(
        e.contains("missing.onnx") && e.contains("nothing was measured"),
        "{e}"
    );
    assert!(e.contains("--keep-going"), "{e}");
    assert!(
        !home.path().join("measurements.journal").exists(),
        "a measurement was taken before the bad target was found"
    );
    // --keep-going measures the rest, prints the JSON with the failure, and exits 1.
    let mut args = args.clone();
    args.push("--keep-going");
    let o = run(home.path(), &args);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v = json(&stdout(&o));
    check_schema(&schema(), &v, "$").unwrap();
    assert_eq!(v["results"].as_array().unwrap().len(), 1);
    assert_eq!(v["failures"][0]["subject"], missing.to_str().unwrap());
    assert!(
        stderr(&o).contains("1 of 2 targets failed"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn long_work_reports_progress_with_a_counter_on_a_pipe() {
    let home = TempDir::new("progress");
    let o = run(
        home.path(),
        &quick(&["profile", ALL_SKIP, ALL_NONE, ALL_CONV1]),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    // One line per finished item, with k/N and a short id that tells NB201 cells apart.
    for k in 1..=3 {
        assert!(err.contains(&format!("[{k}/3]")), "{err}");
    }
    assert!(
        err.contains("nb201:s/ss/sss") && err.contains("nb201:-/--/---"),
        "{err}"
    );
    assert!(err.contains("elapsed"), "{err}");
    // --quiet silences it.
    let mut args = quick(&["profile", ALL_SKIP, ALL_NONE]);
    args.push("--quiet");
    let o = run(home.path(), &args);
    assert!(o.status.success());
    assert!(!stderr(&o).contains("[1/2]"), "{}", stderr(&o));
    // A NASWOT search (oracle latencies) shows its evaluations.
    let table = shared_data("nb201_latency_help.csv");
    let oracle = ["--oracle", table.as_str(), "--oracle-device", "raspi4"];
    let mut embed = vec!["embed"];
    embed.extend_from_slice(&oracle);
    ok(home.path(), &embed);
    let mut adapt = vec!["adapt"];
    adapt.extend_from_slice(&oracle);
    ok(home.path(), &adapt);
    let mut search = vec![
        "search",
        "--budget-ms",
        "30",
        "--objective",
        "naswot",
        "--evaluations",
        "20",
        "--naswot-samples",
        "2",
    ];
    search.extend_from_slice(&oracle);
    let o = run(home.path(), &search);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("search [20/20] #20: scored"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn search_parameters_that_make_the_search_meaningless_are_refused() {
    let home = TempDir::new("search-args");
    let table = shared_data("nb201_latency_help.csv");
    let base = ["search", "--data", table.as_str(), "--device", "raspi4"];
    let with = |extra: &[&str]| -> Vec<String> {
        let budget = if extra.contains(&"--budget-ms") {
            &[][..]
        } else {
            &["--budget-ms", "30"][..]
        };
        base.iter()
            .chain(budget)
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    };
    let fail = |extra: &[&str]| {
        let args = with(extra);
        let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        fails(home.path(), &args)
    };
    let e = fail(&["--objective", "naswot", "--evaluations", "10"]);
    assert!(
        e.contains("--evaluations 10 is below --population 20"),
        "{e}"
    );
    let e = fail(&["--objective", "naswot", "--naswot-samples", "0"]);
    assert!(e.contains("--naswot-samples"), "{e}");
    let e = fail(&["--top", "0"]);
    assert!(e.contains("--top must be at least 1"), "{e}");
    let e = fail(&["--population", "0"]);
    assert!(e.contains("--population"), "{e}");
    // An accuracy table without the space's archs: refused, not a top list of -inf.
    let nats = shared_data("nb201_accuracy_natsbench.csv");
    let fbnet = shared_data("fbnet_latency_help.csv");
    let args = [
        "search",
        "--space",
        "fbnet",
        "--data",
        fbnet.as_str(),
        "--device",
        "pixel3",
        "--budget-ms",
        "30",
        "--objective",
        "accuracy",
        "--accuracy",
        nats.as_str(),
    ];
    let e = fails(home.path(), &args);
    assert!(e.contains(nats.as_str()) || e.contains("column"), "{e}");
    // --accuracy alone means that objective (it was silently NASWOT once).
    let args = with(&["--accuracy", nats.as_str(), "--json"]);
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let v = json(&ok(home.path(), &args));
    assert!(
        v["objective"].as_str().unwrap().contains("accuracy table"),
        "{v}"
    );
    assert!(v["best"]["accuracy"].as_f64().unwrap() > 50.0, "{v}");
    // No fit: the fastest predicted latency is named.
    let e = fail(&["--budget-ms", "0.001"]);
    assert!(e.contains("fastest") && e.contains("predicted at"), "{e}");
    // --evaluations N runs exactly N evaluations.
    let args = with(&[
        "--objective",
        "naswot",
        "--evaluations",
        "20",
        "--naswot-samples",
        "2",
        "--json",
    ]);
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let o = run(home.path(), &args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("[20/20]") && !stderr(&o).contains("[21/"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn threads_cpus_and_protocol_values_are_checked_against_this_machine() {
    let home = TempDir::new("machine-args");
    let e = fails(
        home.path(),
        &quick(&["profile", ALL_SKIP, "--threads", "1000"]),
    );
    assert!(
        e.contains("--threads 1000") && e.contains("--oversubscribe"),
        "{e}"
    );
    let e = fails(
        home.path(),
        &quick(&["profile", ALL_SKIP, "--cpus", "0-99"]),
    );
    assert!(
        e.contains("not available here") && e.contains("may run on CPUs"),
        "{e}"
    );
    let e = fails(
        home.path(),
        &quick(&["profile", ALL_SKIP, "--target-ci=-1"]),
    );
    assert!(e.contains("--target-ci"), "{e}");
    let e = fails(home.path(), &quick(&["profile", ALL_SKIP, "--max-cv", "0"]));
    assert!(e.contains("--max-cv"), "{e}");
    // --runs N: exactly N timed runs (hyperfine's --runs, benchmark_model's --num_runs).
    let v = profile_result(&ok(
        home.path(),
        &[
            "profile",
            ALL_SKIP,
            "--runs",
            "7",
            "--warmup-runs",
            "1",
            "--warmup-time",
            "0",
            "--allow-unstable",
            "--json",
        ],
    ));
    assert_eq!(v["runs"], 7, "{v}");
    let v = profile_result(&ok(
        home.path(),
        &[
            "profile",
            ALL_SKIP,
            "--num_runs",
            "4",
            "--warmup-runs",
            "1",
            "--warmup-time",
            "0",
            "--allow-unstable",
            "--json",
        ],
    ));
    assert_eq!(v["runs"], 4, "{v}");
}

#[test]
fn errors_name_the_file_once_and_never_blame_the_wrong_space() {
    let home = TempDir::new("errors");
    let e = fails(home.path(), &["infer", "rand.onnx"]);
    assert!(e.contains("rand.onnx"), "{e}");
    assert_eq!(e.matches("No such file or directory").count(), 1, "{e}");
    let o = edgenas(home.path())
        .env("EDGENAS_HOME", "/etc/passwd")
        .args(quick(&["profile", ALL_SKIP]))
        .output()
        .unwrap();
    let e = stderr(&o);
    assert!(
        e.contains("/etc/passwd") && e.contains("not a directory"),
        "{e}"
    );
    assert!(!e.contains("File exists"), "{e}");
    for bad in ["", "ARCH"] {
        let e = fails(home.path(), &["infer", bad]);
        assert!(!e.contains("fbnet"), "{bad:?}: {e}");
        assert!(e.contains("NB201") && e.contains("OFA"), "{bad:?}: {e}");
    }
    // A failed export leaves nothing behind (the target is a directory).
    let dir = home.path().join("taken.onnx");
    std::fs::create_dir(&dir).unwrap();
    fails(
        home.path(),
        &["export", ALL_SKIP, "-o", dir.to_str().unwrap()],
    );
    let left: Vec<_> = std::fs::read_dir(home.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn journal_show_tells_every_row_apart_and_an_empty_state_is_empty() {
    let home = TempDir::new("journal-surface");
    let v = json(&ok(home.path(), &["journal", "show", "--json"]));
    assert_eq!(v, serde_json::json!({"results": []}));
    ok(home.path(), &quick(&["profile", ALL_CONV1, ALL_CONV3]));
    let shown = ok(home.path(), &["journal", "show"]);
    assert!(
        shown.contains(ALL_CONV1) && shown.contains(ALL_CONV3),
        "{shown}"
    );
}

#[test]
fn completions_source_in_bash_and_the_man_page_renders() {
    let home = TempDir::new("shell");
    let script = home.path().join("edgenas.bash");
    std::fs::write(&script, ok(home.path(), &["completions", "bash"])).unwrap();
    let o = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -e; source '{}'; complete -p edgenas",
            script.display()
        ))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("edgenas"));
    for shell in ["zsh", "fish"] {
        assert!(ok(home.path(), &["completions", shell]).contains("profile"));
    }
    let page = home.path().join("edgenas.1");
    std::fs::write(&page, ok(home.path(), &["man"])).unwrap();
    let o = std::process::Command::new("man")
        .args(["-l", page.to_str().unwrap()])
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .output();
    match o {
        Ok(o) => {
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let text = String::from_utf8_lossy(&o.stdout);
            assert!(
                text.contains("edgenas") && text.contains("profile"),
                "{text}"
            );
        }
        Err(e) => panic!("man is not installed ({e}); scripts/test.sh installs man-db"),
    }
}

#[test]
fn fixture_boards_report_what_the_real_boards_do() {
    let home = TempDir::new("fidelity");
    let probe = |board: &str| {
        let root = format!(
            "{}/tests/fixtures/boards/{board}",
            env!("CARGO_MANIFEST_DIR")
        );
        json(&ok(home.path(), &["probe", "--sysroot", &root, "--json"]))
    };
    let pi3 = probe("rpi3");
    let mib = pi3["system"]["memory_mib"].as_u64().unwrap();
    assert!((880..=1024).contains(&mib), "Pi 3B has 1 GiB: {mib}");
    assert!(
        pi3["system"]["cpu_model"]
            .as_str()
            .unwrap()
            .contains("Cortex-A53"),
        "{pi3}"
    );
    let pi5 = probe("rpi5");
    let cpu = pi5["system"]["cpu_model"].as_str().unwrap();
    assert!(
        cpu.contains("Cortex-A76") && !cpu.contains("BCM2835"),
        "{cpu}"
    );
    assert!(pi5["system"]["memory_mib"].as_u64().unwrap() > 7000);
    let orin = probe("jetson-orin-nano");
    assert!(
        orin["system"]["firmware"].to_string().contains("R36"),
        "{orin}"
    );
    assert!(
        orin["system"]["os"]
            .as_str()
            .unwrap()
            .contains("Ubuntu 22.04"),
        "{orin}"
    );
    for board in [
        "rpi3",
        "rpi4",
        "rpi5",
        "jetson-nano",
        "jetson-xavier-nx",
        "jetson-agx-orin",
        "rk3588",
    ] {
        let v = probe(board);
        assert!(
            !v["system"]["os"].as_str().unwrap().is_empty(),
            "{board}: no OS name"
        );
    }
    let nano = probe("jetson-nano");
    assert!(
        nano["system"]["os"].as_str().unwrap().contains("18.04"),
        "{nano}"
    );
}

#[test]
fn under_voltage_is_its_own_message_and_governor_unknown_is_flagged() {
    let home = TempDir::new("undervoltage");
    let root = format!("{}/tests/fixtures/boards/rpi4", env!("CARGO_MANIFEST_DIR"));
    let e = fails(
        home.path(),
        &[
            "profile",
            ALL_SKIP,
            "--sysroot",
            &root,
            "--cpus",
            "0",
            "--threads",
            "1",
            "--cooldown",
            "0",
        ],
    );
    assert!(e.contains("under-voltage: the power supply"), "{e}");
    assert!(!e.contains("cool down"), "{e}");
    // With no cpufreq (a fixture without it), the record says the governor is unknown.
    let bare = home.path().join("bare");
    std::fs::create_dir_all(bare.join("proc")).unwrap();
    std::fs::write(
        bare.join("proc/cpuinfo"),
        "processor\t: 0\nmodel name\t: Test CPU\n\n",
    )
    .unwrap();
    let v = profile_result(&ok(
        home.path(),
        &quick(&[
            "profile",
            ALL_SKIP,
            "--sysroot",
            bare.to_str().unwrap(),
            "--json",
        ]),
    ));
    let flags: Vec<&str> = v["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(flags.contains(&"governor-unknown"), "{flags:?}");
}

#[test]
fn validate_and_search_export_their_tables() {
    let home = TempDir::new("loop-exports");
    let table = shared_data("nb201_latency_help.csv");
    let oracle = ["--oracle", table.as_str(), "--oracle-device", "raspi4"];
    let with = |cmd: &[&'static str]| -> Vec<String> {
        cmd.iter()
            .copied()
            .chain(oracle.iter().copied())
            .map(String::from)
            .collect()
    };
    let run_ok = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        ok(home.path(), &args)
    };
    run_ok(with(&["embed"]));
    run_ok(with(&["adapt"]));
    let csv = home.path().join("validate.csv");
    let mut v = with(&["validate", "--archs", "8"]);
    v.extend(["--export-csv".into(), csv.display().to_string()]);
    run_ok(v);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(
        text.starts_with("arch,predicted_ms,low_ms,high_ms,measured_ms"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 9, "{text}");
    let md = home.path().join("search.md");
    let js = home.path().join("search.json");
    let mut s = with(&["search", "--budget-ms", "30"]);
    s.extend([
        "--export-markdown".into(),
        md.display().to_string(),
        "--export-json".into(),
        js.display().to_string(),
    ]);
    run_ok(s);
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(text.starts_with("| role | arch |"), "{text}");
    assert!(text.contains("| best |"), "{text}");
    assert!(json(&std::fs::read_to_string(&js).unwrap())["best"].is_object());
}
