//! `edgenas bench`: benchmarks that print figures (the machine is shared and noisy, so
//! figures are compared as ratios measured in the same run). The measuring is
//! `edgenas_ondevice::bench`'s; this prints it.

use std::path::PathBuf;

use anyhow::{Context, Result};
use edgenas_nas::{Arch, Space};
use edgenas_ondevice::adapted::AdaptedPredictor;
use edgenas_ondevice::bench::reproducibility::{Retest, TimeBounds};
use edgenas_ondevice::bench::{self, computations};
use edgenas_ondevice::features::prior_for;
use edgenas_ondevice::measure::MeasureProgress;
use edgenas_ondevice::{shipped, Reporter};
use edgenas_predictor::metrics::{kendall_tau_b, spearman};
use edgenas_runtime::Runtime;

use crate::cli::{BenchArgs, BenchKind};
use crate::output::{ms, peak_rss_mb, status_mb};

pub fn run(args: BenchArgs) -> Result<()> {
    match args.bench {
        BenchKind::Reproducibility {
            space,
            archs,
            threads,
            seed,
            rounds_only,
            time_ladder,
            json,
        } => reproducibility(space, archs, threads, seed, rounds_only, &time_ladder, json),
        BenchKind::Loop {
            data,
            device,
            repeats,
        } => loop_speed(data, device, repeats),
        BenchKind::Journal { records, samples } => journal(records, samples),
        BenchKind::Coverage {
            predictor,
            archs,
            replicates,
            extra,
            seed,
            json,
        } => coverage(&predictor, archs, replicates, extra, seed, json),
        BenchKind::Protocol {
            arch,
            threads,
            loop_runs,
            rounds,
            json,
        } => protocol(arch, threads, loop_runs, rounds, json),
        BenchKind::Predictor {
            space,
            data,
            device,
            model,
            repeats,
        } => predictor(space, data, device, model, repeats),
        BenchKind::Table {
            space,
            data,
            device,
            archs,
            seed,
            max_time,
            runtimes,
        } => table(space, data, device, archs, seed, max_time, runtimes),
        BenchKind::Runtimes {
            space,
            archs,
            seed,
            max_time,
            runtimes,
            precisions,
            exec,
            exec_format,
            json,
        } => {
            let mut runtimes = if runtimes.is_empty() {
                bench::runtimes::available()
            } else {
                runtimes
            };
            if let Some(template) = exec {
                runtimes.push(crate::session::exec_runtime(
                    &template,
                    exec_format.as_deref(),
                )?);
            }
            let (targets, skipped) = bench::runtimes::targets(&runtimes, &precisions);
            for s in &skipped {
                eprintln!("note: {s} left out: that runtime does not run that precision here");
            }
            compare_runtimes(space, archs, seed, max_time, targets, json)
        }
        BenchKind::Search {
            space,
            data,
            device,
            budget_quantile,
            evaluations,
            model,
        } => search(space, data, device, budget_quantile, evaluations, model),
    }
}

fn reproducibility(
    space: String,
    archs: usize,
    threads: usize,
    seed: u64,
    rounds_only: bool,
    time_ladder: &[String],
    json: bool,
) -> Result<()> {
    let space = Space::from_name(&space)?;
    let ladder = time_ladder
        .iter()
        .map(|t| TimeBounds::parse(t))
        .collect::<Result<Vec<_>, _>>()?;
    let r = bench::reproducibility::run(
        space,
        archs,
        threads,
        seed,
        rounds_only,
        &ladder,
        &mut Passes,
    )?;
    if json {
        crate::output::print_json(&r)?;
        return Ok(());
    }
    println!(
        "Reproducibility: {archs} {} archs measured twice, {threads} thread(s)",
        space.name()
    );
    for i in &r.interleaved {
        retest_line(
            &format!(
                "interleaved, {}-{} s, {} ms bursts, {} warm-up",
                i.time.min_s, i.time.max_s, i.time.burst_ms, i.time.warmup_runs
            ),
            i,
        );
    }
    if let Some(c) = &r.one_at_a_time {
        retest_line("one arch at a time (before)", c);
    }
    Ok(())
}

