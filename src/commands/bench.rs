//! `edgenas bench`: benchmarks that print figures (the machine is shared and noisy, so
//! figures are compared as ratios measured in the same run).

use std::time::Instant;

use anyhow::{Context, Result};
use edgenas_nas::Arch;
use edgenas_profiler::{stats::Stats, Protocol};
use edgenas_runtime::{TractModel, TractOptions};
use serde_json::json;

use crate::cli::{BenchArgs, BenchKind};
use crate::output::ms;

pub fn run(args: BenchArgs) -> Result<()> {
    match args.bench {
        BenchKind::Protocol {
            arch,
            threads,
            loop_runs,
            rounds,
            json,
        } => protocol_vs_loop(&arch, threads, loop_runs, rounds.max(1), json),
    }
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
