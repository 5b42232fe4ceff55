//! `edgenas embed`: this device's hardware embedding for a space.

use std::path::Path;

use anyhow::Result;
use edgenas_nas::Space;

use crate::cli::EmbedArgs;
use crate::output::{fingerprint_summary, ms, write_text};

pub fn run(a: EmbedArgs, home: Option<&Path>) -> Result<()> {
    let space = Space::from_name(&a.space)?;
    let mut session = crate::session::open(&a.device, home, space)?;
    let mut reporter = crate::reporter::Terminal::new("embed", a.json);
    let e = session.embed(space, a.force, &mut reporter)?;
    reporter.finish();
    let fp = &e.embedding.fingerprint;
    let plotted = match &a.plot {
        Some(path) => Some(plot(&a, space, &e.embedding.raw_ms, fp, path)?),
        None => None,
    };
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
    if let (Some(path), Some(devices)) = (&a.plot, plotted) {
        match devices {
            0 => println!("Plot: {} (this device alone: pass --plot-data TABLE.csv to draw the meta-training devices)", path.display()),
            n => println!("Plot: {} (against {n} meta-training devices)", path.display()),
        }
    }
    Ok(())
}

/// Draws the embedding against the meta-training devices' (those the table has); returns how
/// many were drawn.
fn plot(
    a: &EmbedArgs,
    space: Space,
    raw_ms: &[f64],
    fp: &edgenas_profiler::Fingerprint,
    path: &Path,
) -> Result<usize> {
    let model = edgenas_ondevice::shipped::load(space, None)?;
    let table = a
        .plot_data
        .clone()
        .or_else(|| edgenas_ondevice::help::training_table(&model));
    let others = match table {
        Some(t) => edgenas_ondevice::help::training_embeddings(space, &model, &t)?,
        None => Vec::new(),
    };
    let title = format!("{} references on {}", space.name(), fingerprint_summary(fp));
    write_text(
        path,
        &edgenas_ondevice::plot::embedding_svg(&title, raw_ms, &others),
    )?;
    Ok(others.len())
}
