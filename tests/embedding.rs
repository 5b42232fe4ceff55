//! Hardware embeddings never mix conditions, and `probe` says whether a stored one is valid.

mod common;

use common::*;
use edgenas_profiler::{embedding::HardwareEmbedding, open_measurements};

#[test]
fn embeddings_keep_conditions_apart_and_probe_reports_staleness() {
    let home = TempDir::new("embed");
    let refs = [ALL_NONE, ALL_SKIP, ALL_CONV1];
    let mut args = vec![
        "profile",
        ALL_NONE,
        ALL_SKIP,
        ALL_CONV1,
        "--threads",
        "1",
        "--cpus",
        "all",
    ];
    args.extend_from_slice(QUICK);
    ok(home.path(), &args);
    // The same arch under other conditions (2 threads) must not leak into the embedding.
    let mut other = vec!["profile", ALL_SKIP, "--threads", "2", "--cpus", "all"];
    other.extend_from_slice(QUICK);
    ok(home.path(), &other);

    let journal = open_measurements(&home.path().join("measurements.journal")).unwrap();
    let records = &journal.records().unwrap();
    assert_eq!(records.len(), 4);
    let fp = records[0].fingerprint.clone();
    let refs: Vec<String> = refs.iter().map(|s| s.to_string()).collect();
    let e = HardwareEmbedding::from_measurements("nb201", &refs, &fp, records).unwrap();
    let expected: Vec<f64> = records[..3].iter().map(|m| m.stats().median_ms).collect();
    assert_eq!(e.raw_ms, expected);
    assert!(e.normalized.iter().all(|x| (0.0..=1.0).contains(x)));
    assert_eq!(
        e.normalized
            .iter()
            .cloned()
            .fold(f64::NEG_INFINITY, f64::max),
        1.0
    );
    // Under the 2-thread fingerprint only one reference exists: refused, not mixed.
    let err =
        HardwareEmbedding::from_measurements("nb201", &refs, &records[3].fingerprint, records)
            .unwrap_err();
    assert!(err.to_string().contains("2 reference(s)"), "{err}");

    let dir = home.path().join("embeddings");
    e.save(&dir.join("nb201.embedding")).unwrap();
    let v = json(&ok(home.path(), &["probe", "--json"]));
    assert_eq!(v["embeddings"][0]["valid"], true, "{}", v["embeddings"]);

    // An embedding measured under another governor is stale, and probe names the field.
    let mut changed = e.clone();
    // (Another governor than the host's, whatever the host runs.)
    changed.fingerprint.governor = if e.fingerprint.governor == "powersave" {
        "performance".into()
    } else {
        "powersave".into()
    };
    changed.save(&dir.join("nb201.embedding")).unwrap();
    let v = json(&ok(home.path(), &["probe", "--json"]));
    assert_eq!(v["embeddings"][0]["valid"], false);
    assert_eq!(
        v["embeddings"][0]["stale_fields"],
        serde_json::json!(["governor"])
    );
    assert!(ok(home.path(), &["probe"]).contains("STALE"));
    // A file of another kind in its place is reported unreadable, not misread.
    std::fs::copy(
        home.path().join("measurements.journal"),
        dir.join("nb201.embedding"),
    )
    .unwrap();
    let v = json(&ok(home.path(), &["probe", "--json"]));
    assert!(v["embeddings"][0]["error"]
        .as_str()
        .unwrap()
        .contains("measurement-journal"));
}
