//! The loop's sampling per arch, by search space: the cheapest step of `bench
//! reproducibility`'s time ladder that kept the space's test-retest at 0.99 or above here
//! (README, "The measurement protocol"). Flags (`--min-time`, `--max-time`, `--burst-ms`,
//! `--warmup-runs`) still set each bound.
//!
//! NB201 held 0.996-0.999 at 0.02-0.2 s per arch in every run but one that failed every
//! step alike, a quarter of the seconds of the rounds before issue 21 or less. FBNet fell to
//! 0.972-0.989 there (0.987 at the batch's level): its networks' latencies span a narrow range
//! (p90 over p10 about 1.6 against NB201's 9), so ranking them takes finer figures, and on
//! tract one of its networks outlasts a 5 ms burst. FBNet and OFA keep the interleaved
//! protocol's 0.05-0.5 s and 15 ms bursts.

use std::time::Duration;

use edgenas_nas::Space;
use edgenas_profiler::{Protocol, Rounds};

/// The interleaved protocol and rounds the loop times `space`'s archs with.
pub fn loop_timing(space: Space) -> (Protocol, Rounds) {
    let (protocol, rounds) = (Protocol::interleaved(), Rounds::default());
    match space {
        Space::Nb201 => (
            Protocol {
                min_time: Duration::from_millis(20),
                max_time: Duration::from_millis(200),
                warmup_runs: 2,
                ..protocol
            },
            Rounds {
                burst_ms: 5.0,
                ..rounds
            },
        ),
        Space::Fbnet | Space::Ofa => (protocol, rounds),
    }
}
