//! The backend seam: one [`Model`] whatever runtime runs it, so the profiler, the loop and the
//! commands are written once. tract is the default and always present; TensorFlow Lite is there
//! in builds with the `tflite` feature and runs when its library can be loaded.

use std::path::Path;
use std::time::Duration;

use crate::ir::Network;
use crate::tract_backend::{TractModel, TractOptions};
use crate::RuntimeError;

/// A runtime that can time a network, with the accelerator it runs on (TensorFlow Lite's
/// delegate, ONNX Runtime's execution provider): both change latency, so both are part of the
/// hardware a measurement belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Runtime {
    /// tract, pure Rust, built in.
    #[default]
    Tract,
    /// TensorFlow Lite's C library, loaded at run time.
    Tflite(TfliteDelegate),
    /// ONNX Runtime's C library, loaded at run time.
    Ort(OrtProvider),
    /// Any timing program (`--exec`): it times the file edgenas writes and reports latencies.
    /// The spec lives for the process (it is the command line's).
    Exec(&'static crate::exec::ExecSpec),
}

/// Whether TensorFlow Lite runs the model through its XNNPACK delegate (as `benchmark_model`
/// and LiteRT do by default) or on its own built-in kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TfliteDelegate {
    #[default]
    Xnnpack,
    None,
}

impl TfliteDelegate {
    pub const NAMES: [&'static str; 2] = ["xnnpack", "none"];

    pub fn name(self) -> &'static str {
        match self {
            TfliteDelegate::Xnnpack => "xnnpack",
            TfliteDelegate::None => "none",
        }
    }
}

impl std::str::FromStr for TfliteDelegate {
    type Err = RuntimeError;

    fn from_str(s: &str) -> Result<TfliteDelegate, RuntimeError> {
        match s {
            "xnnpack" => Ok(TfliteDelegate::Xnnpack),
            "none" => Ok(TfliteDelegate::None),
            other => Err(RuntimeError::Unsupported(format!(
                "unknown TensorFlow Lite delegate '{other}' (delegates: xnnpack, none)"
            ))),
        }
    }
}

/// ONNX Runtime's execution provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrtProvider {
    #[default]
    Cpu,
    Xnnpack,
    Cuda,
    Tensorrt,
}

impl OrtProvider {
    pub const ALL: [OrtProvider; 4] = [
        OrtProvider::Cpu,
        OrtProvider::Xnnpack,
        OrtProvider::Cuda,
        OrtProvider::Tensorrt,
    ];

    pub fn name(self) -> &'static str {
        match self {
            OrtProvider::Cpu => "cpu",
            OrtProvider::Xnnpack => "xnnpack",
            OrtProvider::Cuda => "cuda",
            OrtProvider::Tensorrt => "tensorrt",
        }
    }

    /// The provider ONNX Runtime names `name` (`CPUExecutionProvider`…), if edgenas knows it.
    pub fn from_library_name(name: &str) -> Option<OrtProvider> {
        OrtProvider::ALL
            .into_iter()
            .find(|p| p.library_name() == name)
    }

    /// The provider's name in ONNX Runtime (`GetAvailableProviders`).
    pub fn library_name(self) -> &'static str {
        match self {
            OrtProvider::Cpu => "CPUExecutionProvider",
            OrtProvider::Xnnpack => "XnnpackExecutionProvider",
            OrtProvider::Cuda => "CUDAExecutionProvider",
            OrtProvider::Tensorrt => "TensorrtExecutionProvider",
        }
    }
}

impl std::str::FromStr for OrtProvider {
    type Err = RuntimeError;

    fn from_str(s: &str) -> Result<OrtProvider, RuntimeError> {
        OrtProvider::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                RuntimeError::Unsupported(format!(
                    "unknown execution provider '{s}' (providers: cpu, xnnpack, cuda, tensorrt)"
                ))
            })
    }
}

