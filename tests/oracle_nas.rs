//! HELP's latency-constrained NAS on HELP's six NB201 test devices, in oracle mode: at budgets
//! at the 30th, 50th and 70th percentile of each device's latencies, what `run` (with
//! `--verify 3`) returns truly fits, and its CIFAR-10 accuracy is close to the best arch that
//! truly fits. Every figure the run took is counted by kind, verification included. FBNet's
//! oracle run searches the table's archs, and its pick truly fits too.

mod common;

use std::collections::HashMap;

use common::*;

const DEVICES: [&str; 6] = [
    "titan_rtx_256",
    "gold_6226",
    "fpga",
    "pixel2",
    "raspi4",
    "eyeriss",
];

fn column(text: &str, name: &str) -> Vec<String> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let c = header.iter().position(|h| *h == name).unwrap();
    lines
        .map(|l| l.split(',').nth(c).unwrap().to_string())
        .collect()
}

#[test]
fn picks_truly_fit_and_are_near_the_best_that_fits() {
    let lat_path = shared_data("nb201_latency_help.csv");
    let lat = std::fs::read_to_string(&lat_path).unwrap();
    let acc_text = std::fs::read_to_string(shared_data("nb201_accuracy_natsbench.csv")).unwrap();
    let acc: HashMap<String, f64> = column(&acc_text, "arch_str")
        .into_iter()
        .zip(
            column(&acc_text, "cifar10_test_acc")
                .iter()
                .map(|v| v.parse().unwrap()),
        )
        .collect();
    let archs = column(&lat, "arch_str");
    let mut gaps = Vec::new();
    for device in DEVICES {
        let ms: Vec<f64> = column(&lat, &format!("{device}_ms"))
            .iter()
            .map(|v| v.parse().unwrap())
            .collect();
        let true_ms: HashMap<&str, f64> = archs
            .iter()
            .map(String::as_str)
            .zip(ms.iter().copied())
            .collect();
        let mut sorted = ms.clone();
        sorted.sort_by(f64::total_cmp);
        for q in [0.3, 0.5, 0.7] {
            let budget = sorted[(q * (sorted.len() - 1) as f64) as usize];
            let home = TempDir::new("oracle-nas");
            let b = budget.to_string();
            let out = json(&ok(
                home.path(),
                &[
                    "run",
                    "--budget-ms",
                    &b,
                    "--verify",
                    "3",
                    "--oracle",
                    &lat_path,
                    "--oracle-device",
                    device,
                    "--json",
                ],
            ));
            let pick = out["best"]["arch"].as_str().unwrap();
            let m = &out["measurements"];
            let verified = out["verified"].as_u64().unwrap();
            assert!(
                (1..=25).contains(&verified),
                "{device}: {verified} picks verified"
            );
            assert_eq!(
                (
                    &m["references"]["oracle"],
                    &m["support"]["oracle"],
                    &m["verification"]["oracle"],
                    &m["total"]["oracle"],
                    &m["total"]["measured"]
                ),
                (
                    &serde_json::json!(10),
                    &serde_json::json!(10),
                    &serde_json::json!(verified),
                    &serde_json::json!(20 + verified),
                    &serde_json::json!(0)
                ),
                "{device}: {m}"
            );
            assert!(
                true_ms[pick] <= budget,
                "{device} at {budget}: {pick} takes {}",
                true_ms[pick]
            );
            let best = archs
                .iter()
                .filter(|a| true_ms[a.as_str()] <= budget)
                .map(|a| acc[a])
                .fold(f64::NEG_INFINITY, f64::max);
            let gap = best - acc[pick];
            assert!(
                gap <= 1.0,
                "{device} at {budget}: {} against the best {best}",
                acc[pick]
            );
            gaps.push(gap);
        }
    }
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    assert!(mean <= 0.3, "mean accuracy gap {mean}: {gaps:?}");
}

