//! edgenas-predictor: HELP's meta-learned latency predictor in plain Rust.
//!
//! It takes feature tensors (the `nas` crate encodes archs into them) and latency tables, and
//! knows nothing of archs or devices beyond that:
//! - [`model`]: the network (GCN or MLP arch encoder, hardware branch, head) with hand-written
//!   gradients over `ndarray`, each checked against finite differences in the tests;
//! - [`meta`]: Meta-SGD meta-training, few-shot adaptation, HELP's evaluation protocol;
//! - [`device`]: per-device normalisation and pools; [`table`]: latency CSVs;
//! - [`metrics`]: Spearman, Kendall, share within ±10%; [`file`]: the versioned model file;
//!   [`compact`]: its compact form, for the models shipped in the binary;
//! - [`additive`], [`costaware`]: the Bayesian models; [`linalg`]: the Cholesky solves and dot
//!   products they share (so that no model imports another).
//!
//! Must not: parse arch strings, measure, or print. What needs archs (a table's rows decoded,
//! HELP's network configured per space) lives in `edgenas-ondevice`'s `help` module.

pub mod additive;
pub mod compact;
pub mod costaware;
pub mod device;
pub mod file;
pub mod linalg;
pub mod meta;
pub mod metrics;
pub mod model;
pub mod params;
pub mod table;

pub use additive::AdditivePrior;
pub use costaware::{CostAwarePrior, CostScale, DeviceModel, Hyper, Selection};
pub use device::{Device, Normalizer, Pools};
pub use file::{PredictorFile, TrainingInfo, PREDICTOR_FORMAT};
pub use meta::{
    evaluate, meta_train, select_on_validation, Adaptation, Adapted, Learner, MetaTrainOptions,
    Progress, Score, Trained,
};
pub use model::{Config, Encoder, Loss, Model};
pub use params::ParamSet;
pub use table::LatencyTable;
// The feature matrices callers build are ndarray arrays; one version for both sides.
pub use ndarray;

/// The feature matrix of encoded rows (one arch's encoding each, all of one length).
pub fn features_matrix(rows: &[Vec<f32>]) -> ndarray::Array2<f32> {
    let dim = rows.first().map_or(0, Vec::len);
    let mut x = ndarray::Array2::<f32>::zeros((rows.len(), dim));
    for (i, r) in rows.iter().enumerate() {
        x.row_mut(i).assign(&ndarray::ArrayView1::from(r));
    }
    x
}

#[derive(Debug, thiserror::Error)]
pub enum PredictorError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{file} line {line}: {reason}")]
    Table {
        file: String,
        line: usize,
        reason: String,
    },
    #[error("{file}: no column '{column}'")]
    MissingColumn { file: String, column: String },
    #[error("{file}: no device '{device}' (its latency columns are: {known})")]
    UnknownDevice {
        file: String,
        device: String,
        known: String,
    },
    #[error("predictor model: {0}")]
    Config(String),
    #[error(transparent)]
    Format(#[from] edgenas_format::FormatError),
    #[error("{path}: not a valid predictor model ({reason})")]
    Decode { path: String, reason: String },
    #[error("{0}")]
    Degenerate(String),
    #[error("{0}")]
    Empty(String),
}
