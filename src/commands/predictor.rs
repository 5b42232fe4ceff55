//! `edgenas predictor meta-train|eval`: the meta-learned latency predictor.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use edgenas_nas::Space;
use edgenas_ondevice::help::{help_pools, model_config, SpaceTable};
use edgenas_ondevice::shipped::load as load_model;
use edgenas_predictor::Selection;
use edgenas_predictor::{
    evaluate, meta::validate, meta_train, select_on_validation, Adaptation, Learner, Loss,
    MetaTrainOptions, Model, Pools, PredictorFile, Score, TrainingInfo,
};
use serde::Serialize;

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
    let t = SpaceTable::read(space, &a.data)?;
    let train_names = split_devices(&a.train)?;
    let valid_names = split_devices(&a.valid)?;
    if let Some(d) = train_names.iter().find(|d| valid_names.contains(d)) {
        bail!("device {d} is both a training and a validation device");
    }
    let train = t.devices(&train_names, &Pools::all_train(t.table.rows()))?;
    let valid = t.devices(&valid_names, &help_pools(space, t.table.rows())?)?;
    let opt = MetaTrainOptions {
        iterations: a.iterations,
        seed: a.seed,
        loss: a.loss.to_loss(a.rank_weight),
        mixture_share: a.mixture,
        outer_lr: a.lr,
        ..MetaTrainOptions::default()
    };
    let model = Model::new(model_config(space))?;
    let start = Instant::now();
    eprintln!(
        "meta-training a {} predictor: {} train devices, {} validation devices, {} iterations, seed {}",
        space.name(),
        train.len(),
        valid.len(),
        opt.iterations,
        opt.seed
    );
    let trained = meta_train(model, &t.features, &train, &valid, &opt, &mut |p| {
        if let Some(s) = p.valid_spearman {
            let elapsed = start.elapsed();
            let eta = elapsed.mul_f64(
                (p.iterations.saturating_sub(p.iteration)) as f64 / p.iteration.max(1) as f64,
            );
            crate::progress::note(&format!(
                "  iter {:>5}/{}  loss {:.5}  validation spearman {:.4}  best {:.4}  ({} elapsed, ETA {})",
                p.iteration,
                p.iterations,
                p.train_loss,
                s,
                p.best_spearman,
                crate::progress::human(elapsed),
                crate::progress::human(eta)
            ));
        }
    });
    let mut trained = trained;
    let choices = select_on_validation(&mut trained.learner, &t.features, &train, &valid, &opt)?;
    for (what, s) in &choices {
        eprintln!("  {what}: validation spearman {s:.4}");
    }
    let chosen_spearman = validate(
        &trained.learner,
        &t.features,
        &valid,
        opt.valid_samples,
        &opt.valid_seeds,
    );
    eprintln!(
        "  chosen: {:?}, blend {} (network weight): validation spearman {chosen_spearman:.4}",
        trained.learner.adaptation, trained.learner.blend
    );
    let file = PredictorFile {
        space: space.name().to_string(),
        references: space.references().iter().map(|r| r.to_string()).collect(),
        config: trained.learner.model.config().clone(),
        params: trained.learner.params.clone(),
        inner_lr: trained.learner.inner_lr.clone(),
        inner_steps: trained.learner.inner_steps as u32,
        loss: trained.learner.loss,
        adaptation: trained.learner.adaptation,
        additive: trained.learner.additive.clone(),
        blend: trained.learner.blend,
        training: TrainingInfo {
            data: a
                .data
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            train_devices: train_names,
            valid_devices: valid_names,
            options: opt,
            best_iteration: trained.best_iteration as u32,
            valid_spearman: chosen_spearman,
            seconds: start.elapsed().as_secs_f64(),
        },
    };
    file.save(&a.output)
        .with_context(|| format!("writing {}", a.output.display()))?;
    println!(
        "wrote {}: validation spearman {:.4} (the network alone: {:.4} at iteration {}) ({:.0} s)",
        a.output.display(),
        chosen_spearman,
        trained.best_valid_spearman,
        trained.best_iteration,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

#[derive(Serialize)]
struct DeviceReport {
    device: String,
    spearman: f64,
    kendall: f64,
    within_10pct: f64,
}

#[derive(Serialize)]
struct EvalReport {
    space: String,
    samples: usize,
    seeds: usize,
    devices: Vec<DeviceReport>,
    mean_spearman: f64,
}

fn run_eval(a: PredictorEvalArgs) -> Result<()> {
    let space = Space::from_name(&a.space)?;
    if a.seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    let model = load_model(space, a.model.as_deref())?;
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
    let t = SpaceTable::read(space, &a.data)?;
    let names = split_devices(&a.devices)?;
    let devs = t.devices(&names, &help_pools(space, t.table.rows())?)?;
    let seeds: Vec<u64> = (0..a.seeds as u64).collect();
    let mut report = EvalReport {
        space: space.name().into(),
        samples: a.samples,
        seeds: a.seeds,
        devices: Vec::new(),
        mean_spearman: 0.0,
    };
    // The on-device model needs every row's executed-network cost figures.
    let ondevice = if a.meta_only {
        None
    } else {
        let costs: Vec<Vec<f64>> = edgenas_ondevice::features::features_of(&t.archs)
            .into_iter()
            .map(|f| f.cost)
            .collect();
        Some((edgenas_ondevice::features::prior_for(space, &model)?, costs))
    };
    let selection = match a.select {
        SelectArg::Random => Selection::Random,
        SelectArg::Informative => Selection::Informative,
    };
    if a.meta_only && selection == Selection::Informative {
        bail!("--select informative needs the on-device model (drop --meta-only)");
    }
    for d in &devs {
        let s: Score = match &ondevice {
            Some((prior, costs)) => edgenas_predictor::costaware::evaluate(
                prior,
                costs,
                &t.features,
                d,
                a.samples,
                &seeds,
                selection,
            )?,
            None => evaluate(&learner, &t.features, d, a.samples, &seeds),
        };
        report.devices.push(DeviceReport {
            device: d.name.clone(),
            spearman: s.spearman,
            kendall: s.kendall,
            within_10pct: s.within_10pct,
        });
    }
    report.mean_spearman =
        report.devices.iter().map(|d| d.spearman).sum::<f64>() / report.devices.len() as f64;
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