/// FBNet in oracle mode: the search draws from the table's archs (an evolution's children
/// would leave the table), so `run` returns a pick that truly fits at the 30th percentile of
/// gold_6226's column; `--max-measurements` stops verification when spent and says so.
#[test]
fn fbnet_oracle_runs_pick_from_the_table_and_the_cap_stops_verification() {
    let lat_path = shared_data("fbnet_latency_help.csv");
    let lat = std::fs::read_to_string(&lat_path).unwrap();
    let archs = column(&lat, "ops");
    let ms: Vec<f64> = column(&lat, "gold_6226_ms")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    let mut sorted = ms.clone();
    sorted.sort_by(f64::total_cmp);
    let budget = sorted[(0.3 * (sorted.len() - 1) as f64) as usize];
    let b = budget.to_string();
    let home = TempDir::new("oracle-fbnet");
    let args = |extra: &[&'static str]| {
        let mut v: Vec<String> = [
            "run",
            "--space",
            "fbnet",
            "--budget-ms",
            b.as_str(),
            "--evaluations",
            "20",
            "--oracle",
            lat_path.as_str(),
            "--oracle-device",
            "gold_6226",
            "--json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let full = args(&[]);
    let out = json(&ok(
        home.path(),
        &full.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    let pick = out["best"]["arch"].as_str().unwrap();
    let row = archs
        .iter()
        .position(|a| a.replace('|', "-") == pick)
        .unwrap_or_else(|| panic!("{pick} is not a row of the table"));
    assert!(ms[row] <= budget, "{pick} takes {} > {budget}", ms[row]);
    assert_eq!(out["best"]["measured_ms"].as_f64().unwrap(), ms[row]);
    assert!(
        out["measurements"]["verification"]["oracle"]
            .as_u64()
            .unwrap()
            >= 1
    );

    // The embedding is reused now (counted from the journal); 10 support + 1 verification fit
    // under a cap of 11.
    let capped = args(&["--max-measurements", "11"]);
    let out = json(&ok(
        home.path(),
        &capped.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    let m = &out["measurements"];
    assert_eq!(m["references"]["journal"], 10, "{m}");
    assert_eq!(m["verification"]["oracle"], 1, "{m}");
    let why = out["verification_stopped"].as_str().unwrap();
    assert!(
        why.contains("--max-measurements cap of 11 is spent"),
        "{why}"
    );
}

/// `bench coverage` bootstraps the adapted predictor a loop wrote (an oracle device's here) and
/// says which file it could not read.
#[test]
fn bench_coverage_bootstraps_an_adapted_predictor() {
    let home = TempDir::new("oracle-coverage");
    let data = shared_data("nb201_latency_help.csv");
    let oracle = [
        "--space",
        "nb201",
        "--oracle",
        data.as_str(),
        "--oracle-device",
        "raspi4",
    ];
    ok(home.path(), &[&["embed"][..], &oracle].concat());
    let a = json(&ok(
        home.path(),
        &[&["adapt"][..], &oracle, &["--json"]].concat(),
    ));
    let path = a["path"].as_str().unwrap();
    let r = json(&ok(
        home.path(),
        &[
            "bench",
            "coverage",
            "--predictor",
            path,
            "--archs",
            "30",
            "--replicates",
            "4",
            "--json",
        ],
    ));
    assert_eq!(r["space"], "nb201", "{r}");
    assert_eq!(
        (r["archs"].as_u64(), r["figures"].as_u64()),
        (Some(30), Some(20))
    );
    for way in ["refitted", "known"] {
        let s = &r[way];
        let q = |k: &str| s[k].as_f64().unwrap_or_else(|| panic!("{way}.{k} in {r}"));
        let (lo, mid, hi, mean) = (q("q05"), q("q50"), q("q95"), q("mean"));
        assert!(0.0 <= lo && lo <= mid && mid <= hi && hi <= 1.0, "{r}");
        assert!(
            (lo..=hi).contains(&mean) && (0.0..=1.0).contains(&q("in_band")),
            "{r}"
        );
    }
    let e = fails(
        home.path(),
        &["bench", "coverage", "--predictor", "/nonexistent.adapted"],
    );
    assert!(
        e.contains("reading the adapted predictor") && e.contains("/nonexistent.adapted"),
        "{e}"
    );
}
