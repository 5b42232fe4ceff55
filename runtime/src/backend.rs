//! The backend seam: one [`Model`] whatever runtime runs it, so the profiler, the loop and the
//! commands are written once. tract is the default and always present; TensorFlow Lite is there
//! in builds with the `tflite` feature and runs when its library can be loaded.

use std::path::Path;
use std::time::Duration;

use crate::ir::Network;
use crate::tract_backend::{TractModel, TractOptions};
use crate::RuntimeError;

/// A runtime that can time a network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Runtime {
    /// tract, pure Rust, built in.
    #[default]
    Tract,
    /// TensorFlow Lite's C library, loaded at run time.
    Tflite,
}

impl Runtime {
    pub const NAMES: [&'static str; 2] = ["tract", "tflite"];

    pub fn name(self) -> &'static str {
        match self {
            Runtime::Tract => "tract",
            Runtime::Tflite => "tflite",
        }
    }

    /// The file format this runtime reads (and `export` writes for it).
    /// The library file this runtime was loaded from, once loaded (TensorFlow Lite); None for
    /// a built-in runtime.
    pub fn library_path(self) -> Option<String> {
        match self {
            Runtime::Tract => None,
            #[cfg(feature = "tflite")]
            Runtime::Tflite => crate::tflite::library_path().ok(),
            #[cfg(not(feature = "tflite"))]
            Runtime::Tflite => None,
        }
    }

    pub fn file_extension(self) -> &'static str {
        match self {
            Runtime::Tract => "onnx",
            Runtime::Tflite => "tflite",
        }
    }

    /// Name and version as recorded in every Fingerprint: what is timed depends on both. For
    /// TensorFlow Lite this loads the library (its version is `TfLiteVersion()`).
    pub fn identity(self) -> Result<(String, String), RuntimeError> {
        match self {
            Runtime::Tract => Ok((
                crate::tract_backend::RUNTIME.0.to_string(),
                crate::tract_backend::RUNTIME.1.to_string(),
            )),
            #[cfg(feature = "tflite")]
            Runtime::Tflite => Ok(("tflite".to_string(), crate::tflite::version()?)),
            #[cfg(not(feature = "tflite"))]
            Runtime::Tflite => Err(no_tflite()),
        }
    }
}

impl std::fmt::Display for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Runtime {
    type Err = RuntimeError;

    fn from_str(s: &str) -> Result<Runtime, RuntimeError> {
        match s {
            "tract" => Ok(Runtime::Tract),
            "tflite" | "tensorflow-lite" => Ok(Runtime::Tflite),
            other => Err(RuntimeError::Unsupported(format!(
                "unknown runtime '{other}' (runtimes: tract, tflite)"
            ))),
        }
    }
}

#[cfg(not(feature = "tflite"))]
fn no_tflite() -> RuntimeError {
    RuntimeError::Unsupported(
        "this edgenas was built without TensorFlow Lite (cargo feature `tflite`; the release \
         tarballs have it)"
            .into(),
    )
}

/// How to prepare a model, whatever the runtime.
#[derive(Debug, Clone, Copy, Default)]
pub struct ModelOptions {
    pub runtime: Runtime,
    /// Inference threads.
    pub threads: usize,
    /// Seed of the weights (IR networks) and of the input tensor.
    pub seed: u64,
}

impl ModelOptions {
    fn tract(&self) -> TractOptions {
        TractOptions {
            threads: self.threads,
            seed: self.seed,
        }
    }
}

/// A model ready to run one inference at a time on a fixed, seeded input.
#[derive(Debug)]
pub enum Model {
    Tract(TractModel),
    #[cfg(feature = "tflite")]
    Tflite(crate::tflite::TfliteModel),
}

impl Model {
    /// Prepares an IR network: tract runs its ONNX model, TensorFlow Lite its `.tflite` model,
    /// both with the same weights.
    pub fn from_network(net: &Network, opts: ModelOptions) -> Result<Model, RuntimeError> {
        match opts.runtime {
            Runtime::Tract => TractModel::from_network(net, opts.tract()).map(Model::Tract),
            #[cfg(feature = "tflite")]
            Runtime::Tflite => {
                let bytes = crate::tflite::to_tflite_bytes(net, opts.seed)?;
                crate::tflite::TfliteModel::from_bytes(&bytes, opts.threads, opts.seed)
                    .map(Model::Tflite)
            }
            #[cfg(not(feature = "tflite"))]
            Runtime::Tflite => Err(no_tflite()),
        }
    }

    /// Prepares a model file: `.onnx` for tract, `.tflite` for TensorFlow Lite.
    pub fn from_file(path: &Path, opts: ModelOptions) -> Result<Model, RuntimeError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match (opts.runtime, ext.as_deref()) {
            (Runtime::Tract, Some("tflite")) => Err(RuntimeError::Unsupported(format!(
                "{}: tract reads .onnx files; time a .tflite file with --runtime tflite",
                path.display()
            ))),
            (Runtime::Tract, _) => TractModel::from_onnx_file(path, opts.tract()).map(Model::Tract),
            (Runtime::Tflite, Some("onnx")) => Err(RuntimeError::Unsupported(format!(
                "{}: TensorFlow Lite reads .tflite files; time the .onnx with --runtime tract, \
                 or write a .tflite with `edgenas export ARCH --format tflite`",
                path.display()
            ))),
            #[cfg(feature = "tflite")]
            (Runtime::Tflite, _) => {
                crate::tflite::TfliteModel::from_file(path, opts.threads, opts.seed)
                    .map(Model::Tflite)
            }
            #[cfg(not(feature = "tflite"))]
            (Runtime::Tflite, _) => Err(no_tflite()),
        }
    }

    pub fn runtime(&self) -> Runtime {
        match self {
            Model::Tract(_) => Runtime::Tract,
            #[cfg(feature = "tflite")]
            Model::Tflite(_) => Runtime::Tflite,
        }
    }

    /// Time to load, optimise and plan the model (reported apart from latency).
    pub fn init_time(&self) -> Duration {
        match self {
            Model::Tract(m) => m.init_time,
            #[cfg(feature = "tflite")]
            Model::Tflite(m) => m.init_time,
        }
    }

    pub fn threads(&self) -> usize {
        match self {
            Model::Tract(m) => m.threads(),
            #[cfg(feature = "tflite")]
            Model::Tflite(m) => m.threads(),
        }
    }

    /// The input's shape in the runtime's layout (NCHW for tract, NHWC for TensorFlow Lite).
    pub fn input_shape(&self) -> &[usize] {
        match self {
            Model::Tract(m) => m.input_shape(),
            #[cfg(feature = "tflite")]
            Model::Tflite(m) => m.input_shape(),
        }
    }

    /// Runs one inference; returns the first output's shape and values.
    pub fn run(&mut self) -> Result<(Vec<usize>, Vec<f32>), RuntimeError> {
        match self {
            Model::Tract(m) => m.run(),
            #[cfg(feature = "tflite")]
            Model::Tflite(m) => m.run(),
        }
    }

    /// Runs one inference and drops the output: the operation the profiler times.
    pub fn run_discard(&mut self) -> Result<(), RuntimeError> {
        match self {
            Model::Tract(m) => m.run_discard(),
            #[cfg(feature = "tflite")]
            Model::Tflite(m) => m.run_discard(),
        }
    }
}
