//! `edgenas search` end to end: within the budget, scored by the table it names, reproducible,
//! and clear failures.

mod common;

use std::collections::HashMap;

use common::*;

#[test]
fn accuracy_search_stays_within_the_budget_and_is_reproducible() {
    let home = TempDir::new("search");
    let (lat, acc) = (
        shared_data("nb201_latency_help.csv"),
        shared_data("nb201_accuracy_natsbench.csv"),
    );
    let args = [
        "search",
        "--space",
        "nb201",
        "--budget-ms",
        "22",
        "--data",
        &lat,
        "--device",
        "raspi4",
        "--objective",
        "accuracy",
        "--accuracy",
        &acc,
        "--accuracy-column",
        "cifar100_test_acc",
        "--seed",
        "7",
        "--json",
    ];
    let a = json(&ok(home.path(), &args));
    assert!(a["objective"]
        .as_str()
        .unwrap()
        .contains("cifar100_test_acc"));
    assert!(a["fingerprint"]["board"]
        .as_str()
        .unwrap()
        .contains("raspi4"));
    let table: HashMap<String, f64> = std::fs::read_to_string(&acc)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            (c[1].to_string(), c[3].parse().unwrap())
        })
        .collect();
    // The best fits the predicted budget and is the table's best among what does.
    let best = &a["best"];
    assert!(best["predicted_ms"].as_f64().unwrap() <= 22.0, "{best}");
    let arch = best["arch"].as_str().unwrap();
    assert_eq!(best["accuracy"].as_f64().unwrap(), table[arch], "{arch}");
    // The Pareto front: latency up, accuracy up, and it contains the best.
    let front = a["pareto"].as_array().unwrap();
    assert!(front.len() > 5);
    for w in front.windows(2) {
        assert!(w[0]["predicted_ms"].as_f64() <= w[1]["predicted_ms"].as_f64());
        assert!(w[0]["accuracy"].as_f64() < w[1]["accuracy"].as_f64());
    }
    assert!(front.iter().any(|p| p["arch"] == best["arch"]));
    let b = json(&ok(home.path(), &args));
    assert_eq!(a["best"], b["best"]);
    assert_eq!(a["pareto"], b["pareto"]);
}

#[test]
fn naswot_search_on_fbnet_stays_within_the_budget() {
    if emulated() {
        eprintln!("under emulation: 3 NASWOT evaluations instead of 12");
    }
    let home = TempDir::new("search-fbnet");
    let lat = shared_data("fbnet_latency_help.csv");
    let out = ok(
        home.path(),
        &[
            "search",
            "--space",
            "fbnet",
            "--budget-ms",
            "40",
            "--data",
            &lat,
            "--device",
            "gold_6226",
            "--evaluations",
            if emulated() { "3" } else { "12" },
            "--population",
            "3",
            "--tournament",
            "2",
            "--naswot-samples",
            "4",
            "--json",
        ],
    );
    let a = json(&out);
    assert!(a["objective"].as_str().unwrap().contains("NASWOT"));
    assert!(a["best"]["predicted_ms"].as_f64().unwrap() <= 40.0);
    assert!(a["best"]["arch"].as_str().unwrap().contains('-'));
}

#[test]
fn impossible_or_bad_budgets_fail_in_one_line() {
    let home = TempDir::new("search-bad");
    let lat = shared_data("nb201_latency_help.csv");
    let base = [
        "search", "--space", "nb201", "--data", &lat, "--device", "raspi4",
    ];
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    let fails = |home: &std::path::Path, args: &[String]| {
        let v: Vec<&str> = args.iter().map(String::as_str).collect();
        fails(home, &v)
    };
    let e = fails(home.path(), &with(&["--budget-ms", "0"]));
    assert!(e.contains("--budget-ms must be a positive number"), "{e}");
    let e = fails(home.path(), &with(&["--budget-ms", "-3"]));
    assert!(e.contains("--budget-ms"), "{e}");
    // Below every arch: it says what the fastest is.
    let e = fails(home.path(), &with(&["--budget-ms", "0.0001"]));
    assert!(
        e.contains("no arch is predicted within") && e.contains("fastest"),
        "{e}"
    );
    let e = fails(
        home.path(),
        &with(&["--budget-ms", "10", "--objective", "accuracy"]),
    );
    assert!(e.contains("--accuracy FILE.csv"), "{e}");
    // An accuracy table given with another objective is not silently ignored.
    let acc = shared_data("nb201_accuracy_natsbench.csv");
    let e = fails(
        home.path(),
        &with(&[
            "--budget-ms",
            "10",
            "--objective",
            "naswot",
            "--accuracy",
            &acc,
        ]),
    );
    assert!(e.contains("--accuracy"), "{e}");
    let e = fails(home.path(), &with(&["--budget-ms", "10", "--top", "0"]));
    assert!(e.contains("--top"), "{e}");
    let e = fails(
        home.path(),
        &with(&["--budget-ms", "10", "--dataset", "mnist"]),
    );
    assert!(e.contains("unknown dataset"), "{e}");
    // Device mode without an adapted predictor says which command fixes it.
    let e = common::fails(
        home.path(),
        &[
            "search",
            "--budget-ms",
            "10",
            "--threads",
            "1",
            "--allow-unstable",
        ],
    );
    assert!(e.contains("edgenas embed"), "{e}");
}
