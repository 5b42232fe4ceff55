//! How the library tells the user what it is doing: a [`Reporter`] with defaulted methods,
//! implemented once by the binary for the terminal. The library never prints.

use std::path::Path;

use edgenas_profiler::protocol::{self, RoundsProgress};

/// A step of `run` that begins or ends.
#[derive(Clone, Copy)]
pub enum Step<'a> {
    /// `run` begins: the space, on the device as the measurer sees it now.
    Start {
        space: edgenas_nas::Space,
        fingerprint: &'a edgenas_profiler::Fingerprint,
    },
    /// Measuring (or reusing) the space's references.
    Embedding,
    /// The embedding is there: `reused` from the state directory, or measured.
    Embedded { reused: bool, seconds: f64 },
    /// Measuring `samples` support archs and adapting the predictor.
    Adapting { samples: usize },
    /// The predictor is adapted; its leave-one-out quality on its own measurements.
    Adapted {
        loo_spearman: f64,
        loo_mape: f64,
        seconds: f64,
    },
    /// Searching under the budget and verifying `verify` picks by measurement.
    Searching { budget_ms: f64, verify: usize },
    /// Writing the winner.
    Exporting(&'a Path),
}

/// Progress of a measurement.
#[derive(Debug, Clone, Default)]
pub struct MeasureProgress {
    /// What the subjects are measured for (None: one subject profiled alone).
    pub purpose: Option<crate::tally::Purpose>,
    /// Subjects finished (measured or reused) and in all.
    pub done: usize,
    pub total: usize,
    /// The batch being timed in rounds: its first subject and the round reached.
    pub batch: Option<(String, RoundsProgress)>,
    /// The subject being timed alone: the protocol's warm-up or sampling.
    pub run: Option<protocol::Progress>,
}

impl MeasureProgress {
    pub(crate) fn counted(
        purpose: crate::tally::Purpose,
        done: usize,
        total: usize,
    ) -> MeasureProgress {
        MeasureProgress {
            purpose: Some(purpose),
            done,
            total,
            batch: None,
            run: None,
        }
    }
}

/// Where progress and notes go. Every method defaults to doing nothing.
pub trait Reporter {
    /// A step of a longer command begins or ends.
    fn step(&mut self, _step: Step<'_>) {}
    /// A note for the user: a cool-down, a pick dropped for breaking the budget.
    fn note(&mut self, _text: &str) {}
    /// Measurement progress.
    fn measuring(&mut self, _progress: &MeasureProgress) {}
    /// The search scored candidate `k` of `total` (evolutionary search).
    fn evaluated(&mut self, _k: usize, _total: usize) {}
}

/// Reports nothing (benchmarks, tests).
pub struct Silent;

impl Reporter for Silent {}
