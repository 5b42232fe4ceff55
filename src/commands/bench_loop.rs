//! Benchmarks of the on-device loop: the protocol's test-retest, and the speed of adapting,
//! predicting and searching.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use edgenas_nas::{Arch, Nb201Arch, Space};
use edgenas_ondevice::adapted::choose_support;
use edgenas_ondevice::features::{features_of, prior_for};
use edgenas_ondevice::measure::Setup;
use edgenas_ondevice::search::{best_predicted, exact_nb201, pareto, Objective};
use edgenas_ondevice::{AdaptedPredictor, Measurer, OracleTable};
use edgenas_predictor::metrics::spearman;
use edgenas_profiler::{open_measurements, probe, Protocol, Rounds, Sysroot};
use edgenas_runtime::{Runtime, TractModel, TractOptions};
use rand::SeedableRng;
use serde_json::json;

use super::predictor::load_model;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// Test-retest of two passes over the same archs.
fn agreement(a: &[f64], b: &[f64]) -> serde_json::Value {
    let fa: Vec<f32> = a.iter().map(|&x| x as f32).collect();
    let fb: Vec<f32> = b.iter().map(|&x| x as f32).collect();
    let ratio: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
    let rel: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / x.min(*y))
        .collect();
    json!({
        "spearman": spearman(&fa, &fb),
        "median_rel_diff": median(rel),
        "ratio_p10": quantile(ratio.clone(), 0.1),
        "ratio_p90": quantile(ratio, 0.9),
    })
}

/// N archs measured twice with interleaved rounds and twice one at a time (today's
/// protocol), the passes alternating so both protocols see the same phases of the machine.
pub fn reproducibility(
    space: &str,
    n: usize,
    threads: usize,
    seed: u64,
    rounds_only: bool,
    as_json: bool,
) -> Result<()> {
    let space = Space::from_name(space)?;
    if n < 3 {
        bail!("--archs must be at least 3");
    }
    if threads == 0 {
        bail!("--threads must be at least 1");
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut archs: Vec<Arch> = Vec::new();
    while archs.len() < n {
        let a = space.sample(&mut rng);
        if !archs.contains(&a) {
            archs.push(a);
        }
    }
    let dir = std::env::temp_dir().join(format!("edgenas-repro-{}", std::process::id()));
    let journal_path = dir.join("bench.journal");
    let mut journal = open_measurements(&journal_path)?;
    let protocol = Protocol::default();
    let make_setup = || {
        let root = Sysroot::new("/");
        let system = probe::read_system(&root);
        Setup {
            root,
            system,
            threads,
            cpus: Vec::new(),
            protocol: protocol.clone(),
            rounds: Rounds::default(),
            cooldown: Duration::ZERO,
            allow_unstable: true,
            seed: 0,
            runtime: Runtime::Tract,
            runtime_identity: Runtime::Tract.identity().expect("tract is built in"),
        }
    };
    let quiet = |_: &str| {};
    let rounds_pass =
        |journal: &mut edgenas_profiler::MeasurementJournal| -> Result<(Vec<f64>, f64)> {
            let t = Instant::now();
            let mut m = Measurer::device(make_setup(), journal)?;
            let figures = m.measure_ignoring_journal(&archs, &mut { quiet }, &mut |p| {
                if p.batch.is_none() {
                    eprintln!("  interleaved rounds: {}/{}", p.done, p.total);
                }
            })?;
            Ok((
                figures.iter().map(|f| f.median_ms).collect(),
                t.elapsed().as_secs_f64(),
            ))
        };
    let classic_pass = || -> Result<(Vec<f64>, f64)> {
        let t = Instant::now();
        let mut out = Vec::new();
        for (i, a) in archs.iter().enumerate() {
            let mut model = TractModel::from_network(&a.build(), TractOptions { threads, seed: 0 })
                .with_context(|| format!("preparing {a}"))?;
            let s = protocol.sample(|| model.run_discard(), &mut |_| {})?;
            out.push(s.stats.median_ms);
            if (i + 1) % 10 == 0 {
                eprintln!("  one at a time: {}/{}", i + 1, archs.len());
            }
        }
        Ok((out, t.elapsed().as_secs_f64()))
    };
    let (r1, tr1) = rounds_pass(&mut journal)?;
    let classic1 = if rounds_only {
        None
    } else {
        Some(classic_pass()?)
    };
    let (r2, tr2) = rounds_pass(&mut journal)?;
    let classic2 = if rounds_only {
        None
    } else {
        Some(classic_pass()?)
    };
    drop(journal);
    let _ = std::fs::remove_dir_all(&dir);
    let mut result = json!({
        "space": space.name(),
        "archs": n,
        "threads": threads,
        "interleaved": {
            "estimator": "median over rounds of each round's burst minimum",
            "test_retest": agreement(&r1, &r2),
            "seconds_per_pass": (tr1 + tr2) / 2.0,
        },
    });
    if let (Some((c1, tc1)), Some((c2, tc2))) = (&classic1, &classic2) {
        result["one_at_a_time"] = json!({
            "estimator": "median of one continuous sample (CI of the median within 1%)",
            "test_retest": agreement(c1, c2),
            "seconds_per_pass": (tc1 + tc2) / 2.0,
        });
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&result)?);
        return Ok(());
    }
    let line = |name: &str, v: &serde_json::Value| {
        let t = &v["test_retest"];
        println!(
            "  {name:<28} test-retest Spearman {:.3}, median relative difference {:.1}%, ratio p10-p90 {:.3}-{:.3}, {:.0} s per pass",
            t["spearman"].as_f64().unwrap_or(f64::NAN),
            t["median_rel_diff"].as_f64().unwrap_or(f64::NAN) * 100.0,
            t["ratio_p10"].as_f64().unwrap_or(f64::NAN),
            t["ratio_p90"].as_f64().unwrap_or(f64::NAN),
            v["seconds_per_pass"].as_f64().unwrap_or(f64::NAN)
        )
    };
    println!(
        "Reproducibility: {n} {} archs measured twice, {threads} thread(s)",
        space.name()
    );
    line("interleaved rounds", &result["interleaved"]);
    if !rounds_only {
        line("one arch at a time (before)", &result["one_at_a_time"]);
    }
    Ok(())
}

