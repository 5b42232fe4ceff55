//! `edgenas search`: latency-constrained search with this device's adapted predictor, the
//! picks verified by measurement with --verify, the winner exported with -o.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use edgenas_nas::search::EvolutionOptions;
use edgenas_nas::{Arch, Space};
use edgenas_ondevice::accuracy::Dataset;
use edgenas_ondevice::features::prior_for;
use edgenas_ondevice::search::{self as loop_search, Candidate, Objective, Verified};
use edgenas_ondevice::steps::Report;
use edgenas_ondevice::{steps, AdaptedPredictor, Measurer, OracleTable};
use edgenas_runtime::Runtime;

use crate::tables::Table;
use rand::SeedableRng;
use serde_json::{json, Value};

use super::device::{with_report, Ctx};
use super::predictor::load_model;
use crate::cli::{ObjectiveArg, SearchArgs};
use crate::output::{fingerprint_summary, ms};

/// How the search is run (shared by `search` and `run`).
pub struct SearchPlan {
    pub space: Space,
    pub budget_ms: f64,
    pub objective: Objective,
    pub verify: usize,
    pub evolution: EvolutionOptions,
    /// Where computed-once data is kept (the NB201 features).
    pub cache_dir: Option<std::path::PathBuf>,
}

/// What a search found.
pub struct SearchReport {
    pub candidates: Vec<Candidate>,
    pub front: Vec<usize>,
    pub verified: Vec<Verified>,
    /// The pick: the best verified arch that fits, else (without --verify) the best predicted.
    pub best: Option<Pick>,
    pub seconds: f64,
}

#[derive(Debug, Clone)]
pub struct Pick {
    pub candidate: Candidate,
    pub measured_ms: Option<f64>,
    pub fits: bool,
}

pub fn parse_dataset(name: &str) -> Result<Dataset> {
    Dataset::from_name(name)
        .with_context(|| format!("unknown dataset '{name}' (known: cifar10, cifar100, imagenet16)"))
}

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
            Objective::Nats(parse_dataset(&a.dataset)?)
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

pub fn check_budget(budget_ms: f64) -> Result<()> {
    if !(budget_ms.is_finite() && budget_ms > 0.0) {
        bail!("--budget-ms must be a positive number of milliseconds, got {budget_ms}");
    }
    Ok(())
}

/// Table mode: the on-device model adapted to a device column of a latency table (its
/// references and `samples` random rows), for offline study.
pub fn table_predictor(
    space: Space,
    data: &Path,
    column: &str,
    samples: usize,
    model: Option<&Path>,
    seed: u64,
) -> Result<AdaptedPredictor> {
    let file = load_model(space, model)?;
    let prior = prior_for(space, &file)?;
    let table = OracleTable::read(space, data, column)?;
    let refs = space.references();
    let references: Vec<(Arch, f64)> = refs
        .iter()
        .map(|a| {
            table
                .latency_ms(a)
                .map(|ms| (a.clone(), ms))
                .with_context(|| {
                    format!("{}: reference arch {a} is not in the table", data.display())
                })
        })
        .collect::<Result<_>>()?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut support = Vec::new();
    let pool: Vec<&Arch> = table.archs.iter().filter(|a| !refs.contains(a)).collect();
    while support.len() < samples.min(pool.len()) {
        let a = pool[rand::RngExt::random_range(&mut rng, 0..pool.len())];
        if !support.iter().any(|(s, _): &(Arch, f64)| s == a) {
            support.push((a.clone(), table.latency_ms(a).expect("from the table")));
        }
    }
    let fp = edgenas_ondevice::measure::oracle_fingerprint(&table);
    Ok(AdaptedPredictor::adapt(
        space,
        &prior,
        "shipped prior",
        fp,
        &references,
        &support,
    )?)
}

