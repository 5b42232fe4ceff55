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
        "12",
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
        "--evaluations",
        "150",
        "--seed",
        "7",
        "--json",
    ];
    let a = json(&ok(home.path(), &args));
    assert!(a["objective"]
        .as_str()
        .unwrap()
        .contains("cifar100_test_acc"));
    assert!(a["latency"].as_str().unwrap().contains("raspi4"));
    let top = a["top"].as_array().unwrap();
    assert!(!top.is_empty());
    // The objective is the table's accuracy of that very arch.
    let table: HashMap<String, f64> = std::fs::read_to_string(&acc)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            (c[1].to_string(), c[3].parse().unwrap())
        })
        .collect();
    for c in top {
        assert!(c["predicted_latency_ms"].as_f64().unwrap() <= 12.0, "{c}");
        let arch = c["arch"].as_str().unwrap();
        assert_eq!(c["objective"].as_f64().unwrap(), table[arch], "{arch}");
    }
    // Sorted best first, and the same seed gives the same answer.
    let scores: Vec<f64> = top
        .iter()
        .map(|c| c["objective"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    let b = json(&ok(home.path(), &args));
    assert_eq!(a["top"], b["top"]);
}

#[test]
fn impossible_or_bad_budgets_fail_in_one_line() {
    let home = TempDir::new("search-bad");
    let lat = shared_data("nb201_latency_help.csv");
    let base = [
        "search",
        "--space",
        "nb201",
        "--data",
        &lat,
        "--device",
        "raspi4",
        "--objective",
        "naswot",
    ];
    let with = |budget: &'static str| {
        let mut v: Vec<&str> = base.to_vec();
        v.extend(["--budget-ms", budget, "--evaluations", "5"]);
        v
    };
    let e = fails(home.path(), &with("0"));
    assert!(e.contains("--budget-ms must be positive"), "{e}");
    let e = fails(home.path(), &with("0.0001"));
    assert!(e.contains("no arch within"), "{e}");
    let mut v: Vec<&str> = base[..base.len() - 2].to_vec();
    v.extend(["--budget-ms", "10", "--objective", "accuracy"]);
    let e = fails(home.path(), &v);
    assert!(e.contains("--accuracy FILE.csv"), "{e}");
}
