//! `edgenas embed`: this device's hardware embedding for a space.

use std::path::Path;

use anyhow::Result;
use edgenas_nas::Space;
use serde_json::json;

use crate::cli::EmbedArgs;
use crate::output::{fingerprint_summary, ms};

pub fn run(a: EmbedArgs, home: Option<&Path>) -> Result<()> {
    let space = Space::from_name(&a.space)?;
    let mut session = crate::session::open(&a.device, home, space)?;
    let mut reporter = crate::reporter::Terminal::new("embed", a.json);
    let e = session.embed(space, a.force, &mut reporter)?;
    reporter.finish();
    let fp = &e.embedding.fingerprint;
    if a.json {
        let refs: Vec<_> = e
            .embedding
            .references
            .iter()
            .zip(&e.embedding.raw_ms)
            .enumerate()
            .map(|(i, (arch, ms))| {
                let m = e.measured.get(i);
                json!({
                    "arch": arch,
                    "median_ms": ms,
                    "ci95_rel": m.map(|m| m.ci_rel),
                    "origin": m.map(|m| m.origin.name()).unwrap_or("stored"),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "space": space.name(),
                "fingerprint": fp,
                "references": refs,
                "seconds": e.seconds,
                "reused": e.reused,
                "path": e.path,
            }))?
        );
        return Ok(());
    }
    println!(
        "Hardware embedding: {} space on {}",
        space.name(),
        fingerprint_summary(fp)
    );
    for (i, (arch, v)) in e
        .embedding
        .references
        .iter()
        .zip(&e.embedding.raw_ms)
        .enumerate()
    {
        let extra = e
            .measured
            .get(i)
            .map(|m| format!("  ±{:.1}% ({})", m.ci_rel * 100.0, m.origin.name()))
            .unwrap_or_default();
        println!("  {:>2}. {:>12}{extra}  {arch}", i + 1, ms(*v));
    }
    if e.reused {
        println!(
            "Reused the stored embedding (same conditions): {} (--force to remeasure)",
            e.path.display()
        );
    } else {
        println!("Saved {} in {:.1} s", e.path.display(), e.seconds);
    }
    Ok(())
}
