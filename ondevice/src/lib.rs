//! edgenas-ondevice: the on-device loop, from "I have a board" to "I have a network that fits
//! my latency budget on this board, measured".
//!
//! ```text
//! embed   : the space's 10 references, interleaved rounds → journal → HardwareEmbedding
//! adapt   : shipped prior + embedding + informative support archs (measured) → AdaptedPredictor
//! predict : AdaptedPredictor → ms with a calibrated interval, for any arch of the space
//! validate: fresh archs measured → Spearman, Kendall, MAPE, ±10 %, interval coverage
//! search  : predictor + accuracy (NATS-Bench compiled in, or NASWOT) → Pareto front → verify
//! ```
//! - [`measure`]: the one measuring call (pre-flight, cool-down, interleaved rounds,
//!   post-flight, flags, journal), or an oracle table in its place;
//! - [`features`]: archs → the predictor's design rows (executed-network costs + encoding);
//! - [`adapted`]: the adapted predictor and its file; [`accuracy`]: the compiled-in table;
//! - [`search`]: exact NB201 Pareto search, evolutionary search, verification;
//!   [`plot`]: the Pareto front as SVG; [`state`]: where files live.
//! - [`session`]: the loop as one API ([`Session`]: `embed`, `adapt`, `validate`, `search`,
//!   `export`, and `run` as those in order); [`report`]: the [`Reporter`] it talks through;
//! - [`machine`]: threads and CPUs checked against this machine; [`shipped`]: the predictors
//!   compiled into the binary; [`help`]: HELP's protocol over the public tables;
//!   [`export`]: a pick written for deployment; [`anchor`]: an arch timed in every batch, the
//!   machine's speed at the time.
//!
//! Must not: print, parse command lines, or exit: it returns plain data and typed errors, and
//! reports progress through a [`Reporter`] that the binary implements.

pub mod accuracy;
pub mod adapted;
pub mod anchor;
pub mod bench;
pub mod export;
pub mod features;
pub mod help;
pub mod machine;
pub mod measure;
pub mod oracle;
pub mod plot;
pub mod report;
pub mod results;
pub mod run;
pub mod search;
pub mod session;
pub mod shipped;
pub mod state;
pub mod status;
pub mod steps;
mod table;
pub mod tally;
pub mod verify;

pub use adapted::{AdaptedPredictor, Prediction};
pub use measure::{Measured, Measurer, Setup, Subject};
pub use oracle::OracleTable;
pub use report::{Reporter, Silent, Step};
pub use results::{PickSummary, RunSummary, SearchSummary};
pub use run::{RunFinish, RunOutcome, RunPlan};
pub use session::Session;
pub use tally::{Purpose, Tally};
pub use verify::{Pick, SearchPlan, SearchReport};

/// A latency for people: µs under 1 ms, 3 decimals under 100 ms, 1 above.
pub fn ms(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.1} ms")
    } else if x >= 1.0 {
        format!("{x:.3} ms")
    } else {
        format!("{:.1} µs", x * 1000.0)
    }
}

/// Errors of the loop. Each says what to do where there is something to do.
#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    #[error(transparent)]
    Profiler(#[from] edgenas_profiler::ProfilerError),
    #[error(transparent)]
    Predictor(#[from] edgenas_predictor::PredictorError),
    #[error(transparent)]
    Nas(#[from] edgenas_nas::NasError),
    #[error(transparent)]
    Format(#[from] edgenas_format::FormatError),
    #[error("{subject}: {source}")]
    Runtime {
        subject: String,
        #[source]
        source: edgenas_runtime::RuntimeError,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("refusing to measure: {0} (fix it, or pass --allow-unstable to record the condition with the sample)")]
    Unstable(String),
    #[error("{0}")]
    Oracle(String),
    #[error("{0}")]
    Invalid(String),
}

impl LoopError {
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> LoopError + '_ {
        move |source| LoopError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
