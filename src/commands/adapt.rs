//! `edgenas adapt`: the shipped predictor adapted to this device.

use std::path::Path;

use anyhow::Result;
use edgenas_nas::kernels::OFA_KERNEL_RESOLUTIONS;
use edgenas_nas::Space;
use edgenas_ondevice::steps::AdaptPlan;

use crate::cli::AdaptArgs;
use crate::output::{fingerprint_summary, ms};

pub fn run(a: AdaptArgs, home: Option<&Path>) -> Result<()> {
    let space = Space::from_name(&a.space)?;
    let file = edgenas_ondevice::shipped::load(space, a.model.as_deref())?;
    let mut session = crate::session::open(&a.device, home, space)?;
    let plan = AdaptPlan {
        samples: a.samples,
        random_support: a.random,
        seed: a.seed,
        kernels: a.kernels,
        force: a.force,
    };
    let mut reporter = crate::reporter::Terminal::new("adapt", a.json);
    let r = session.adapt(space, &file, plan, &mut reporter)?;
    reporter.finish();
    let p = &r.predictor;
    if a.json {
        crate::output::print_json(&r.summary(a.random))?;
        return Ok(());
    }
    println!(
        "Adapted the {} predictor to {}",
        space.name(),
        fingerprint_summary(&p.fingerprint)
    );
    println!(
        "  from the embedding's {} references and {} {} support archs:",
        p.references.len(),
        p.support.len(),
        if a.random { "random" } else { "informative" }
    );
    for ((arch, v), m) in p.support.iter().zip(&r.support) {
        println!("    {:>12}  ({})  {arch}", ms(*v), m.origin.name());
    }
    if !p.kernels.is_empty() {
        let total: f64 = p.kernels.figures.iter().map(|(_, v)| v).sum();
        println!(
            "  and the space's {} kernels{}, each timed after a lead layer less the lead ({}, {:.1} s; {} in all): their sum over an arch's layers is a cost figure",
            p.kernels.figures.len(),
            if p.space == Space::Ofa.name() {
                let px: Vec<String> = OFA_KERNEL_RESOLUTIONS.iter().map(u16::to_string).collect();
                format!(
                    " at {} px (interpolated between them; the stem, which runs first, alone)",
                    px.join(", ")
                )
            } else {
                String::new()
            },
            if r.kernel_seconds > 0.0 { "measured now" } else { "from the journal" },
            r.kernel_seconds,
            ms(total)
        );
    }
    if let Some(why) = r.kernels_skipped {
        println!("  without the space's kernel figures: {}", why.reason());
    }
    println!(
        "  Quality on its own measurements (leave-one-out): Spearman {:.3}, MAPE {:.1}%, {:.0}% inside the 90% interval",
        p.quality.loo_spearman,
        p.quality.loo_mape * 100.0,
        p.quality.loo_coverage * 100.0
    );
    println!(
        "  Fitted at the anchor's level: {} (the support figures set at it); the level drifts {:.1}% from batch to batch here (the anchor's spread over the journal's batches, pooled with a {:.1}% prior)",
        ms(p.level_ms),
        p.drift_rel_sd * 100.0,
        edgenas_ondevice::anchor::PRIOR_REL_SD * 100.0
    );
    println!(
        "  Prior weights chosen by marginal likelihood: cost {}, kernels {}, meta-learned {}, free {}, noise {}",
        p.model.hyper.cost_var,
        p.model.hyper.kernel_var,
        p.model.hyper.help_var,
        p.model.hyper.tau2,
        p.model.hyper.noise
    );
    println!("Saved {} in {:.1} s", r.path.display(), r.seconds);
    Ok(())
}
