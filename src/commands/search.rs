//! `edgenas search`: latency-constrained search with this device's adapted predictor, the
//! picks verified by measurement with --verify, the winner exported with -o.

use std::path::Path;

use anyhow::{bail, Context, Result};
use edgenas_nas::search::EvolutionOptions;
use edgenas_nas::Space;
use edgenas_ondevice::accuracy::Dataset;
use edgenas_ondevice::search::{Candidate, Objective};
use edgenas_ondevice::session::search_and_verify;
use edgenas_ondevice::{SearchPlan, SearchReport};
use serde_json::{json, Value};

use crate::cli::{ObjectiveArg, SearchArgs};
use crate::output::{fingerprint_summary, ms, pick_json, write_text};
use crate::reporter::Terminal;
use crate::tables::Table;

/// The objective the arguments ask for; refuses combinations that would silently do another.
pub fn resolve_objective(a: &SearchArgs, space: Space) -> Result<Objective> {
    let chosen = match (a.objective, &a.accuracy) {
        (Some(o), _) => o,
        (None, Some(_)) => ObjectiveArg::Accuracy,
        (None, None) if space == Space::Nb201 => ObjectiveArg::Nats,
        (None, None) => ObjectiveArg::Naswot,
    };
    Ok(match chosen {
        ObjectiveArg::Nats => {
            if space != Space::Nb201 {
                bail!("--objective nats is for the nb201 space (NATS-Bench); use naswot or accuracy for {}", space.name());
            }
            if a.accuracy.is_some() {
                bail!("--accuracy is read with --objective accuracy, not nats");
            }
            Objective::Nats(Dataset::parse(&a.dataset)?)
        }
        ObjectiveArg::Accuracy => {
            let path = a
                .accuracy
                .as_deref()
                .context("--objective accuracy needs --accuracy FILE.csv")?;
            Objective::from_table(space, path, &a.accuracy_column)?
        }
        ObjectiveArg::Naswot => {
            if a.accuracy.is_some() {
                bail!("--accuracy is read with --objective accuracy, not naswot");
            }
            if a.naswot_samples < 2 {
                bail!("--naswot-samples must be at least 2 (the score compares inputs)");
            }
            Objective::Naswot {
                samples: a.naswot_samples,
                seed: a.seed,
            }
        }
    })
}

/// The export table of a search: the Pareto front, then the picks verified by measurement,
/// then the best pick, one row each (`role` says which).
pub fn report_table(r: &SearchReport) -> Table {
    let mut t = Table::new(&[
        "role",
        "arch",
        "predicted_ms",
        "low_ms",
        "high_ms",
        "measured_ms",
        "objective",
        "fits",
    ]);
    let mut row = |role: &str, c: &Candidate, measured: Option<f64>, fits: Option<bool>| {
        t.push(vec![
            role.into(),
            c.arch.to_string().into(),
            c.prediction.predicted_ms.into(),
            c.prediction.low_ms.into(),
            c.prediction.high_ms.into(),
            measured.into(),
            c.objective.into(),
            fits.into(),
        ])
    };
    for &i in &r.front {
        row("front", &r.candidates[i], None, None);
    }
    for v in &r.verified {
        row(
            "verified",
            &v.candidate,
            Some(v.measured.median_ms),
            Some(v.fits),
        );
    }
    if let Some(b) = &r.best {
        row("best", &b.candidate, b.measured_ms, Some(b.fits));
    }
    t
}

pub fn report_json(plan: &SearchPlan, r: &SearchReport) -> Value {
    let pareto: Vec<Value> = r
        .front
        .iter()
        .map(|&i| {
            let c = &r.candidates[i];
            json!({"arch": c.arch.to_string(), "predicted_ms": c.prediction.predicted_ms, "accuracy": c.objective})
        })
        .collect();
    let verified: Vec<Value> = r
        .verified
        .iter()
        .map(|v| {
            json!({
                "arch": v.candidate.arch.to_string(),
                "predicted_ms": v.candidate.prediction.predicted_ms,
                "measured_ms": v.measured.median_ms,
                "origin": v.measured.origin.name(),
                "accuracy": v.candidate.objective,
                "fits": v.fits,
            })
        })
        .collect();
    json!({
        "space": plan.space.name(),
        "budget_ms": plan.budget_ms,
        "objective": plan.objective.describe(),
        "best": r.best.as_ref().map(pick_json),
        "pareto": pareto,
        "verified": verified,
        "candidates": r.candidates.len(),
        "seconds": r.seconds,
    })
}

