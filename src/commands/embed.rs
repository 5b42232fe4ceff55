//! `edgenas embed`: this device's hardware embedding for a space.

use std::path::Path;

use anyhow::Result;
use edgenas_nas::Space;

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
        crate::output::print_json(&e.summary())?;
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
