//! Measured with `edgenas profile`, cheaper cells are faster: none < skip < 1x1 < 3x3.

mod common;

use common::*;

#[test]
fn uniform_cells_are_ordered_by_cost() {
    let home = TempDir::new("order");
    let mut medians = Vec::new();
    for arch in [ALL_NONE, ALL_SKIP, ALL_CONV1, ALL_CONV3] {
        let v = profile_result(&ok(
            home.path(),
            &[
                "profile",
                arch,
                "--json",
                "--max-time",
                "3",
                "--allow-unstable",
            ],
        ));
        medians.push((arch, v["median_ms"].as_f64().unwrap()));
    }
    for pair in medians.windows(2) {
        assert!(
            pair[0].1 < pair[1].1,
            "expected {} < {}: {medians:?}",
            pair[0].0,
            pair[1].0
        );
    }
}

/// `bench reproducibility` measures the same archs twice at each step of its time ladder and
/// reports each one's test-retest, raw and at each batch's anchor level, with its seconds per
/// arch; a step whose minimum is a second per arch costs more than one without a minimum.
#[test]
fn reproducibility_is_reported_per_minimum_time_with_its_cost() {
    let home = TempDir::new("repro");
    let r = json(&ok(
        home.path(),
        &[
            "bench",
            "reproducibility",
            "--archs",
            "4",
            "--rounds-only",
            "--time-ladder",
            "1:1,0:0:2:3",
            "--json",
        ],
    ));
    let passes = r["interleaved"].as_array().unwrap();
    assert_eq!(passes.len(), 2, "{r}");
    let cost: Vec<f64> = passes
        .iter()
        .map(|p| p["seconds_per_arch"].as_f64().unwrap())
        .collect();
    assert_eq!(passes[0]["time"]["min_s"], 1.0);
    // Unnamed burst and warm-up are the loop's; named ones are what the step ran with.
    assert_eq!(passes[0]["time"]["burst_ms"], 15.0);
    assert_eq!(passes[0]["time"]["warmup_runs"], 5);
    assert_eq!(passes[1]["time"]["burst_ms"], 2.0);
    assert_eq!(passes[1]["time"]["warmup_runs"], 3);
    // A second per arch at least, against a pass that stops after its minimum rounds.
    assert!(cost[0] >= 1.0 && cost[0] > cost[1], "{cost:?}");
    for p in passes {
        let rho = p["test_retest"]["spearman"].as_f64().unwrap();
        assert!((-1.0..=1.0).contains(&rho), "{p}");
        // Every batch held the anchor, so the figures are also compared at its level.
        let rho = p["levelled"]["spearman"].as_f64().unwrap();
        assert!((-1.0..=1.0).contains(&rho), "{p}");
    }
    assert!(r.get("one_at_a_time").is_none(), "{r}");
    let e = fails(
        home.path(),
        &["bench", "reproducibility", "--time-ladder", "2:1"],
    );
    assert!(e.contains("--time-ladder takes MIN:MAX"), "{e}");
    let e = fails(
        home.path(),
        &["bench", "reproducibility", "--time-ladder", "0:1:0"],
    );
    assert!(e.contains("BURST_MS (> 0)"), "{e}");
}
