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
