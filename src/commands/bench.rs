//! `edgenas bench`: benchmarks that print figures (the machine is shared and noisy, so
//! figures are compared as ratios measured in the same run).

use std::time::Instant;

use anyhow::{bail, Context, Result};
use edgenas_nas::Arch;
use edgenas_profiler::{stats::Stats, Protocol};
use edgenas_runtime::{Model, ModelOptions, Runtime, TractModel, TractOptions};
use serde_json::json;

use crate::cli::{BenchArgs, BenchKind};
use crate::output::ms;

pub fn run(args: BenchArgs) -> Result<()> {
    match args.bench {
        BenchKind::Reproducibility {
            space,
            archs,
            threads,
            seed,
            rounds_only,
            json,
        } => super::bench_loop::reproducibility(&space, archs, threads, seed, rounds_only, json),
        BenchKind::Loop {
            data,
            device,
            repeats,
        } => super::bench_loop::loop_speed(&data, &device, repeats.max(1)),
        BenchKind::Journal { records, samples } => {
            super::bench_journal::open_large(records, samples.max(1))
        }
        BenchKind::Protocol {
            arch,
            threads,
            loop_runs,
            rounds,
            json,
        } => protocol_vs_loop(&arch, threads, loop_runs, rounds.max(1), json),
        BenchKind::Predictor {
            space,
            data,
            device,
            model,
            repeats,
        } => predictor_speed(&space, &data, &device, model.as_deref(), repeats.max(1)),
        BenchKind::Table {
            space,
            data,
            device,
            archs,
            seed,
            max_time,
            runtimes,
        } => table_agreement(&space, &data, &device, archs, seed, max_time, &runtimes),
        BenchKind::Search {
            space,
            data,
            device,
            budget_quantile,
            evaluations,
            model,
        } => search_speed(
            &space,
            &data,
            &device,
            budget_quantile,
            evaluations,
            model.as_deref(),
        ),
    }
}

