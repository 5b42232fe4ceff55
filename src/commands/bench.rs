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
            json,
        } => protocol_vs_loop(&arch, threads, loop_runs, json),
    }
}

/// The protocol's median against the median of a bare loop over the same runnable: the
/// protocol must not add overhead or bias of its own.
fn protocol_vs_loop(arch: &str, threads: usize, loop_runs: usize, json_out: bool) -> Result<()> {
    let arch = Arch::parse(arch)?;
    let mut model = TractModel::from_network(&arch.build(), TractOptions { threads, seed: 0 })
        .with_context(|| format!("preparing {arch}"))?;
    let protocol = Protocol::default();
    let sample = protocol.sample(|| model.run_discard(), &mut |_| {})?;
    let mut bare = Vec::with_capacity(loop_runs);
    for _ in 0..loop_runs.max(1) {
        let t = Instant::now();
        model.run_discard()?;
        bare.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let bare = Stats::of(&bare);
    let p = &sample.stats;
    let ratio = p.median_ms / bare.median_ms;
    if json_out {
        let v = json!({
            "arch": arch.to_string(), "threads": threads,
            "protocol_median_ms": p.median_ms, "protocol_cv": p.cv, "protocol_runs": p.runs,
            "loop_median_ms": bare.median_ms, "loop_cv": bare.cv, "loop_runs": bare.runs,
            "ratio": ratio,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("bench protocol: {arch}, {threads} thread(s)");
        println!("  protocol:   median {}  CV {:.2}%  ({} runs)", ms(p.median_ms), p.cv * 100.0, p.runs);
        println!("  bare loop:  median {}  CV {:.2}%  ({} runs)", ms(bare.median_ms), bare.cv * 100.0, bare.runs);
        println!("  ratio protocol/loop: {ratio:.4} ({:+.2}%)", (ratio - 1.0) * 100.0);
    }
    Ok(())
}
