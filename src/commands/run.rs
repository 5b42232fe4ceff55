//! `edgenas run`: probe → embed (or reuse) → adapt → search → verify → export, with one
//! summary at the end. Everything measured goes to the journal, so a rerun after an
//! interruption skips what is done.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use edgenas_nas::search::EvolutionOptions;
use edgenas_nas::Space;
use edgenas_ondevice::search::Objective;
use edgenas_ondevice::steps;
use serde_json::json;

use super::device::{with_report, Ctx};
use super::predictor::load_model;
use super::search::{
    check_budget, export_model, parse_dataset, pick_json, search_and_verify, write_plot, SearchPlan,
};
use crate::cli::RunArgs;
use crate::output::{fingerprint_summary, ms};

pub fn run(a: RunArgs, home: Option<&Path>) -> Result<()> {
    let start = Instant::now();
    let space = Space::from_name(&a.space)?;
    if let Some(b) = a.budget_ms {
        check_budget(b)?;
    }
    let dataset = parse_dataset(&a.dataset)?;
    let objective = match space {
        Space::Nb201 => Objective::Nats(dataset),
        _ => Objective::Naswot {
            samples: 8,
            seed: a.seed,
        },
    };
    let population = EvolutionOptions::default().population;
    if a.evaluations < population {
        anyhow::bail!(
            "--evaluations must be at least the search's population ({population}), got {}",
            a.evaluations
        );
    }
    let file = load_model(space, None)?;
    let mut ctx = Ctx::open(&a.device, home, space)?;
    let pool = ctx.pool();
    let (mut measurer, state) = ctx.parts()?;
    let say = |s: String| {
        if !a.json {
            eprintln!("{s}");
        }
    };
    say(format!(
        "edgenas run: {} space on {}",
        space.name(),
        fingerprint_summary(measurer.fingerprint())
    ));
    say("[1/4] embedding: the 10 reference archs".into());
    let embedded = with_report("embed", a.json, |r| {
        steps::embed(space, &mut measurer, state, false, r)
    })?;
    let floor_s: f64 = embedded
        .measured
        .iter()
        .map(|m| m.median_ms * m.runs as f64)
        .sum::<f64>()
        / 1e3;
    say(format!(
        "      {} in {:.1} s",
        if embedded.reused {
            "reused the stored embedding"
        } else {
            "measured"
        },
        embedded.seconds
    ));
    say(format!(
        "[2/4] adapting the predictor: {} informative support archs",
        a.samples
    ));
    let adapted = with_report("adapt", a.json, |r| {
        steps::adapt(
            space,
            &file,
            &mut measurer,
            state,
            a.samples,
            false,
            a.seed,
            pool.as_deref(),
            r,
        )
    })?;
    let predictor = &adapted.predictor;
    say(format!(
        "      leave-one-out Spearman {:.3}, MAPE {:.1}% ({:.1} s)",
        predictor.quality.loo_spearman,
        predictor.quality.loo_mape * 100.0,
        adapted.seconds
    ));
    let Some(budget_ms) = a.budget_ms else {
        // No budget: propose three from the predicted range and stop before searching.
        let cands = match space {
            Space::Nb201 => {
                edgenas_ondevice::search::exact_nb201(predictor, &objective, Some(&state.cache()))?
                    .0
            }
            _ => {
                let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(a.seed);
                let archs: Vec<_> = (0..2000).map(|_| space.sample(&mut rng)).collect();
                let preds = predictor.predict(&archs)?;
                archs
                    .into_iter()
                    .zip(preds)
                    .map(|(arch, prediction)| edgenas_ondevice::search::Candidate {
                        arch,
                        prediction,
                        objective: 0.0,
                    })
                    .collect()
            }
        };
        let budgets = edgenas_ondevice::search::proposed_budgets(&cands);
        if a.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({
                    "space": space.name(),
                    "fingerprint": predictor.fingerprint,
                    "embedding_seconds": embedded.seconds,
                    "proposed_budgets_ms": budgets,
                    "best": null,
                    "exported": null,
                }))?
            );
            return Ok(());
        }
        println!(
            "No --budget-ms given. Predicted latencies of the {} space on this device span {} … {}.",
            space.name(),
            ms(cands.iter().map(|c| c.prediction.predicted_ms).fold(f64::INFINITY, f64::min)),
            ms(cands.iter().map(|c| c.prediction.predicted_ms).fold(f64::NEG_INFINITY, f64::max))
        );
        println!(
            "Proposed budgets: {} ms (tight), {} ms (middle), {} ms (loose).",
            budgets[0], budgets[1], budgets[2]
        );
        println!(
            "Pick the latency your application can afford per inference and run again, e.g. `edgenas run --space {} --budget-ms {}`",
            space.name(),
            budgets[1]
        );
        return Ok(());
    };
    say(format!(
        "[3/4] searching under {budget_ms} ms and verifying {} picks by measurement",
        a.verify
    ));
    let plan = SearchPlan {
        space,
        budget_ms,
        objective,
        verify: a.verify.max(1),
        evolution: EvolutionOptions {
            evaluations: a.evaluations,
            seed: a.seed,
            ..EvolutionOptions::default()
        },
        cache_dir: Some(state.cache()),
    };
    let report = with_report("verify", a.json, |r| {
        search_and_verify(&plan, predictor, Some(&mut measurer), r)
    })?;
    let best = report.best.clone().expect("a verified pick");
    let out = match &a.output {
        Some(p) => p.clone(),
        None => state.root.join("runs").join(format!(
            "{}-{}-best.{}",
            space.name(),
            edgenas_ondevice::state::fingerprint_id(&predictor.fingerprint),
            a.device.machine.runtime.file_extension()
        )),
    };
    say(format!("[4/4] exporting {}", out.display()));
    export_model(
        &best.candidate.arch,
        &out,
        a.device.weight_seed,
        a.device.machine.runtime,
    )?;
    if let Some(p) = &a.plot {
        let title = format!(
            "{} on {}",
            space.name(),
            fingerprint_summary(&predictor.fingerprint)
        );
        write_plot(p, &title, &plan, &report)?;
    }
    let seconds = start.elapsed().as_secs_f64();
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "space": space.name(),
                "budget_ms": budget_ms,
                "fingerprint": predictor.fingerprint,
                "objective": plan.objective.describe(),
                "best": pick_json(&best),
                "verified": report.verified.len(),
                "embedding_seconds": embedded.seconds,
                "embedding_inference_seconds": floor_s,
                "embedding_reused": embedded.reused,
                "predictor": {
                    "loo_spearman": predictor.quality.loo_spearman,
                    "loo_mape": predictor.quality.loo_mape,
                    "loo_coverage": predictor.quality.loo_coverage,
                    "measurements": predictor.references.len() + predictor.support.len(),
                },
                "exported": out,
                "plot": a.plot,
                "seconds": seconds,
                "peak_rss_mb": crate::output::peak_rss_mb(),
            }))?
        );
        return Ok(());
    }
    let fp = &predictor.fingerprint;
    println!();
    println!("Summary");
    println!("  Board:        {}", fingerprint_summary(fp));
    println!(
        "  Fingerprint:  {}",
        edgenas_ondevice::state::fingerprint_id(fp)
    );
    if embedded.reused {
        println!("  Embedding:    reused ({})", embedded.path.display());
    } else {
        println!(
            "  Embedding:    {:.1} s for 10 references ({:.1} s of it running them: their latency × the runs the protocol took)",
            embedded.seconds, floor_s
        );
    }
    println!(
        "  Predictor:    {} measurements; leave-one-out Spearman {:.3}, MAPE {:.1}%",
        predictor.references.len() + predictor.support.len(),
        predictor.quality.loo_spearman,
        predictor.quality.loo_mape * 100.0
    );
    println!(
        "  Chosen:       {} ({} {:.2})",
        best.candidate.arch,
        match &plan.objective {
            Objective::Nats(d) => format!("{} accuracy", d.name()),
            _ => "objective".to_string(),
        },
        best.candidate.objective
    );
    println!(
        "  Latency:      predicted {} [{} … {}], measured {} (budget {} ms)",
        ms(best.candidate.prediction.predicted_ms),
        ms(best.candidate.prediction.low_ms),
        ms(best.candidate.prediction.high_ms),
        best.measured_ms.map(ms).unwrap_or_else(|| "-".into()),
        budget_ms
    );
    println!("  Exported:     {}", out.display());
    if let Some(p) = &a.plot {
        println!("  Plot:         {}", p.display());
    }
    println!(
        "  Took {:.1} s{}",
        seconds,
        crate::output::peak_rss_mb()
            .map(|m| format!(", peak memory {m:.0} MB"))
            .unwrap_or_default()
    );
    Ok(())
}
