//! `edgenas search`: latency-constrained search with this device's adapted predictor, the
//! picks verified by measurement with --verify, the winner exported with -o.

use std::path::Path;

use anyhow::{bail, Context, Result};
use edgenas_nas::search::EvolutionOptions;
use edgenas_nas::Space;
use edgenas_ondevice::accuracy::Dataset;
use edgenas_ondevice::search::{Candidate, Objective};
use edgenas_ondevice::verify::search_and_verify;
use edgenas_ondevice::{SearchPlan, SearchReport};
use serde_json::json;

use crate::cli::{ObjectiveArg, SearchArgs};
use crate::output::{fingerprint_summary, ms, write_text};
use crate::reporter::Terminal;

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
    if let Some(why) = &r.stopped {
        println!("  Stopped: {why}");
    }
    if r.measurements.figures() > 0 {
        println!("  Measurements: {}", r.measurements.describe());
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

/// The search the flags ask for, each out-of-range value refused in one line.
fn plan(a: &SearchArgs, space: Space, home: Option<&Path>) -> Result<SearchPlan> {
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
    let objective = resolve_objective(a, space)?;
    Ok(SearchPlan {
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
    })
}

pub fn run(a: SearchArgs, home: Option<&Path>) -> Result<()> {
    let space = Space::from_name(&a.space)?;
    let plan = plan(&a, space, home)?;
    let mut reporter = Terminal::new("verify", a.json);
    let (report, fingerprint, runtime) = if let (Some(data), Some(column)) =
        (&a.data, &a.device_column)
    {
        if a.verify > 0 || a.max_measurements.is_some() {
            bail!("--verify and --max-measurements measure on this device; in table mode use --oracle FILE.csv --oracle-device COLUMN instead of --data/--device");
        }
        let model = edgenas_ondevice::shipped::load(space, a.model.as_deref())?;
        let predictor = edgenas_ondevice::help::table_predictor(
            space, data, column, a.samples, &model, a.seed,
        )?;
        let r = search_and_verify(&plan, &predictor, None, &mut reporter)?;
        (
            r,
            predictor.fingerprint,
            crate::session::runtime(&a.device.machine.runtime)?,
        )
    } else {
        let mut session = crate::session::open(&a.device, home, space)?;
        session.measurer.set_limit(a.max_measurements);
        let predictor = session.stored_predictor(space)?;
        let r = session.search(&plan, &predictor, &mut reporter)?;
        (
            r,
            predictor.fingerprint,
            crate::session::runtime(&a.device.machine.runtime)?,
        )
    };
    reporter.finish();
    if let (Some(path), Some(best)) = (&a.output, &report.best) {
        let format = edgenas_ondevice::export::ExportFormat::for_runtime(runtime, path);
        edgenas_ondevice::export::export_model(
            &best.candidate.arch,
            path,
            a.device.weight_seed,
            format,
            (
                a.device.machine.runtime.precision,
                edgenas_runtime::QdqStyle::for_runtime(runtime),
            ),
        )?;
    }
    if let Some(path) = &a.plot {
        let title = format!("{} on {}", space.name(), fingerprint_summary(&fingerprint));
        write_text(path, &report.svg(&title, &plan))?;
    }
    let mut v = serde_json::to_value(report.summary(&plan))?;
    v["exported"] = json!(a.output);
    v["fingerprint"] = json!(fingerprint);
    a.export.write(&v, &report.table())?;
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
