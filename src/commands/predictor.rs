//! `edgenas predictor meta-train|eval`: the meta-learned latency predictor.

use std::path::Path;
use std::time::Instant;

use crate::progress::human;
use anyhow::{bail, Context, Result};
use edgenas_nas::Space;
use edgenas_ondevice::help::{self, help_pools, Evaluated, SpaceTable};
use edgenas_ondevice::shipped::load as load_model;
use edgenas_predictor::{Adaptation, Learner, Loss, MetaTrainOptions, PredictorFile, Selection};

use crate::cli::{
    AdaptArg, LossArg, MetaTrainArgs, PredictorArgs, PredictorCommand, PredictorEvalArgs, SelectArg,
};

pub fn run(args: PredictorArgs) -> Result<()> {
    match args.command {
        PredictorCommand::MetaTrain(a) => run_meta_train(a),
        PredictorCommand::Eval(a) => run_eval(a),
        PredictorCommand::Info { space, model } => run_info(&space, model.as_deref()),
    }
}

fn split_devices(list: &str) -> Result<Vec<String>> {
    let devices: Vec<String> = list
        .split(',')
        .map(|d| d.trim().trim_end_matches("_ms").to_string())
        .filter(|d| !d.is_empty())
        .collect();
    if devices.is_empty() {
        bail!("no device named (give a comma-separated list of latency columns without _ms)");
    }
    Ok(devices)
}