impl Runtime {
    /// The runtimes' names as `--runtime` takes them.
    pub const NAMES: [&'static str; 3] = ["tract", "tflite", "ort"];

    /// tflite with XNNPACK, ort on the CPU provider.
    pub const TFLITE: Runtime = Runtime::Tflite(TfliteDelegate::Xnnpack);
    pub const ORT: Runtime = Runtime::Ort(OrtProvider::Cpu);

    /// The runtime's own name, whatever it runs on.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Tract => "tract",
            Runtime::Tflite(_) => "tflite",
            Runtime::Ort(_) => "ort",
            Runtime::Exec(_) => "exec",
        }
    }

    /// What the runtime runs on: TensorFlow Lite's delegate or ONNX Runtime's provider.
    pub fn accelerator(self) -> Option<&'static str> {
        match self {
            Runtime::Tract | Runtime::Exec(_) => None,
            Runtime::Tflite(d) => Some(d.name()),
            Runtime::Ort(p) => Some(p.name()),
        }
    }

    /// What this runtime's loaded library can run on: ONNX Runtime's execution providers as the
    /// library lists them, TensorFlow Lite's delegates (XNNPACK where the library has it).
    pub fn accelerators(self) -> Vec<String> {
        match self {
            Runtime::Tract | Runtime::Exec(_) => Vec::new(),
            #[cfg(feature = "tflite")]
            Runtime::Tflite(_) => crate::tflite::delegates(),
            #[cfg(not(feature = "tflite"))]
            Runtime::Tflite(_) => Vec::new(),
            Runtime::Ort(_) => crate::ort::providers().unwrap_or_default(),
        }
    }

    /// The runtime and what it runs on, as `--runtime` and `--runtimes` take it back:
    /// `tract`, `tflite+xnnpack`, `tflite+none`, `ort+cpu`…
    pub fn label(self) -> String {
        match self {
            Runtime::Tract => "tract".into(),
            Runtime::Tflite(d) => format!("tflite+{}", d.name()),
            Runtime::Ort(p) => format!("ort+{}", p.name()),
            Runtime::Exec(spec) => spec.identity.0.clone(),
        }
    }

    /// The same runtime with `--ep` or `--tflite-delegate` applied; each is refused for a
    /// runtime it does not belong to.
    pub fn with_accelerator(
        self,
        ep: Option<OrtProvider>,
        delegate: Option<TfliteDelegate>,
    ) -> Result<Runtime, RuntimeError> {
        let name = self.name();
        match (self, ep, delegate) {
            (r, None, None) => Ok(r),
            (Runtime::Ort(_), Some(p), None) => Ok(Runtime::Ort(p)),
            (Runtime::Tflite(_), None, Some(d)) => Ok(Runtime::Tflite(d)),
            (_, Some(_), _) => Err(RuntimeError::Unsupported(format!(
                "--ep picks ONNX Runtime's execution provider; it needs --runtime ort, not {name}"
            ))),
            (_, None, Some(_)) => Err(RuntimeError::Unsupported(format!(
                "--tflite-delegate needs --runtime tflite, not {name}"
            ))),
        }
    }

    /// The library file this runtime was loaded from, once loaded; None for a built-in runtime
    /// or one whose library is missing.
    pub fn library_path(self) -> Option<String> {
        match self {
            Runtime::Tract | Runtime::Exec(_) => None,
            #[cfg(feature = "tflite")]
            Runtime::Tflite(_) => crate::tflite::library_path().ok(),
            #[cfg(not(feature = "tflite"))]
            Runtime::Tflite(_) => None,
            Runtime::Ort(_) => crate::ort::library_path().ok(),
        }
    }

    /// The file format this runtime reads (and `export` writes for it).
    pub fn file_extension(self) -> &'static str {
        match self {
            Runtime::Tract | Runtime::Ort(_) => "onnx",
            Runtime::Tflite(_) => "tflite",
            Runtime::Exec(spec) => spec.format.extension(),
        }
    }

    /// Name and version as recorded in every Fingerprint: what is timed depends on both, and on
    /// the delegate or provider, which the name carries (`tflite+xnnpack`, `onnxruntime+cpu`;
    /// plain `tflite` is TensorFlow Lite without a delegate, as edgenas timed it before
    /// XNNPACK). A runtime loaded at run time is loaded here.
    pub fn identity(self) -> Result<(String, String), RuntimeError> {
        match self {
            Runtime::Tract => Ok((
                crate::tract_backend::RUNTIME.0.to_string(),
                crate::tract_backend::RUNTIME.1.to_string(),
            )),
            #[cfg(feature = "tflite")]
            Runtime::Tflite(d) => Ok((
                match d {
                    TfliteDelegate::None => "tflite".to_string(),
                    TfliteDelegate::Xnnpack => "tflite+xnnpack".to_string(),
                },
                crate::tflite::version()?,
            )),
            #[cfg(not(feature = "tflite"))]
            Runtime::Tflite(_) => Err(no_tflite()),
            Runtime::Ort(p) => Ok((format!("onnxruntime+{}", p.name()), crate::ort::version()?)),
            Runtime::Exec(spec) => Ok(spec.identity.clone()),
        }
    }
}

