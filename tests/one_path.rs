//! One measuring path: `profile` and the loop's `embed` measure through the same `Measurer`,
//! so a profiled arch and the same arch embedded are journaled as records with the same
//! fields, the same Fingerprint, and the pre- and post-flight flags of the same code.

mod common;

use common::{json, ok, TempDir, QUICK};

/// The fixture laptop whose governor is `schedutil`: pre-flight raises the governor flag,
/// which `--allow-unstable` records with each sample.
fn laptop() -> String {
    format!(
        "{}/tests/fixtures/boards/laptop-schedutil",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn profile_and_embed_journal_the_same_record() {
    let home = TempDir::new("one-path");
    let sysroot = laptop();
    let machine = ["--sysroot", sysroot.as_str(), "--threads", "1"];
    let rounds = ["--min-rounds", "6", "--max-rounds", "6", "--burst-ms", "1"];
    let mut embed = vec!["embed", "--json"];
    embed.extend(QUICK);
    embed.extend(machine);
    embed.extend(rounds);
    let embedded = json(&ok(home.path(), &embed));
    let reference = embedded["references"][0]["arch"]
        .as_str()
        .expect("a reference arch")
        .to_string();
    let mut profile = vec!["profile", reference.as_str(), "--json"];
    profile.extend(QUICK);
    profile.extend(machine);
    ok(home.path(), &profile);

    let shown = json(&ok(home.path(), &["journal", "show", "--json"]));
    let records: Vec<&serde_json::Value> = shown["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["subject"] == reference.as_str())
        .collect();
    assert_eq!(records.len(), 2, "one embedded, one profiled: {records:?}");
    let (embedded, profiled) = (records[0], records[1]);
    let keys = |r: &serde_json::Value| {
        let mut k: Vec<String> = r.as_object().expect("an object").keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(embedded), keys(profiled));
    assert_eq!(embedded["fingerprint"], profiled["fingerprint"]);
    assert_eq!(embedded["kind"], "arch");
    assert_eq!(embedded["space"], profiled["space"]);
    for r in [embedded, profiled] {
        let flags: Vec<&str> = r["flags"]
            .as_array()
            .expect("flags")
            .iter()
            .filter_map(|f| f.as_str())
            .collect();
        assert!(flags.contains(&"governor"), "pre-flight's flag in {r}");
        assert_eq!(
            r["conditions"]["before"]["policies"][0]["governor"], "schedutil",
            "the fixture's conditions recorded: {r}"
        );
    }
    // The loop's record is interleaved (several runs per round), the profile's a plain sample.
    assert!(embedded["runs"].as_u64().expect("runs") >= 6);
    assert_eq!(profiled["runs"].as_u64(), Some(2));
}
