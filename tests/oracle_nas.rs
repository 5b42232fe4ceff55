//! HELP's latency-constrained NAS on HELP's six NB201 test devices, in oracle mode: at budgets
//! at the 30th, 50th and 70th percentile of each device's latencies, what `run` (with
//! `--verify 3`) returns truly fits, and its CIFAR-10 accuracy is close to the best arch that
//! truly fits.

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
