//! The protocol's median against a bare loop over the same runnable: the protocol must add no
//! overhead or bias of its own. On a shared machine the speed drifts by tens of percent within
//! seconds, so the two are paired: every run the protocol times is followed by one run timed
//! by a bare `Instant` pair, and both samples see the same drift. Bare runs are topped up to
//! `loop_runs` after the protocol stops if it took fewer. The median ratio over rounds is the
//! headline.

use std::cell::RefCell;
use std::time::Instant;

use edgenas_nas::Arch;
use edgenas_profiler::protocol::Phase;
use edgenas_profiler::{stats::Stats, Protocol};
use edgenas_runtime::{RuntimeError, TractModel, TractOptions};
use serde::Serialize;

use crate::LoopError;

/// One round: the protocol's sample and the paired bare loop.
#[derive(Debug, Clone, Serialize)]
pub struct Round {
    pub protocol_median_ms: f64,
    pub protocol_cv: f64,
    pub protocol_runs: usize,
    pub loop_median_ms: f64,
    pub loop_cv: f64,
    pub loop_runs: usize,
    pub ratio: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProtocolVsLoop {
    pub arch: String,
    pub threads: usize,
    pub rounds: Vec<Round>,
    pub median_ratio: f64,
}

/// `rounds` rounds of the pairing above on `arch` with tract at `threads`; `on_round` sees each.
pub fn protocol_vs_loop(
    arch: &Arch,
    threads: usize,
    loop_runs: usize,
    rounds: usize,
    on_round: &mut dyn FnMut(usize, &Round),
) -> Result<ProtocolVsLoop, LoopError> {
    let failed = |source| LoopError::Runtime {
        subject: arch.to_string(),
        source,
    };
    let mut model = TractModel::from_network(&arch.build(), TractOptions { threads, seed: 0 })
        .map_err(|source| LoopError::Runtime {
            subject: format!("preparing {arch}"),
            source,
        })?;
    let protocol = Protocol::default();
    let mut out = Vec::with_capacity(rounds);
    for round in 0..rounds {
        // The bare run is timed in the progress callback, which the protocol calls after each
        // run, outside its own timing.
        let cell = RefCell::new(&mut model);
        let bare = RefCell::new(Vec::with_capacity(loop_runs));
        let mut bare_err = None;
        let sample = protocol
            .sample(|| cell.borrow_mut().run_discard(), &mut |p| {
                if p.phase == Phase::Sampling && bare_err.is_none() {
                    if let Err(e) = time_runs(&mut cell.borrow_mut(), 1, &mut bare.borrow_mut()) {
                        bare_err = Some(e);
                    }
                }
            })
            .map_err(failed)?;
        if let Some(e) = bare_err {
            return Err(failed(e));
        }
        let mut bare = bare.into_inner();
        let missing = loop_runs.saturating_sub(bare.len());
        time_runs(&mut model, missing, &mut bare).map_err(failed)?;
        let bare = Stats::of(&bare);
        let p = sample.stats;
        let r = Round {
            protocol_median_ms: p.median_ms,
            protocol_cv: p.cv,
            protocol_runs: p.runs,
            loop_median_ms: bare.median_ms,
            loop_cv: bare.cv,
            loop_runs: bare.runs,
            ratio: p.median_ms / bare.median_ms,
        };
        on_round(round, &r);
        out.push(r);
    }
    let mut ratios: Vec<f64> = out.iter().map(|r| r.ratio).collect();
    ratios.sort_by(|a, b| a.total_cmp(b));
    Ok(ProtocolVsLoop {
        arch: arch.to_string(),
        threads,
        median_ratio: edgenas_profiler::stats::quantile(&ratios, 0.5),
        rounds: out,
    })
}

/// Times `n` runs in a bare loop, appending milliseconds to `out`.
fn time_runs(model: &mut TractModel, n: usize, out: &mut Vec<f64>) -> Result<(), RuntimeError> {
    for _ in 0..n {
        let t = Instant::now();
        model.run_discard()?;
        out.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(())
}
