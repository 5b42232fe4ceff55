//! `edgenas run`: probe → embed (or reuse) → adapt → search → verify → export, with one
//! summary at the end. Everything measured goes to the journal, so a rerun after an
//! interruption skips what is done.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use edgenas_nas::Space;
use edgenas_ondevice::{RunFinish, RunOutcome, RunPlan, RunSummary, SearchPlan};
use serde_json::json;

use crate::cli::RunArgs;
use edgenas_ondevice::state::fingerprint_id;

use crate::output::{fingerprint_summary as summary, ms, peak_rss_mb, write_text};

pub fn run(a: RunArgs, home: Option<&Path>) -> Result<()> {
    let start = Instant::now();
    let space = Space::from_name(&a.space)?;
    if let Some(b) = a.budget_ms {
        SearchPlan::check_budget(b)?;
    }
    let mut plan = RunPlan::new(space, &a.dataset, a.seed, a.samples, a.evaluations)?;
    (plan.budget_ms, plan.verify) = (a.budget_ms, a.verify);
    (plan.output, plan.weight_seed) = (a.output.clone(), a.device.weight_seed);
    plan.adapt.kernels = a.kernels;
    let file = edgenas_ondevice::shipped::load(space, None)?;
    let mut session = crate::session::open(&a.device, home, space)?;
    session.measurer.set_limit(a.max_measurements);
    let mut reporter = crate::reporter::Terminal::for_run(a.json);
    let outcome = session.run(plan, &file, &mut reporter)?;
    reporter.finish();
    let p = &outcome.adapted.predictor;
    let RunFinish::Picked { plan, report, .. } = &outcome.finish else {
        return print_proposed(&outcome, a.json);
    };
    if let Some(path) = &a.plot {
        let title = format!("{} on {}", space.name(), summary(&p.fingerprint));
        write_text(path, &report.svg(&title, plan))?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let s = outcome.summary().expect("a pick");
    if a.json {
        let mut doc = serde_json::to_value(&s)?;
        doc["plot"] = json!(a.plot);
        doc["seconds"] = json!(seconds);
        doc["peak_rss_mb"] = json!(peak_rss_mb());
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    let what = plan.objective.label();
    print_summary(&outcome, &s, &what, a.plot.as_deref(), seconds);
    Ok(())
}

/// The human summary of a run that picked a network.
fn print_summary(o: &RunOutcome, s: &RunSummary, what: &str, plot: Option<&Path>, seconds: f64) {
    let (e, p, b) = (&o.embedded, &o.adapted.predictor, &s.best);
    let embedding = match e.reused {
        true => format!("reused ({})", e.path.display()),
        false => format!("{:.1} s for 10 references ({:.1} s of it running them: their latency × the runs the protocol took)", e.seconds, s.embedding_inference_seconds),
    };
    let q = &p.quality;
    let (rho, mape) = (q.loo_spearman, q.loo_mape * 100.0);
    let measured = b.measured_ms.map(ms).unwrap_or_else(|| "-".into());
    let (pm, lo, hi) = (ms(b.predicted_ms), ms(b.low_ms), ms(b.high_ms));
    let mut rows = vec![
        ("Board", summary(&p.fingerprint)),
        ("Fingerprint", fingerprint_id(&p.fingerprint)),
        ("Embedding", embedding),
        (
            "Predictor",
            format!(
                "{} measurements; leave-one-out Spearman {rho:.3}, MAPE {mape:.1}%{}",
                s.predictor.measurements,
                match (s.predictor.scattered, &s.predictor.remeasure) {
                    (true, Some(how)) => format!(" (scattered: the machine was busy or unsteady, or the model misses it; in a quiet moment, measure again: {how})"),
                    (true, None) => " (scattered: the model misses the table)".into(),
                    _ => String::new(),
                }
            ),
        ),
        ("Measurements", s.measurements.describe()),
    ];
    rows.extend(
        s.kernels_skipped
            .map(|why| ("Kernels", format!("not timed: {}", why.reason()))),
    );
    rows.extend([
        ("Chosen", format!("{} ({what} {:.2})", b.arch, b.accuracy)),
        (
            "Latency",
            format!(
                "predicted {pm} [{lo} … {hi}], measured {measured} (budget {} ms)",
                s.budget_ms
            ),
        ),
        ("Exported", s.exported.display().to_string()),
    ]);
    rows.extend(s.verification_stopped.clone().map(|why| ("Stopped", why)));
    rows.extend(plot.map(|path| ("Plot", path.display().to_string())));
    println!("\nSummary");
    for (k, v) in rows {
        println!("  {:<14}{v}", format!("{k}:"));
    }
    let memory = peak_rss_mb().map(|m| format!(", peak memory {m:.0} MB"));
    println!("  Took {seconds:.1} s{}", memory.unwrap_or_default());
}

/// No budget was given: the predicted range and three budgets to choose from.
fn print_proposed(outcome: &RunOutcome, json: bool) -> Result<()> {
    let RunFinish::Proposed {
        budgets: b,
        fastest_ms: lo,
        slowest_ms: hi,
    } = &outcome.finish
    else {
        unreachable!("called without a pick");
    };
    let (space, p) = (outcome.space.name(), &outcome.adapted.predictor);
    if json {
        let doc = json!({"space": space, "fingerprint": p.fingerprint, "embedding_seconds": outcome.embedded.seconds, "proposed_budgets_ms": b, "best": null, "exported": null});
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!("No --budget-ms given. Predicted latencies of the {space} space on this device span {} … {}.", ms(*lo), ms(*hi));
    let (t, m, l) = (b[0], b[1], b[2]);
    println!("Proposed budgets: {t} ms (tight), {m} ms (middle), {l} ms (loose).");
    println!("Pick the latency your application can afford per inference and run again, e.g. `edgenas run --space {space} --budget-ms {m}`");
    Ok(())
}
