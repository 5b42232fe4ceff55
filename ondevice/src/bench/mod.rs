//! Benchmarks of the loop and its parts, as library calls that return their figures (the
//! binary prints them). The machine they run on is shared and noisy, so each compares figures
//! measured in the same run, as ratios or rank agreements.
//!
//! - [`reproducibility`]: test-retest of interleaved rounds against one-at-a-time sampling;
//! - [`computations`]: adapting, predicting and searching (no measurement);
//! - [`runtimes`]: the same archs on several runtimes against a latency table's column;
//! - [`protocol`]: the protocol's median against a bare loop over the same runnable;
//! - [`journal`]: what opening a large journal costs in time and memory;
//! - [`coverage`]: how often an interval whose width is estimated from a budget's figures can
//!   land in a coverage band (a bootstrap of an adapted predictor).

pub mod computations;
pub mod coverage;
pub mod journal;
pub mod protocol;
pub mod reproducibility;
pub mod runtimes;

/// The median of `v` (the upper one of an even count); NaN when empty.
pub fn median(v: Vec<f64>) -> f64 {
    quantile(v, 0.5)
}

/// The `q` quantile of `v` (nearest rank); NaN when empty.
pub fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    if q == 0.5 {
        return v[v.len() / 2];
    }
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// Times `f` `repeats` times; the median in milliseconds.
pub fn timed_ms(repeats: usize, f: &mut dyn FnMut()) -> f64 {
    let v = (0..repeats)
        .map(|_| {
            let t = std::time::Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    median(v)
}