/// Measures `archs` seeded rows of a latency table here (1 thread) with each runtime and
/// reports, per runtime, the median latency and the Spearman correlation of its medians with
/// the table's column for `device`, then the runtimes' rankings against each other. Each arch
/// is timed by every runtime back to back, the order alternating, so slow phases of a shared
/// machine fall on both.
#[allow(clippy::too_many_arguments)]
fn table_agreement(
    space: &str,
    data: &std::path::Path,
    device: &str,
    archs: usize,
    seed: u64,
    max_time: f64,
    runtimes: &[Runtime],
) -> Result<()> {
    use edgenas_nas::Space;
    use edgenas_predictor::metrics::{kendall_tau_b, spearman};
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    if runtimes.is_empty() {
        bail!("--runtimes needs at least one runtime");
    }
    let space = Space::from_name(space)?;
    let table = edgenas_predictor::LatencyTable::read(data)?;
    let cols: Vec<usize> = space
        .table_columns()
        .iter()
        .map(|c| table.key_column(c))
        .collect::<Result<_, _>>()?;
    let theirs = table.device(device)?;
    let mut rows: Vec<usize> = (0..table.rows()).collect();
    rows.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    rows.truncate(archs);
    let protocol = Protocol {
        max_time: std::time::Duration::from_secs_f64(max_time),
        min_time: std::time::Duration::from_secs_f64(max_time.min(1.0)),
        ..Protocol::default()
    };
    let names: Vec<String> = runtimes
        .iter()
        .map(|r| {
            r.identity()
                .map(|(n, v)| format!("{n} {v}"))
                .with_context(|| format!("--runtimes {r}"))
        })
        .collect::<Result<_>>()?;
    let mut ours: Vec<Vec<f32>> = vec![Vec::new(); runtimes.len()];
    let mut published = Vec::new();
    for (i, &r) in rows.iter().enumerate() {
        let keys: Vec<&str> = cols.iter().map(|&c| table.keys[r][c].as_str()).collect();
        let arch = space.arch_from_columns(&keys)?;
        let net = arch.build();
        let mut figures = vec![0.0; runtimes.len()];
        let mut order: Vec<usize> = (0..runtimes.len()).collect();
        if i % 2 == 1 {
            order.reverse();
        }
        for k in order {
            let opts = ModelOptions {
                runtime: runtimes[k],
                threads: 1,
                seed: 0,
            };
            let mut model = Model::from_network(&net, opts)
                .with_context(|| format!("preparing {arch} for {}", runtimes[k]))?;
            figures[k] = protocol
                .sample(|| model.run_discard(), &mut |_| {})?
                .stats
                .median_ms;
        }
        let shown: Vec<String> = runtimes
            .iter()
            .zip(&figures)
            .map(|(rt, f)| format!("{rt} {f:>9.3} ms"))
            .collect();
        eprintln!(
            "  {:>3}/{}  {}  {device} {:>9.3} ms  {arch}",
            i + 1,
            rows.len(),
            shown.join("  "),
            theirs[r]
        );
        for (k, f) in figures.into_iter().enumerate() {
            ours[k].push(f as f32);
        }
        published.push(theirs[r]);
    }
    println!(
        "{}: {} seeded rows of {}, 1 thread here",
        space.name(),
        rows.len(),
        data.display()
    );
    for (k, name) in names.iter().enumerate() {
        let med = median(ours[k].iter().map(|&v| v as f64).collect());
        println!(
            "  {name}: median {med:.3} ms; vs {device}_ms spearman {:.3}, kendall {:.3}",
            spearman(&ours[k], &published),
            kendall_tau_b(&ours[k], &published)
        );
    }
    for a in 0..runtimes.len() {
        for b in a + 1..runtimes.len() {
            println!(
                "  {} vs {}: spearman {:.3}, kendall {:.3}; latency ratio {}/{} median {:.3}",
                runtimes[a],
                runtimes[b],
                spearman(&ours[a], &ours[b]),
                kendall_tau_b(&ours[a], &ours[b]),
                runtimes[b],
                runtimes[a],
                median(
                    ours[b]
                        .iter()
                        .zip(&ours[a])
                        .map(|(y, x)| (y / x) as f64)
                        .collect()
                )
            );
        }
    }
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Adaptation (inner steps on 10 references + 10 samples) and prediction of the whole space
/// (NB201: all 15,625 archs; others: 15,625 random archs), single-threaded.
fn predictor_speed(
    space: &str,
    data: &std::path::Path,
    device: &str,
    model: Option<&std::path::Path>,
    repeats: usize,
) -> Result<()> {
    use edgenas_nas::{Nb201Arch, Space};
    use rand::SeedableRng;
    let space = Space::from_name(space)?;
    let adapted = TableLearner::from_table(space, data, device, 10, model, 0)?;
    let archs: Vec<Arch> = match space {
        Space::Nb201 => Nb201Arch::all().into_iter().map(Arch::Nb201).collect(),
        _ => {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
            (0..15_625).map(|_| space.sample(&mut rng)).collect()
        }
    };
    // The support set as the command adapts on it.
    let support: Vec<Arch> = space
        .references()
        .into_iter()
        .chain(archs.iter().take(10).cloned())
        .collect();
    let xs = encode_archs(&support);
    let ys: Vec<f32> = adapted
        .device
        .hw
        .iter()
        .copied()
        .chain(std::iter::repeat_n(0.5, 10))
        .collect();
    // The shipped configuration, and HELP's network alone (Meta-SGD inner steps, no prior).
    let shipped = adapted.learner.clone();
    let mut network = shipped.clone();
    network.blend = 1.0;
    network.additive = None;
    network.adaptation = edgenas_predictor::Adaptation::Sgd;
    let mut encode_ms = Vec::new();
    let mut x = edgenas_predictor::ndarray::Array2::<f32>::zeros((0, 0));
    for _ in 0..repeats {
        let t = Instant::now();
        x = encode_archs(&archs);
        encode_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "{} predictor, 1 thread, median of {repeats}: encoding {} archs {:.1} ms",
        space.name(),
        archs.len(),
        median(encode_ms)
    );
    for (name, learner) in [("shipped", &shipped), ("HELP network alone", &network)] {
        let (mut adapt_ms, mut predict_ms) = (Vec::new(), Vec::new());
        for _ in 0..repeats {
            let t = Instant::now();
            let a = learner.adapt(xs.view(), &ys, &adapted.device.hw);
            adapt_ms.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            let p = learner.predict(&a, x.view(), &adapted.device.hw);
            predict_ms.push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(p.len(), archs.len());
        }
        println!(
            "  {name:<19} ({:?}, network weight {}): adaptation on {} samples {:.2} ms; predicting {} archs {:.1} ms",
            learner.adaptation,
            learner.blend,
            support.len(),
            median(adapt_ms),
            archs.len(),
            median(predict_ms)
        );
    }
    Ok(())
}

/// Evolutionary search with NASWOT under a budget set at a quantile of predicted latencies.
fn search_speed(
    space: &str,
    data: &std::path::Path,
    device: &str,
    quantile: f64,
    evaluations: usize,
    model: Option<&std::path::Path>,
) -> Result<()> {
    use edgenas_nas::search::EvolutionOptions;
    use edgenas_nas::Space;
    use rand::SeedableRng;
    let space = Space::from_name(space)?;
    let adapted = TableLearner::from_table(space, data, device, 10, model, 0)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let sample: Vec<Arch> = (0..1000).map(|_| space.sample(&mut rng)).collect();
    let mut lats = adapted.predict_ms(&sample);
    lats.sort_by(f64::total_cmp);
    let budget = lats[((lats.len() as f64 * quantile) as usize).min(lats.len() - 1)];
    let objective = edgenas_ondevice::search::Objective::Naswot {
        samples: 8,
        seed: 0,
    };
    let opts = EvolutionOptions {
        evaluations,
        population: 10,
        tournament: 3,
        ..Default::default()
    };
    let start = Instant::now();
    let first = std::cell::Cell::new(None::<f64>);
    let out = edgenas_nas::search::aging_evolution(
        space,
        budget,
        &opts,
        &mut |archs| adapted.predict_ms(archs),
        &mut |a| {
            let score = objective.score(a).unwrap_or(f64::NEG_INFINITY);
            if first.get().is_none() {
                first.set(Some(start.elapsed().as_secs_f64()));
            }
            score
        },
    );
    let total = start.elapsed().as_secs_f64();
    let best = out.best.context("no arch within the budget was found")?;
    println!(
        "{} search on {device}, budget {budget:.3} ms (the {:.0}% quantile of predicted latency), NASWOT objective, 1 thread: first arch within budget found and scored after {:.3} s; {} evaluations in {:.2} s; best predicted {:.3} ms, NASWOT {:.2}: {}",
        space.name(),
        quantile * 100.0,
        first.get().unwrap_or(total),
        out.history.len(),
        total,
        best.latency_ms,
        best.objective,
        best.arch
    );
    Ok(())
}

/// The protocol's median against the median of a bare loop over the same runnable: the
/// protocol must not add overhead or bias of its own. On a shared machine the speed drifts
/// by tens of percent within seconds, so the two are paired: every run the protocol times is
/// followed by one run timed by a bare `Instant` pair, and both samples see the same drift.
/// Bare runs are topped up to `loop_runs` after the protocol stops if it took fewer. The
/// median ratio over rounds is the headline.
fn protocol_vs_loop(
    arch: &str,
    threads: usize,
    loop_runs: usize,
    rounds: usize,
    json_out: bool,
) -> Result<()> {
    let arch = Arch::parse(arch)?;
    let mut model = TractModel::from_network(&arch.build(), TractOptions { threads, seed: 0 })
        .with_context(|| format!("preparing {arch}"))?;
    let protocol = Protocol::default();
    let mut rows = Vec::new();
    let mut ratios = Vec::with_capacity(rounds);
    if !json_out {
        println!("bench protocol: {arch}, {threads} thread(s), {rounds} round(s)");
    }
    for round in 0..rounds {
        // The bare run is timed in the progress callback, which the protocol calls after each
        // run, outside its own timing.
        let cell = std::cell::RefCell::new(&mut model);
        let bare = std::cell::RefCell::new(Vec::with_capacity(loop_runs));
        let mut bare_err = None;
        let sample = protocol.sample(|| cell.borrow_mut().run_discard(), &mut |p| {
            if p.phase == edgenas_profiler::protocol::Phase::Sampling && bare_err.is_none() {
                if let Err(e) = time_runs(&mut cell.borrow_mut(), 1, &mut bare.borrow_mut()) {
                    bare_err = Some(e);
                }
            }
        })?;
        if let Some(e) = bare_err {
            return Err(e);
        }
        let mut bare = bare.into_inner();
        let missing = loop_runs.saturating_sub(bare.len());
        time_runs(&mut model, missing, &mut bare)?;
        let bare = Stats::of(&bare);
        let p = sample.stats;
        let ratio = p.median_ms / bare.median_ms;
        if !json_out {
            println!(
                "  round {round}: protocol median {} CV {:.2}% ({} runs) | bare loop median {} CV {:.2}% ({} runs) | ratio {ratio:.4}",
                ms(p.median_ms), p.cv * 100.0, p.runs, ms(bare.median_ms), bare.cv * 100.0, bare.runs
            );
        }
        ratios.push(ratio);
        rows.push(json!({
            "protocol_median_ms": p.median_ms, "protocol_cv": p.cv, "protocol_runs": p.runs,
            "loop_median_ms": bare.median_ms, "loop_cv": bare.cv, "loop_runs": bare.runs,
            "ratio": ratio,
        }));
    }
    ratios.sort_by(|a, b| a.total_cmp(b));
    let median_ratio = edgenas_profiler::stats::quantile(&ratios, 0.5);
    if json_out {
        let v = json!({ "arch": arch.to_string(), "threads": threads, "rounds": rows, "median_ratio": median_ratio });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "  median ratio protocol/loop: {median_ratio:.4} ({:+.2}%)",
            (median_ratio - 1.0) * 100.0
        );
    }
    Ok(())
}

