//! The loop's sampling per arch, by search space: the cheapest step of `bench
//! reproducibility`'s time ladder that kept the space's test-retest at 0.99 or above here
//! (README, "The measurement protocol"). Flags (`--min-time`, `--max-time`, `--burst-ms`,
//! `--warmup-runs`) still set each bound.
//!
//! NB201 held 0.996-0.999 at 0.02-0.2 s per arch in every run but one that failed every
//! step alike, a quarter of the seconds of the rounds before issue 21 or less. FBNet fell to
//! 0.972-0.989 there (0.987 at the batch's level): its networks' latencies span a narrow range
//! (p90 over p10 about 1.6 against NB201's 9), so ranking them takes finer figures, and on
//! tract one of its networks outlasts a 5 ms burst. FBNet and OFA keep 0.05-0.5 s.

use std::time::Duration;

use edgenas_nas::Space;
use edgenas_profiler::{Protocol, Rounds};

/// Sampling bounds of each arch in interleaved rounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoopTiming {
    pub min_time: Duration,
    pub max_time: Duration,
    /// Each arch's share of a round, in milliseconds.
    pub burst_ms: f64,
    /// Warm-up runs of each arch, at least.
    pub warmup_runs: usize,
}

impl LoopTiming {
    /// The loop's timing for `space`.
    pub fn of(space: Space) -> LoopTiming {
        match space {
            Space::Nb201 => LoopTiming {
                min_time: Duration::from_millis(20),
                max_time: Duration::from_millis(200),
                burst_ms: 5.0,
                warmup_runs: 2,
            },
            Space::Fbnet | Space::Ofa => {
                let p = Protocol::interleaved();
                LoopTiming {
                    min_time: p.min_time,
                    max_time: p.max_time,
                    burst_ms: Rounds::default().burst_ms,
                    warmup_runs: p.warmup_runs,
                }
            }
        }
    }

    /// The interleaved protocol with these bounds, the rest as `base`.
    pub fn protocol(&self, base: Protocol) -> Protocol {
        Protocol {
            min_time: self.min_time,
            max_time: self.max_time,
            warmup_runs: self.warmup_runs,
            ..base
        }
    }
}