fn loop_speed(data: PathBuf, device: String, repeats: usize) -> Result<()> {
    let s = computations::loop_speed(&data, &device, repeats.max(1))?;
    println!(
        "On-device loop computations (NB201, median of {}, oracle figures of {device}):",
        repeats.max(1)
    );
    println!("  adapt (10 references + 10 support, empirical Bayes over {} prior settings, leave-one-out quality): {:.1} ms", s.settings, s.adapt_ms);
    println!(
        "  cost features of all 15,625 archs (build + executed network): {:.1} ms",
        s.features_ms
    );
    println!(
        "  predict all 15,625 archs with uncertainty (features given): {:.1} ms",
        s.predict_ms
    );
    println!("  exact search (cached features, prediction, accuracy, Pareto front, best under budget): {:.1} ms", s.search_ms);
    println!(
        "  (the feature cache is built once per binary version: {:.1} ms here)",
        s.cold_cache_ms
    );
    if let Some(mb) = peak_rss_mb() {
        println!("  peak RSS of this process: {mb:.1} MB");
    }
    Ok(())
}

fn coverage(
    path: &std::path::Path,
    archs: usize,
    replicates: usize,
    extra: usize,
    seed: u64,
    json: bool,
) -> Result<()> {
    let predictor = AdaptedPredictor::load(path).context("reading the adapted predictor")?;
    let space = Space::from_name(&predictor.space)?;
    let prior = prior_for(space, &shipped::load(space, None)?)?;
    let r = bench::coverage::coverage_floor(&predictor, &prior, archs, replicates, extra, seed)?;
    if json {
        return crate::output::print_json(&r);
    }
    let (lo, hi) = bench::coverage::BAND;
    println!(
        "Coverage of the 90 % interval, {} replicates of the predictor's own model ({}, {} {}, noise {:.1} % of a figure), {} validation archs each:",
        r.replicates,
        r.space,
        predictor.fingerprint.runtime,
        predictor.fingerprint.runtime_version,
        r.noise_rel_sd * 100.0,
        r.archs
    );
    let line = |what: &str, s: &bench::coverage::CoverageSpread| {
        println!(
            "  {what}: mean {:.1} %, 5-50-95 % {:.0}-{:.0}-{:.0} %, inside {:.0}-{:.0} % in {:.0} % of runs",
            s.mean * 100.0,
            s.q05 * 100.0,
            s.q50 * 100.0,
            s.q95 * 100.0,
            lo * 100.0,
            hi * 100.0,
            s.in_band * 100.0
        );
    };
    line(
        &format!("width refitted from {} figures (as adapt)", r.figures),
        &r.refitted,
    );
    line("width known (the spread drawn with)", &r.known);
    println!("  ({:.1} s)", r.seconds);
    Ok(())
}

fn journal(records: usize, samples: usize) -> Result<()> {
    let rss = || status_mb("VmRSS:").unwrap_or(f64::NAN);
    let j = bench::journal::open_large(records, samples.max(1), &rss)?;
    println!(
        "journal of {records} records x {} runs: {:.1} MB on disk (written in {:.1} s)",
        j.samples, j.size_mb, j.written_s
    );
    println!(
        "open read-only: {:.3} s, resident memory +{:.1} MB (index: {:.1} MB)",
        j.read_s,
        j.read_rss_mb,
        records as f64 * 16.0 / 1e6
    );
    println!("open for appending: {:.3} s", j.open_s);
    println!(
        "decode every record once: {:.3} s ({} runs), resident memory +{:.1} MB",
        j.decode_s, j.runs, j.decode_rss_mb
    );
    println!("for comparison, every record decoded and held (what opening did before): {:.3} s, resident memory +{:.1} MB", j.all_s, j.all_rss_mb);
    Ok(())
}

