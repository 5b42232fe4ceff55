//! `edgenas run`: probe → embed (or reuse) → adapt → search → verify → export, with one
//! summary at the end. Everything measured goes to the journal, so a rerun after an
//! interruption skips what is done.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use edgenas_nas::Space;
use edgenas_ondevice::search::Objective;
use edgenas_ondevice::steps::AdaptPlan;
use edgenas_ondevice::{RunFinish, RunPlan, SearchPlan};
use serde_json::json;

use crate::cli::RunArgs;
use crate::output::{fingerprint_summary as summary, ms, peak_rss_mb, write_text};

pub fn run(a: RunArgs, home: Option<&Path>) -> Result<()> {
    let start = Instant::now();
    let space = Space::from_name(&a.space)?;
    if let Some(b) = a.budget_ms {
        SearchPlan::check_budget(b)?;
    }
    let objective = RunPlan::objective(space, &a.dataset, a.seed)?;
    let evolution = RunPlan::evolution(a.evaluations, a.seed)?;
    let file = edgenas_ondevice::shipped::load(space, None)?;
    let mut session = crate::session::open(&a.device, home, space)?;
    let plan = RunPlan {
        space,
        objective,
        adapt: AdaptPlan::informative(a.samples, a.seed),
        budget_ms: a.budget_ms,
        verify: a.verify,
        evolution,
        output: a.output.clone(),
        weight_seed: a.device.weight_seed,
    };
    let mut reporter = crate::reporter::Terminal::for_run(a.json);
    let outcome = session.run(plan, &file, &mut reporter)?;
    reporter.finish();
    let (embedded, p) = (&outcome.embedded, &outcome.adapted.predictor);
    let (plan, report, best) = match &outcome.finish {
        RunFinish::Proposed {
            budgets: b,
            fastest_ms: lo,
            slowest_ms: hi,
        } => {
            if a.json {
                let doc = json!({"space": space.name(), "fingerprint": p.fingerprint, "embedding_seconds": embedded.seconds, "proposed_budgets_ms": b, "best": null, "exported": null});
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                println!("No --budget-ms given. Predicted latencies of the {} space on this device span {} … {}.", space.name(), ms(*lo), ms(*hi));
                let (t, m, l) = (b[0], b[1], b[2]);
                println!("Proposed budgets: {t} ms (tight), {m} ms (middle), {l} ms (loose).");
                println!("Pick the latency your application can afford per inference and run again, e.g. `edgenas run --space {} --budget-ms {m}`", space.name());
            }
            return Ok(());
        }
        RunFinish::Picked {
            plan, report, best, ..
        } => (plan, report, best),
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
    let (c, q) = (&best.candidate, &p.quality);
    println!("\nSummary\n  Board:        {}", summary(&p.fingerprint));
    println!(
        "  Fingerprint:  {}",
        edgenas_ondevice::state::fingerprint_id(&p.fingerprint)
    );
    if embedded.reused {
        println!("  Embedding:    reused ({})", embedded.path.display());
    } else {
        println!("  Embedding:    {:.1} s for 10 references ({:.1} s of it running them: their latency × the runs the protocol took)", embedded.seconds, s.embedding_inference_seconds);
    }
    println!(
        "  Predictor:    {} measurements; leave-one-out Spearman {:.3}, MAPE {:.1}%",
        s.predictor.measurements,
        q.loo_spearman,
        q.loo_mape * 100.0
    );
    let what = match &plan.objective {
        Objective::Nats(d) => format!("{} accuracy", d.name()),
        _ => "objective".to_string(),
    };
    println!("  Chosen:       {} ({what} {:.2})", c.arch, c.objective);
    let measured = best.measured_ms.map(ms).unwrap_or_else(|| "-".into());
    let (pm, lo, hi) = (
        ms(c.prediction.predicted_ms),
        ms(c.prediction.low_ms),
        ms(c.prediction.high_ms),
    );
    println!(
        "  Latency:      predicted {pm} [{lo} … {hi}], measured {measured} (budget {} ms)",
        plan.budget_ms
    );
    println!("  Exported:     {}", s.exported.display());
    if let Some(path) = &a.plot {
        println!("  Plot:         {}", path.display());
    }
    let memory = peak_rss_mb()
        .map(|m| format!(", peak memory {m:.0} MB"))
        .unwrap_or_default();
    println!("  Took {seconds:.1} s{memory}");
    Ok(())
}