/// Adapting, predicting all of NB201 with uncertainty, and exact search, on a table
/// device's figures (no measurement; the computations alone).
pub fn loop_speed(data: &Path, device: &str, repeats: usize) -> Result<()> {
    let space = Space::Nb201;
    let table = OracleTable::read(space, data, device)?;
    let file = load_model(space, None)?;
    let prior = prior_for(space, &file)?;
    let refs: Vec<(Arch, f64)> = space
        .references()
        .into_iter()
        .map(|a| {
            let ms = table
                .latency_ms(&a)
                .context("a reference is not in the table")?;
            Ok((a, ms))
        })
        .collect::<Result<_>>()?;
    let support_archs = choose_support(space, &prior, 10, 0, Some(&table.archs), &[])?;
    let support: Vec<(Arch, f64)> = support_archs
        .into_iter()
        .map(|a| {
            let ms = table.latency_ms(&a).expect("chosen from the table");
            (a, ms)
        })
        .collect();
    let fp = edgenas_ondevice::measure::oracle_fingerprint(&table);
    let timed = |f: &mut dyn FnMut()| {
        let mut v = Vec::new();
        for _ in 0..repeats {
            let t = Instant::now();
            f();
            v.push(t.elapsed().as_secs_f64() * 1e3);
        }
        median(v)
    };
    let mut predictor = None;
    let adapt_ms = timed(&mut || {
        predictor = Some(
            AdaptedPredictor::adapt(space, &prior, "shipped", fp.clone(), &refs, &support)
                .expect("adapts"),
        );
    });
    let predictor = predictor.expect("adapted");
    let all: Vec<Arch> = Nb201Arch::all().into_iter().map(Arch::Nb201).collect();
    let mut feats = Vec::new();
    let features_ms = timed(&mut || feats = features_of(&all));
    let predict_ms = timed(&mut || {
        let p = predictor.predict_features(&feats);
        assert_eq!(p.len(), all.len());
    });
    let objective = Objective::Nats(edgenas_ondevice::accuracy::Dataset::Cifar10);
    let cache = std::env::temp_dir().join(format!("edgenas-bench-cache-{}", std::process::id()));
    let t = Instant::now();
    let _ = edgenas_ondevice::features::nb201_all(Some(&cache));
    let cold_ms = t.elapsed().as_secs_f64() * 1e3;
    let search_ms = timed(&mut || {
        let (c, _) = exact_nb201(&predictor, &objective, Some(&cache)).expect("searches");
        let front = pareto(&c);
        let best = best_predicted(&c, 10.0);
        assert!(!front.is_empty() && best.is_some() || best.is_none());
    });
    println!(
        "On-device loop computations (NB201, median of {repeats}, oracle figures of {device}):"
    );
    println!("  adapt (10 references + 10 support, empirical Bayes over {} prior settings, leave-one-out quality): {adapt_ms:.1} ms", prior.grid().len());
    println!("  cost features of all 15,625 archs (build + executed network): {features_ms:.1} ms");
    println!("  predict all 15,625 archs with uncertainty (features given): {predict_ms:.1} ms");
    println!("  exact search (cached features, prediction, accuracy, Pareto front, best under budget): {search_ms:.1} ms");
    println!("  (the feature cache is built once per binary version: {cold_ms:.1} ms here)");
    let _ = std::fs::remove_dir_all(&cache);
    if let Some(mb) = crate::output::peak_rss_mb() {
        println!("  peak RSS of this process: {mb:.1} MB");
    }
    Ok(())
}