fn protocol(
    arch: String,
    threads: usize,
    loop_runs: usize,
    rounds: usize,
    json: bool,
) -> Result<()> {
    let arch = Arch::parse(&arch)?;
    let rounds = rounds.max(1);
    if !json {
        println!("bench protocol: {arch}, {threads} thread(s), {rounds} round(s)");
    }
    let r = bench::protocol::protocol_vs_loop(&arch, threads, loop_runs, rounds, &mut |i, r| {
        if !json {
            println!(
                "  round {i}: protocol median {} CV {:.2}% ({} runs) | bare loop median {} CV {:.2}% ({} runs) | ratio {:.4}",
                ms(r.protocol_median_ms), r.protocol_cv * 100.0, r.protocol_runs, ms(r.loop_median_ms), r.loop_cv * 100.0, r.loop_runs, r.ratio
            );
        }
    })?;
    if json {
        crate::output::print_json(&r)?;
    } else {
        println!(
            "  median ratio protocol/loop: {:.4} ({:+.2}%)",
            r.median_ratio,
            (r.median_ratio - 1.0) * 100.0
        );
    }
    Ok(())
}

fn predictor(
    space: String,
    data: PathBuf,
    device: String,
    model: Option<PathBuf>,
    repeats: usize,
) -> Result<()> {
    let space = Space::from_name(&space)?;
    let file = shipped::load(space, model.as_deref())?;
    let s = computations::predictor_speed(space, &data, &device, &file, repeats.max(1))?;
    println!(
        "{} predictor, 1 thread, median of {}: encoding {} archs {:.1} ms",
        space.name(),
        repeats.max(1),
        s.archs,
        s.encode_ms
    );
    for l in &s.learners {
        println!(
            "  {:<19} ({:?}, network weight {}): adaptation on {} samples {:.2} ms; predicting {} archs {:.1} ms",
            l.name, l.adaptation, l.blend, s.support, l.adapt_ms, s.archs, l.predict_ms
        );
    }
    Ok(())
}

fn table(
    space: String,
    data: PathBuf,
    device: String,
    archs: usize,
    seed: u64,
    max_time: f64,
    runtimes: Vec<Runtime>,
) -> Result<()> {
    let space = Space::from_name(&space)?;
    let t = bench::runtimes::table_agreement(
        space,
        &data,
        &device,
        archs,
        seed,
        max_time,
        &runtimes,
        &mut |i, n, row| {
            let shown: Vec<String> = runtimes
                .iter()
                .zip(&row.ours_ms)
                .map(|(rt, f)| format!("{rt} {f:>9.3} ms"))
                .collect();
            eprintln!(
                "  {:>3}/{n}  {}  {device} {:>9.3} ms  {}",
                i + 1,
                shown.join("  "),
                row.published_ms,
                row.arch
            );
        },
    )?;
    println!(
        "{}: {} seeded rows of {}, 1 thread here",
        space.name(),
        t.published.len(),
        data.display()
    );
    for (k, name) in t.names.iter().enumerate() {
        let med = bench::median(t.ours[k].iter().map(|&v| v as f64).collect());
        let (s, k) = (
            spearman(&t.ours[k], &t.published),
            kendall_tau_b(&t.ours[k], &t.published),
        );
        println!("  {name}: median {med:.3} ms; vs {device}_ms spearman {s:.3}, kendall {k:.3}");
    }
    for a in 0..runtimes.len() {
        for b in a + 1..runtimes.len() {
            let ratio = bench::median(
                t.ours[b]
                    .iter()
                    .zip(&t.ours[a])
                    .map(|(y, x)| (y / x) as f64)
                    .collect(),
            );
            let (ra, rb) = (runtimes[a], runtimes[b]);
            println!(
                "  {ra} vs {rb}: spearman {:.3}, kendall {:.3}; latency ratio {rb}/{ra} median {ratio:.3}",
                spearman(&t.ours[a], &t.ours[b]),
                kendall_tau_b(&t.ours[a], &t.ours[b])
            );
        }
    }
    Ok(())
}