fn run_meta_train(a: MetaTrainArgs) -> Result<()> {
    let space = Space::from_name(&a.space)?;
    let devices = (split_devices(&a.train)?, split_devices(&a.valid)?);
    let opt = MetaTrainOptions {
        iterations: a.iterations,
        seed: a.seed,
        loss: a.loss.to_loss(a.rank_weight),
        mixture_share: a.mixture,
        outer_lr: a.lr,
        ..MetaTrainOptions::default()
    };
    let (iterations, seed) = (opt.iterations, opt.seed);
    let start = Instant::now();
    let started = &mut |train: usize, valid: usize| {
        eprintln!(
            "meta-training a {} predictor: {train} train devices, {valid} validation devices, {iterations} iterations, seed {seed}",
            space.name()
        )
    };
    let m = help::meta_train(space, &a.data, devices, opt, started, &mut |p| {
        if let Some(s) = p.valid_spearman {
            let elapsed = start.elapsed();
            let left = p.iterations.saturating_sub(p.iteration) as f64;
            let eta = elapsed.mul_f64(left / p.iteration.max(1) as f64);
            crate::progress::note(&format!(
                "  iter {:>5}/{}  loss {:.5}  validation spearman {:.4}  best {:.4}  ({} elapsed, ETA {})",
                p.iteration, p.iterations, p.train_loss, s, p.best_spearman, human(elapsed), human(eta)
            ));
        }
    })?;
    for (what, s) in &m.choices {
        eprintln!("  {what}: validation spearman {s:.4}");
    }
    let f = &m.file;
    let chosen = f.training.valid_spearman;
    eprintln!(
        "  chosen: {:?}, blend {} (network weight): validation spearman {chosen:.4}",
        f.adaptation, f.blend
    );
    f.save(&a.output)
        .with_context(|| format!("writing {}", a.output.display()))?;
    println!(
        "wrote {}: validation spearman {chosen:.4} (the network alone: {:.4} at iteration {}) ({:.0} s)",
        a.output.display(),
        m.best_valid_spearman,
        m.best_iteration,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The shipped network with `--adaptation` and `--blend` applied.
fn configured_learner(model: &PredictorFile, a: &PredictorEvalArgs) -> Result<Learner> {
    let mut learner: Learner = model.learner()?;
    match a.adaptation {
        Some(AdaptArg::Sgd) => learner.adaptation = Adaptation::Sgd,
        Some(AdaptArg::Ridge) => {
            learner.adaptation = Adaptation::SgdThenRidge {
                lambda: a.ridge_lambda,
            }
        }
        Some(AdaptArg::Residual) => {
            learner.adaptation = Adaptation::SgdThenResidual {
                lambda_head: a.ridge_lambda,
                lambda_linear: a.linear_lambda,
            }
        }
        None => {}
    }
    if let Some(b) = a.blend {
        if !(0.0..=1.0).contains(&b) {
            bail!("--blend must be within 0..1");
        }
        if b < 1.0 && learner.additive.is_none() {
            bail!("this model has no additive part to blend with");
        }
        learner.blend = b;
    }
    Ok(learner)
}

fn run_eval(a: PredictorEvalArgs) -> Result<()> {
    let space = Space::from_name(&a.space)?;
    if a.seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    if !a.meta_only && (a.adaptation.is_some() || a.blend.is_some()) {
        bail!("--adaptation and --blend configure the shipped meta-learned network, which the on-device model does not use: add --meta-only to evaluate it");
    }
    let model = load_model(space, a.model.as_deref())?;
    let learner = configured_learner(&model, &a)?;
    let t = SpaceTable::read(space, &a.data)?;
    let names = split_devices(&a.devices)?;
    let devs = t.devices(&names, &help_pools(space, t.table.rows())?)?;
    let seeds: Vec<u64> = (0..a.seeds as u64).collect();
    let selection = match a.select {
        SelectArg::Random => Selection::Random,
        SelectArg::Informative => Selection::Informative,
    };
    if a.meta_only && selection == Selection::Informative {
        bail!("--select informative needs the on-device model (drop --meta-only)");
    }
    let prior;
    let what = if a.meta_only {
        Evaluated::Network(&learner)
    } else {
        prior = edgenas_ondevice::features::prior_for(space, &model)?;
        Evaluated::OnDevice {
            prior: &prior,
            selection,
        }
    };
    let scores = help::evaluate_devices(&t, &devs, what, a.samples, &seeds)?;
    let report = help::EvalReport::new(space, a.samples, a.seeds, &devs, scores);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "{} predictor ({}), {} reference + {} {} support measurements per device, mean of {} draws",
        space.name(),
        if a.meta_only {
            "the shipped meta-learned model alone"
        } else {
            "on-device model: executed-network costs + meta-learned prior"
        },
        t.reference_rows.len(),
        a.samples,
        if selection == Selection::Random {
            "random"
        } else {
            "informative"
        },
        a.seeds
    );
    println!(
        "{:<16} {:>9} {:>9} {:>11}",
        "device", "spearman", "kendall", "within 10%"
    );
    for d in &report.devices {
        println!(
            "{:<16} {:>9.4} {:>9.4} {:>10.1}%",
            d.device,
            d.spearman,
            d.kendall,
            d.within_10pct * 100.0
        );
    }
    println!("{:<16} {:>9.4}", "mean", report.mean_spearman);
    Ok(())
}

impl LossArg {
    fn to_loss(self, weight: f32) -> Loss {
        match self {
            LossArg::Mse => Loss::Mse,
            LossArg::Rank => Loss::MseRank { weight },
        }
    }
}

fn run_info(space: &str, model: Option<&Path>) -> Result<()> {
    let space = Space::from_name(space)?;
    let f = load_model(space, model)?;
    let t = &f.training;
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "space": f.space,
            "source": model.map(|p| p.display().to_string()).unwrap_or_else(|| "embedded".into()),
            "parameters": f.params.len(),
            "inner_steps": f.inner_steps,
            "adaptation": format!("{:?}", f.adaptation),
            "loss": format!("{:?}", f.loss),
            "data": t.data,
            "train_devices": t.train_devices,
            "valid_devices": t.valid_devices,
            "valid_samples": t.options.valid_samples,
            "valid_seeds": t.options.valid_seeds,
            "valid_spearman": t.valid_spearman,
            "best_iteration": t.best_iteration,
            "iterations": t.options.iterations,
            "seed": t.options.seed,
            "seconds": t.seconds,
        }))?
    );
    Ok(())
}
