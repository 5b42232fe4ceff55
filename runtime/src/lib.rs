//! edgenas-runtime: the network IR, its ONNX export, and the backends that run it.
//!
//! The tract backend is pure Rust and always present; TensorFlow Lite (feature `tflite`) and
//! ONNX Runtime are loaded at run time from their C libraries. [`Model`] is the seam: it turns a
//! [`Network`] (or a model file) into something that runs one inference on a fixed input, with
//! any runtime. The profiler times any such closure and knows nothing of networks.
//! [`export`] names the formats a network is written in for other tools.
//!
//! Must not: know search spaces, archs or devices (it takes a [`Network`]), time anything,
//! or print. Runtime libraries are opened at run time, never linked.

pub mod backend;
mod dynlib;
pub mod exec;
pub mod executed;
pub mod export;
pub mod ir;
pub mod naswot;
pub mod onnx;
pub mod ort;
pub mod precision;
pub mod pytorch;
pub mod quantize;
pub mod tflite;
pub mod tract_backend;

pub use backend::{Model, ModelOptions, OrtProvider, Runtime, TfliteDelegate};
pub use executed::{CostFeatures, Executed};
pub use export::ExportFormat;
pub use ir::{Network, NetworkCost, Node, Op, Shape, ValueId};
pub use precision::Precision;
pub use quantize::QdqStyle;
pub use tract_backend::{TractModel, TractOptions};

/// The input every backend runs on: `n` values uniform in [-1, 1) from `seed`, in row-major
/// NCHW order. One definition, so that tract and TensorFlow Lite see the same image.
pub fn seeded_input(n: usize, seed: u64) -> Vec<f32> {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x1a9u64);
    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

/// Errors of graph construction and of the backends. Backend messages are flattened to one
/// line so that the CLI can print them as they are.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("invalid network: {0}")]
    InvalidGraph(String),
    #[error("not a valid ONNX model: {0}")]
    InvalidOnnx(String),
    #[error("tract could not {stage}: {message}")]
    Tract {
        stage: &'static str,
        message: String,
    },
    #[error("not a valid TensorFlow Lite model: {0}")]
    InvalidTflite(String),
    #[error("TensorFlow Lite could not {stage}: {message}")]
    Tflite { stage: String, message: String },
    #[error("TensorFlow Lite is not available: {0}")]
    TfliteMissing(String),
    #[error("ONNX Runtime could not {stage}: {message}")]
    Ort { stage: String, message: String },
    #[error("ONNX Runtime is not available: {0}")]
    OrtMissing(String),
    #[error("the timing program ({program}) {message}")]
    Exec { program: String, message: String },
    #[error("{0}")]
    Unsupported(String),
    #[error("cannot start {threads} inference threads: {message}")]
    Threads { threads: usize, message: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}
