//! `edgenas validate`: fresh archs measured and compared with their predictions.

use std::path::Path;

use anyhow::Result;
use edgenas_nas::Space;
use serde_json::json;

use crate::cli::ValidateArgs;
use crate::output::{fingerprint_summary, ms, write_text};

pub fn run(a: ValidateArgs, home: Option<&Path>) -> Result<()> {
    let space = Space::from_name(&a.space)?;
    let mut session = crate::session::open(&a.device, home, space)?;
    let predictor = session.stored_predictor(space)?;
    let start = std::time::Instant::now();
    let mut reporter = crate::reporter::Terminal::new("validate", a.json);
    let v = session.validate(space, &predictor, a.archs, a.seed, a.retest, &mut reporter)?;
    reporter.finish();
    let seconds = start.elapsed().as_secs_f64();
    if let Some(path) = &a.plot {
        let title = format!(
            "{} archs of {} on {}",
            v.archs.len(),
            space.name(),
            fingerprint_summary(&predictor.fingerprint)
        );
        write_text(path, &v.svg(&title))?;
    }
    let rows = v.rows();
    let table = v.table();
    let doc = json!({
        "space": space.name(),
        "fingerprint": predictor.fingerprint,
        "spearman": v.spearman,
        "kendall": v.kendall,
        "mape": v.mape,
        "within_10pct": v.within_10pct,
        "bias": v.bias,
        "coverage": v.coverage,
        "coverage_range": [v.coverage_range.0, v.coverage_range.1],
        "constant_archs": v.constant_archs,
        "retest": v.retest,
        "interval": edgenas_ondevice::adapted::INTERVAL,
        "drift": v.drift,
        "sitting_drift": v.sitting,
        "unsteady": v.sitting.unsteady(),
        "level_change": v.level_change,
        "level_changed": edgenas_ondevice::anchor::level_changed(v.level_change),
        "levelled": v.levelled,
        "batch_noise": v.batch_noise().map(|(median, largest)| json!({"median": median, "largest": largest})),
        "unlevelled": v.unlevelled,
        "fit": {
            "figures": v.fit_figures,
            "loo_spearman": v.fit.loo_spearman,
            "loo_mape": v.fit.loo_mape,
            "loo_coverage": v.fit.loo_coverage,
            "scatter_vs_fit": v.scatter_vs_fit(),
            "level_ms": predictor.level_ms,
        },
        "count": v.archs.len(),
        "measurements": session.measurer.tally(),
        "plot": a.plot,
        "seconds": seconds,
        "archs": rows,
    });
    a.export.write(&doc, &table)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!(
        "Validation: {} fresh {} archs on {}",
        v.archs.len(),
        space.name(),
        fingerprint_summary(&predictor.fingerprint)
    );
    println!("  Spearman          {:.3}", v.spearman);
    println!("  Kendall           {:.3}", v.kendall);
    println!("  MAPE              {:.1}%", v.mape * 100.0);
    if v.constant_archs > 0 {
        println!(
            "                    ({} arch(s) whose output ignores the input, folded to a constant by the runtime, are left out of MAPE and ±10%)",
            v.constant_archs
        );
    }
    println!("  within ±10%       {:.0}%", v.within_10pct * 100.0);
    println!(
        "  bias              {:+.1}% (the median arch ran {} than predicted)",
        v.bias * 100.0,
        if v.bias >= 0.0 { "slower" } else { "faster" }
    );
    println!(
        "  interval coverage {:.0}% (the interval claims 90%; a calibrated one covers {:.0}-{:.0}% of {} archs, 95% of the time)",
        v.coverage * 100.0,
        v.coverage_range.0 * 100.0,
        v.coverage_range.1 * 100.0,
        v.archs.len()
    );
    if v.levelled > 0 {
        println!(
            "                    ({} of {} predictions set at the machine's speed in their batch, which the anchor arch timed in it gives)",
            v.levelled,
            v.archs.len()
        );
    }
    if let Some((median, largest)) = v.batch_noise() {
        println!(
            "                    (each interval carries its batch's noise: the median CI95 of its figures, {:.1}% in the median batch, {:.1}% in the noisiest)",
            median * 100.0,
            largest * 100.0
        );
    }
    println!(
        "  fit's own figures leave-one-out over the {} it was fitted to: MAPE {:.1}%, coverage {:.0}%{}",
        v.fit_figures,
        v.fit.loo_mape * 100.0,
        v.fit.loo_coverage * 100.0,
        v.scatter_vs_fit()
            .map(|r| format!(
                " (these figures scatter {r:.2}x as much about the model{})",
                if v.coverage < v.coverage_range.0 && r > 1.0 {
                    ": the interval was calibrated on the fit's scatter, so it covers fewer of them"
                } else {
                    ""
                }
            ))
            .unwrap_or_default()
    );
    println!(
        "  at one level      Spearman {:.3}, MAPE {:.1}%, {:.0}% within ±10%, coverage {:.0}%: every prediction at the predictor's level, with the drift ({:.1}% from batch to batch, {}) in its interval",
        v.unlevelled.spearman,
        v.unlevelled.mape * 100.0,
        v.unlevelled.within_10pct * 100.0,
        v.unlevelled.coverage * 100.0,
        v.drift.rel_sd * 100.0,
        match v.drift.figures {
            0 | 1 => "the prior alone: too few anchor figures".to_string(),
            n => format!("from {n} anchor figures"),
        }
    );
    if let Some(c) = v.level_change {
        println!(
            "  machine's level   {:+.1}% against the fit's (the anchor arch took {} in the median batch, {} when the predictor was fitted){}",
            c * 100.0,
            ms(predictor.level_ms * (1.0 + c)),
            ms(predictor.level_ms),
            if edgenas_ondevice::anchor::level_changed(Some(c)) {
                ": a change levelling by one anchor only partly makes up for"
            } else {
                ""
            }
        );
    }
    if let Some(c) = &v.retest {
        println!(
            "  ceiling           the same archs measured again: Spearman {:.3}, MAPE {:.1}%, {:.0}% within ±10% (what the first figures score as predictions of the second)",
            c.spearman,
            c.mape * 100.0,
            c.within_10pct * 100.0
        );
    }
    let worst =
        v.predicted
            .iter()
            .zip(&v.measured)
            .zip(&v.archs)
            .max_by(|((p1, m1), _), ((p2, m2), _)| {
                let e1 = ((p1.predicted_ms - m1.median_ms) / m1.median_ms).abs();
                let e2 = ((p2.predicted_ms - m2.median_ms) / m2.median_ms).abs();
                e1.total_cmp(&e2)
            });
    if let Some(((p, m), arch)) = worst {
        println!(
            "  worst: predicted {} against measured {}: {arch}",
            ms(p.predicted_ms),
            ms(m.median_ms)
        );
    }
    println!("  Measurements: {}", session.measurer.tally().describe());
    if let Some(path) = &a.plot {
        println!("  Plot: {}", path.display());
    }
    println!("  {:.1} s", seconds);
    Ok(())
}