pub fn print_report(plan: &SearchPlan, r: &SearchReport, top: usize) {
    println!(
        "Search: {} space, budget {} ms, {} candidates ({:.2} s)",
        plan.space.name(),
        plan.budget_ms,
        r.candidates.len(),
        r.seconds
    );
    println!("  objective: {}", plan.objective.describe());
    let mut under: Vec<&Candidate> = r
        .front
        .iter()
        .map(|&i| &r.candidates[i])
        .filter(|c| c.prediction.predicted_ms <= plan.budget_ms)
        .collect();
    under.reverse();
    println!("  Pareto front within the budget (best first, predicted):");
    for c in under.iter().take(top) {
        println!(
            "    {:>9.3}  {:>12} [{} … {}]  {}",
            c.objective,
            ms(c.prediction.predicted_ms),
            ms(c.prediction.low_ms),
            ms(c.prediction.high_ms),
            c.arch
        );
    }
    if !r.verified.is_empty() {
        println!("  Verified by measurement:");
        for v in &r.verified {
            println!(
                "    {:>9.3}  predicted {:>12}  measured {:>12} ({})  {}  {}",
                v.candidate.objective,
                ms(v.candidate.prediction.predicted_ms),
                ms(v.measured.median_ms),
                v.measured.origin.name(),
                if v.fits { "fits" } else { "BREAKS BUDGET" },
                v.candidate.arch
            );
        }
    }
    if let Some(b) = &r.best {
        println!(
            "  Best: {} (objective {:.3}, predicted {}{})",
            b.candidate.arch,
            b.candidate.objective,
            ms(b.candidate.prediction.predicted_ms),
            b.measured_ms
                .map(|m| format!(", measured {}", ms(m)))
                .unwrap_or_default()
        );
    }
}

pub fn run(a: SearchArgs, home: Option<&Path>) -> Result<()> {
    let space = Space::from_name(&a.space)?;
    SearchPlan::check_budget(a.budget_ms)?;
    if a.top == 0 {
        bail!("--top must be at least 1");
    }
    if a.evaluations == 0 || a.population == 0 || a.tournament == 0 || a.tournament > a.population {
        bail!(
            "--evaluations, --population and --tournament must be at least 1, and --tournament at most --population"
        );
    }
    if a.evaluations < a.population {
        bail!(
            "--evaluations {} is below --population {}: the first population alone takes that many evaluations, so nothing would evolve",
            a.evaluations,
            a.population
        );
    }
    let objective = resolve_objective(&a, space)?;
    let plan = SearchPlan {
        space,
        budget_ms: a.budget_ms,
        objective,
        verify: a.verify,
        evolution: EvolutionOptions {
            population: a.population,
            tournament: a.tournament,
            evaluations: a.evaluations,
            seed: a.seed,
            ..EvolutionOptions::default()
        },
        cache_dir: crate::state::home(home).ok().map(|h| h.join("cache")),
    };
    let mut reporter = Terminal::new("verify", a.json);
    let (report, fingerprint, runtime) = if let (Some(data), Some(column)) =
        (&a.data, &a.device_column)
    {
        if a.verify > 0 {
            bail!("--verify measures on this device; in table mode use --oracle FILE.csv --oracle-device COLUMN instead of --data/--device");
        }
        let model = edgenas_ondevice::shipped::load(space, a.model.as_deref())?;
        let predictor = edgenas_ondevice::help::table_predictor(
            space, data, column, a.samples, &model, a.seed,
        )?;
        let r = search_and_verify(&plan, &predictor, None, &mut reporter)?;
        (r, predictor.fingerprint, a.device.machine.runtime)
    } else {
        let mut session = crate::session::open(&a.device, home, space)?;
        let predictor = session.stored_predictor(space)?;
        let r = session.search(&plan, &predictor, &mut reporter)?;
        (r, predictor.fingerprint, a.device.machine.runtime)
    };
    reporter.finish();
    if let (Some(path), Some(best)) = (&a.output, &report.best) {
        let format = edgenas_ondevice::export::ExportFormat::for_runtime(runtime, path);
        edgenas_ondevice::export::export_model(
            &best.candidate.arch,
            path,
            a.device.weight_seed,
            format,
        )?;
    }
    if let Some(path) = &a.plot {
        let title = format!("{} on {}", space.name(), fingerprint_summary(&fingerprint));
        write_text(path, &report.svg(&title, &plan))?;
    }
    let mut v = report_json(&plan, &report);
    v["exported"] = json!(a.output);
    v["fingerprint"] = json!(fingerprint);
    a.export.write(&v, &report_table(&report))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("On {}", fingerprint_summary(&fingerprint));
    print_report(&plan, &report, a.top);
    if let Some(path) = &a.output {
        println!("  Exported {}", path.display());
    }
    if let Some(path) = &a.plot {
        println!("  Plot: {}", path.display());
    }
    Ok(())
}