fn compare_runtimes(
    space: String,
    archs: usize,
    seed: u64,
    max_time: f64,
    runtimes: Vec<bench::runtimes::Target>,
    json: bool,
) -> Result<()> {
    let space = Space::from_name(&space)?;
    let c = bench::runtimes::compare(
        space,
        archs,
        seed,
        max_time,
        &runtimes,
        &mut |i, n, arch, f| {
            let shown: Vec<String> = runtimes
                .iter()
                .zip(f)
                .map(|(&rt, f)| format!("{} {f:>8.3} ms", bench::runtimes::target_label(rt)))
                .collect();
            eprintln!("  {:>3}/{n}  {}  {arch}", i + 1, shown.join("  "));
        },
    )?;
    if json {
        return crate::output::print_json(&c);
    }
    println!(
        "{}: {} seeded archs, 1 thread, each timed by every runtime back to back",
        c.space,
        c.archs.len()
    );
    let width = c
        .runtimes
        .iter()
        .map(|r| r.runtime.len())
        .max()
        .unwrap_or(0);
    for r in &c.runtimes {
        println!(
            "  {:<width$}  median {:>8.3} ms  {:>5.2}x the fastest  ({})",
            r.runtime, r.median_ms, r.ratio_to_fastest, r.identity
        );
    }
    for p in &c.pairs {
        println!(
            "  {} vs {}: spearman {:.3}, kendall {:.3}; latency {}/{} median {:.2}",
            p.a, p.b, p.spearman, p.kendall, p.b, p.a, p.median_ratio_b_over_a
        );
    }
    Ok(())
}

fn search(
    space: String,
    data: PathBuf,
    device: String,
    budget_quantile: f64,
    evaluations: usize,
    model: Option<PathBuf>,
) -> Result<()> {
    let space = Space::from_name(&space)?;
    let file = shipped::load(space, model.as_deref())?;
    let s = computations::search_speed(space, &data, &device, budget_quantile, evaluations, &file)?;
    println!(
        "{} search on {device}, budget {:.3} ms (the {:.0}% quantile of predicted latency), NASWOT objective, 1 thread: first arch within budget found and scored after {:.3} s; {} evaluations in {:.2} s; best predicted {:.3} ms, NASWOT {:.2}: {}",
        space.name(), s.budget_ms, budget_quantile * 100.0, s.first_s, s.evaluations, s.total_s, s.best_ms, s.best_objective, s.best
    );
    Ok(())
}

fn retest_line(name: &str, r: &Retest) {
    let t = &r.test_retest;
    let levelled = r.levelled.as_ref().map_or(String::new(), |l| {
        format!(
            " (at the batch's level: {:.3}, {:.1}%)",
            l.spearman,
            l.median_rel_diff * 100.0
        )
    });
    println!(
        "  {name:<50} test-retest Spearman {:.3}, median relative difference {:.1}%{levelled}, ratio p10-p90 {:.3}-{:.3}, {:.2} s per arch ({:.0} s per pass)",
        t.spearman, t.median_rel_diff * 100.0, t.ratio_p10, t.ratio_p90, r.seconds_per_arch, r.seconds_per_pass
    );
}

/// Counts finished subjects of a reproducibility pass on stderr.
struct Passes;

impl Reporter for Passes {
    fn note(&mut self, text: &str) {
        eprintln!("{text}");
    }

    fn measuring(&mut self, p: &MeasureProgress) {
        if p.batch.is_none() && p.run.is_none() {
            eprintln!("  interleaved rounds: {}/{}", p.done, p.total);
        }
    }
}