/// Candidates (exact for NB201 with a table objective, evolutionary otherwise), the front, and
/// verification of the picks.
pub fn search_and_verify(
    plan: &SearchPlan,
    predictor: &AdaptedPredictor,
    measurer: Option<&mut Measurer>,
    report: &mut Report,
) -> Result<SearchReport> {
    let file = load_model(plan.space, None)?;
    let prior = prior_for(plan.space, &file)?;
    let mut refit = |extra: &[(Arch, f64)]| predictor.refit(&prior, extra);
    let start = Instant::now();
    let exact = plan.space == Space::Nb201 && !matches!(plan.objective, Objective::Naswot { .. });
    let (mut candidates, features) = if exact {
        loop_search::exact_nb201(predictor, &plan.objective, plan.cache_dir.as_deref())?
    } else {
        // Each evaluation scores the objective (NASWOT runs the network): k/N, elapsed, ETA.
        let total = plan.evolution.evaluations;
        let mut bar = crate::progress::Progress::new("search", total, false);
        let found = loop_search::evolutionary(
            plan.space,
            predictor,
            &plan.objective,
            plan.budget_ms,
            &plan.evolution,
            &mut |k| {
                bar.start_item(&format!("#{k}"));
                bar.finish_item("scored");
            },
        )?;
        bar.finish();
        found
    };
    if candidates.is_empty() {
        bail!("no candidate has an objective (is the accuracy table for this space?)");
    }
    let front = loop_search::pareto(&candidates);
    let best_predicted = loop_search::best_predicted(&candidates, plan.budget_ms);
    if best_predicted.is_none() {
        let fastest = loop_search::fastest_predicted(&candidates).expect("not empty");
        bail!(
            "no arch is predicted within {} ms: the fastest {} the search saw is predicted at {} ({}); raise --budget-ms",
            plan.budget_ms,
            plan.space.name(),
            ms(fastest.prediction.predicted_ms),
            fastest.arch
        );
    }
    let mut verified = Vec::new();
    let best = match measurer {
        Some(m) if plan.verify > 0 => {
            verified = loop_search::verify(
                &mut candidates,
                &features,
                Some(&mut refit),
                plan.budget_ms,
                plan.verify,
                (plan.verify * 5).max(plan.verify + 10),
                m,
                report.notify,
                report.progress,
            )?;
            match verified.iter().find(|v| v.fits) {
                Some(v) => Some(Pick {
                    candidate: v.candidate.clone(),
                    measured_ms: Some(v.measured.median_ms),
                    fits: true,
                }),
                None => {
                    let fastest = verified
                        .iter()
                        .map(|v| v.measured.median_ms)
                        .fold(f64::INFINITY, f64::min);
                    bail!(
                        "none of the {} picks measured fits {} ms (the fastest measured {}); raise --budget-ms",
                        verified.len(),
                        plan.budget_ms,
                        ms(fastest)
                    );
                }
            }
        }
        _ => best_predicted.map(|i| Pick {
            candidate: candidates[i].clone(),
            measured_ms: None,
            fits: true,
        }),
    };
    Ok(SearchReport {
        candidates,
        front,
        verified,
        best,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Writes `arch`'s network (the executed graph that was timed) in the format of the runtime
/// that timed it: `.tflite` for TensorFlow Lite (or a path ending in .tflite), else ONNX.
pub fn export_model(arch: &Arch, path: &Path, seed: u64, runtime: Runtime) -> Result<()> {
    use super::export::Format;
    let format =
        if runtime == Runtime::Tflite || Format::from_extension(path) == Some(Format::Tflite) {
            Format::Tflite
        } else {
            Format::Onnx
        };
    let bytes = format.bytes(arch, &arch.build(), seed)?;
    edgenas_format::write_atomic(path, &bytes)
        .with_context(|| format!("writing {}", path.display()))
}

pub fn write_plot(path: &Path, title: &str, plan: &SearchPlan, r: &SearchReport) -> Result<()> {
    let svg = edgenas_ondevice::plot::pareto_svg(
        title,
        &plan.objective.describe(),
        &r.candidates,
        &r.front,
        Some(plan.budget_ms),
        &r.verified,
    );
    edgenas_format::write_atomic(path, svg.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

pub fn pick_json(p: &Pick) -> Value {
    json!({
        "arch": p.candidate.arch.to_string(),
        "predicted_ms": p.candidate.prediction.predicted_ms,
        "low_ms": p.candidate.prediction.low_ms,
        "high_ms": p.candidate.prediction.high_ms,
        "measured_ms": p.measured_ms,
        "accuracy": p.candidate.objective,
        "fits": p.fits,
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
    check_budget(a.budget_ms)?;
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
    let (report, fingerprint) = if let (Some(data), Some(column)) = (&a.data, &a.device_column) {
        if a.verify > 0 {
            bail!("--verify measures on this device; in table mode use --oracle FILE.csv --oracle-device COLUMN instead of --data/--device");
        }
        let predictor =
            table_predictor(space, data, column, a.samples, a.model.as_deref(), a.seed)?;
        let r = with_report("search", a.json, |rep| {
            search_and_verify(&plan, &predictor, None, rep)
        })?;
        (r, predictor.fingerprint)
    } else {
        let mut ctx = Ctx::open(&a.device, home, space)?;
        let (mut measurer, state) = ctx.parts()?;
        let predictor = steps::stored_predictor(space, &measurer, state)?;
        let r = with_report("verify", a.json, |rep| {
            search_and_verify(&plan, &predictor, Some(&mut measurer), rep)
        })?;
        (r, predictor.fingerprint)
    };
    if let (Some(path), Some(best)) = (&a.output, &report.best) {
        export_model(
            &best.candidate.arch,
            path,
            a.device.weight_seed,
            a.device.machine.runtime,
        )?;
    }
    if let Some(path) = &a.plot {
        let title = format!("{} on {}", space.name(), fingerprint_summary(&fingerprint));
        write_plot(path, &title, &plan, &report)?;
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
