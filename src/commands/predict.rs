//! `edgenas predict`: predicted latency on this device with a 90 % interval.

use std::path::Path;

use anyhow::{bail, Result};
use edgenas_nas::Arch;
use serde_json::json;

use crate::cli::PredictArgs;
use crate::output::{fingerprint_summary, ms};

pub fn run(a: PredictArgs, home: Option<&Path>) -> Result<()> {
    let archs: Vec<Arch> = a
        .archs
        .iter()
        .map(|s| Arch::parse(s))
        .collect::<Result<_, _>>()?;
    let space = archs[0].space();
    if let Some(other) = archs.iter().find(|x| x.space() != space) {
        bail!(
            "all archs must be of one space: {} is {}, {} is {}",
            archs[0],
            space.name(),
            other,
            other.space().name()
        );
    }
    let session = crate::session::open(&a.device, home, space)?;
    let predictor = session.stored_predictor(space)?;
    let preds = predictor.predict(&archs)?;
    if a.json {
        let rows: Vec<_> = archs
            .iter()
            .zip(&preds)
            .map(|(arch, p)| {
                json!({
                    "arch": arch.to_string(),
                    "predicted_ms": p.predicted_ms,
                    "low_ms": p.low_ms,
                    "high_ms": p.high_ms,
                    "std_ms": p.std_ms,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "Predicted on {} (90% interval, with the level's drift of {:.1}% from batch to batch; at the speed where the anchor arch takes {}):",
        fingerprint_summary(&predictor.fingerprint),
        predictor.drift_rel_sd * 100.0,
        ms(predictor.level_ms)
    );
    for (arch, p) in archs.iter().zip(&preds) {
        println!(
            "  {:>12}  [{} … {}]  {arch}",
            ms(p.predicted_ms),
            ms(p.low_ms),
            ms(p.high_ms)
        );
    }
    Ok(())
}
