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

pub mod accuracy;
pub mod adapted;
pub mod features;
pub mod measure;
pub mod oracle;
pub mod plot;
pub mod search;
pub mod state;
pub mod steps;
mod table;

pub use adapted::{AdaptedPredictor, Prediction};
pub use measure::{Measured, Measurer, Setup};
pub use oracle::OracleTable;

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