/// Times `n` runs in a bare loop, appending milliseconds to `out`.
fn time_runs(model: &mut TractModel, n: usize, out: &mut Vec<f64>) -> Result<()> {
    for _ in 0..n {
        let t = Instant::now();
        model.run_discard()?;
        out.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(())
}

// --- HELP's network on a table column (the predictor bench compares against it) ---

use std::path::Path;

use edgenas_nas::Space;
use edgenas_predictor::ndarray::Array2;
use edgenas_predictor::{meta::support_rows, Adapted, Device, Learner, Pools};
use rand::SeedableRng;

use super::predictor::{help_train_pool, load_model, read_space_table};

/// A predictor adapted to one device: predicts milliseconds.
pub struct TableLearner {
    pub learner: Learner,
    pub adapted: Adapted,
    pub device: Device,
}

impl TableLearner {
    /// Adapts the space's predictor to `device` of a latency table: its reference latencies
    /// (the hardware embedding) and `samples` support archs of HELP's train pool. This stands
    /// in for measurements taken on the board until `embed` records them there.
    pub fn from_table(
        space: Space,
        data: &Path,
        device: &str,
        samples: usize,
        model: Option<&Path>,
        seed: u64,
    ) -> Result<TableLearner> {
        let file = load_model(space, model)?;
        let learner = file.learner()?;
        let t = read_space_table(space, data)?;
        let pools = Pools::help(help_train_pool(space), t.table.rows())?;
        let device = Device::new(device, t.table.device(device)?, &t.reference_rows, &pools)?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let rows = support_rows(&device, samples, &mut rng);
        let xs = t
            .features
            .select(edgenas_predictor::ndarray::Axis(0), &rows);
        let ys: Vec<f32> = rows.iter().map(|&r| device.y[r]).collect();
        let adapted = learner.adapt(xs.view(), &ys, &device.hw);
        Ok(TableLearner {
            learner,
            adapted,
            device,
        })
    }

    pub fn predict_ms(&self, archs: &[Arch]) -> Vec<f64> {
        if archs.is_empty() {
            return Vec::new();
        }
        let x = encode_archs(archs);
        self.learner
            .predict(&self.adapted, x.view(), &self.device.hw)
            .into_iter()
            .map(|y| self.device.norm.to_ms(y) as f64)
            .collect()
    }
}

/// The predictor's feature matrix of `archs` (one encoded arch per row; all of one space).
pub fn encode_archs(archs: &[Arch]) -> Array2<f32> {
    let dim = archs.first().map_or(0, |a| a.encode().len());
    let mut x = Array2::<f32>::zeros((archs.len(), dim));
    for (i, a) in archs.iter().enumerate() {
        x.row_mut(i)
            .assign(&edgenas_predictor::ndarray::ArrayView1::from(&a.encode()));
    }
    x
}