/// The label: `tract`, `tflite+xnnpack`, `ort+cpu`…
impl std::fmt::Display for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}

impl std::str::FromStr for Runtime {
    type Err = RuntimeError;

    /// `tract`, `tflite`, `ort` (or `onnxruntime`), each optionally `+` its delegate or
    /// provider: `tflite+none`, `ort+xnnpack`.
    fn from_str(s: &str) -> Result<Runtime, RuntimeError> {
        let (name, accel) = match s.split_once('+') {
            Some((n, a)) => (n, Some(a)),
            None => (s, None),
        };
        match (name, accel) {
            ("tract", None) => Ok(Runtime::Tract),
            ("tflite" | "tensorflow-lite", a) => Ok(Runtime::Tflite(
                a.map(str::parse).transpose()?.unwrap_or_default(),
            )),
            ("ort" | "onnxruntime", a) => Ok(Runtime::Ort(
                a.map(str::parse).transpose()?.unwrap_or_default(),
            )),
            ("exec", None) => Err(RuntimeError::Unsupported(
                "--runtime exec needs the program: --exec 'PROGRAM ARGS {model}'".into(),
            )),
            _ => Err(RuntimeError::Unsupported(format!(
                "unknown runtime '{s}' (runtimes: tract, tflite, ort, exec; tflite+none, ort+xnnpack…)"
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

fn exec_has_no_output() -> RuntimeError {
    RuntimeError::Unsupported(
        "a timing program (--runtime exec) reports latencies, not outputs; infer with tract, \
         tflite or ort"
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
    /// The precision an IR network is built at (a model file is run as it is written).
    pub precision: crate::Precision,
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
    Ort(crate::ort::OrtModel),
    Exec(crate::exec::ExecModel),
}

impl Model {
    /// Prepares an IR network: tract and ONNX Runtime run its ONNX model, TensorFlow Lite its
    /// `.tflite` model, all with the same weights.
    pub fn from_network(net: &Network, opts: ModelOptions) -> Result<Model, RuntimeError> {
        let precision = opts.runtime.check_precision(opts.precision)?;
        let int8 = precision == crate::Precision::Int8;
        match opts.runtime {
            Runtime::Tract if int8 => {
                let style = crate::quantize::QdqStyle::OnnxRuntime;
                let proto = crate::quantize::to_qdq_model_proto(net, opts.seed, style)?;
                TractModel::from_proto(&proto, opts.tract()).map(Model::Tract)
            }
            Runtime::Tract => TractModel::from_network(net, opts.tract()).map(Model::Tract),
            #[cfg(feature = "tflite")]
            Runtime::Tflite(delegate) => {
                let bytes = if int8 {
                    crate::tflite::to_tflite_int8_bytes(net, opts.seed)?
                } else {
                    crate::tflite::to_tflite_bytes(net, opts.seed)?
                };
                crate::tflite::TfliteModel::from_bytes(&bytes, opts.threads, opts.seed, delegate)
                    .map(Model::Tflite)
            }
            #[cfg(not(feature = "tflite"))]
            Runtime::Tflite(_) => Err(no_tflite()),
            Runtime::Ort(provider) => {
                let bytes = if int8 {
                    let style = crate::quantize::QdqStyle::OnnxRuntime;
                    crate::quantize::to_qdq_onnx_bytes(net, opts.seed, style)?
                } else {
                    crate::onnx::to_onnx_bytes(net, opts.seed)
                };
                crate::ort::OrtModel::from_bytes(&bytes, opts.threads, opts.seed, provider)
                    .map(Model::Ort)
            }
            Runtime::Exec(spec) => {
                crate::exec::ExecModel::from_network(net, opts.seed, precision, spec)
                    .map(Model::Exec)
            }
        }
    }

    /// Prepares a model file: `.onnx` for tract and ONNX Runtime, `.tflite` for TensorFlow Lite.
    pub fn from_file(path: &Path, opts: ModelOptions) -> Result<Model, RuntimeError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match (opts.runtime, ext.as_deref()) {
            (Runtime::Exec(spec), _) => {
                crate::exec::ExecModel::from_file(path, spec).map(Model::Exec)
            }
            (Runtime::Tract, Some("tflite")) => Err(RuntimeError::Unsupported(format!(
                "{}: tract reads .onnx files; time a .tflite file with --runtime tflite",
                path.display()
            ))),
            (Runtime::Tract, _) => TractModel::from_onnx_file(path, opts.tract()).map(Model::Tract),
            (Runtime::Ort(_), Some("tflite")) => Err(RuntimeError::Unsupported(format!(
                "{}: ONNX Runtime reads .onnx files; time a .tflite file with --runtime tflite",
                path.display()
            ))),
            (Runtime::Ort(provider), _) => {
                crate::ort::OrtModel::from_file(path, opts.threads, opts.seed, provider)
                    .map(Model::Ort)
            }
            (Runtime::Tflite(_), Some("onnx")) => Err(RuntimeError::Unsupported(format!(
                "{}: TensorFlow Lite reads .tflite files; time the .onnx with --runtime tract, \
                 or write a .tflite with `edgenas export ARCH --format tflite`",
                path.display()
            ))),
            #[cfg(feature = "tflite")]
            (Runtime::Tflite(delegate), _) => {
                crate::tflite::TfliteModel::from_file(path, opts.threads, opts.seed, delegate)
                    .map(Model::Tflite)
            }
            #[cfg(not(feature = "tflite"))]
            (Runtime::Tflite(_), _) => Err(no_tflite()),
        }
    }

    pub fn runtime(&self) -> Runtime {
        match self {
            Model::Tract(_) => Runtime::Tract,
            #[cfg(feature = "tflite")]
            Model::Tflite(m) => Runtime::Tflite(m.delegate()),
            Model::Ort(m) => Runtime::Ort(m.provider()),
            Model::Exec(m) => Runtime::Exec(m.spec()),
        }
    }

    /// Time to load, optimise and plan the model (reported apart from latency).
    pub fn init_time(&self) -> Duration {
        match self {
            Model::Tract(m) => m.init_time,
            #[cfg(feature = "tflite")]
            Model::Tflite(m) => m.init_time,
            Model::Ort(m) => m.init_time,
            Model::Exec(m) => m.init_time,
        }
    }

    pub fn threads(&self) -> usize {
        match self {
            Model::Tract(m) => m.threads(),
            #[cfg(feature = "tflite")]
            Model::Tflite(m) => m.threads(),
            Model::Ort(m) => m.threads(),
            // The program's own flags say how many threads it uses.
            Model::Exec(_) => 1,
        }
    }

    /// The input's shape in the runtime's layout (NCHW for tract and ONNX Runtime, NHWC for
    /// TensorFlow Lite).
    pub fn input_shape(&self) -> &[usize] {
        match self {
            Model::Tract(m) => m.input_shape(),
            #[cfg(feature = "tflite")]
            Model::Tflite(m) => m.input_shape(),
            Model::Ort(m) => m.input_shape(),
            Model::Exec(_) => &[],
        }
    }

    /// Runs one inference; returns the first output's shape and values.
    pub fn run(&mut self) -> Result<(Vec<usize>, Vec<f32>), RuntimeError> {
        match self {
            Model::Tract(m) => m.run(),
            #[cfg(feature = "tflite")]
            Model::Tflite(m) => m.run(),
            Model::Ort(m) => m.run(),
            Model::Exec(_) => Err(exec_has_no_output()),
        }
    }

    /// Runs one inference and drops the output: the operation the profiler times.
    pub fn run_discard(&mut self) -> Result<(), RuntimeError> {
        match self {
            Model::Tract(m) => m.run_discard(),
            #[cfg(feature = "tflite")]
            Model::Tflite(m) => m.run_discard(),
            Model::Ort(m) => m.run_discard(),
            Model::Exec(m) => m.run_reported().map(|_| ()),
        }
    }

    /// Runs once, as the profiler times it: None when the caller times the run (the run is one
    /// inference), or the latencies a timing program reported (its start-up not among them).
    pub fn run_timed(&mut self) -> Result<Option<Vec<f64>>, RuntimeError> {
        match self {
            Model::Exec(m) => m.run_reported().map(Some),
            m => m.run_discard().map(|()| None),
        }
    }
}
