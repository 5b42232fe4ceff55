//! The formats a network is written in for other tools: standard ONNX (tract, onnxruntime),
//! TensorFlow Lite (the same weights), and a PyTorch module to train (no weights).

use std::path::Path;

use crate::quantize::QdqStyle;
use crate::{Network, Precision, Runtime, RuntimeError};

/// A format edgenas writes a network in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Standard ONNX (opset 14) with seeded weights: tract, onnxruntime.
    Onnx,
    /// TensorFlow Lite with the same weights as the ONNX export of the seed.
    Tflite,
    /// A PyTorch module to train (no weights): the architecture of what was timed.
    Pytorch,
}

impl ExportFormat {
    /// The format a file name asks for (.onnx, .tflite, .py).
    pub fn from_extension(path: &Path) -> Option<ExportFormat> {
        match path.extension()?.to_str()? {
            "onnx" => Some(ExportFormat::Onnx),
            "tflite" => Some(ExportFormat::Tflite),
            "py" => Some(ExportFormat::Pytorch),
            _ => None,
        }
    }

    /// The file extension of the format.
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Onnx => "onnx",
            ExportFormat::Tflite => "tflite",
            ExportFormat::Pytorch => "py",
        }
    }

    /// The format `--format` names.
    pub fn from_name(name: &str) -> Result<ExportFormat, RuntimeError> {
        match name {
            "onnx" => Ok(ExportFormat::Onnx),
            "tflite" => Ok(ExportFormat::Tflite),
            "pytorch" => Ok(ExportFormat::Pytorch),
            other => Err(RuntimeError::Unsupported(format!(
                "--format {other} is not one of: onnx, tflite, pytorch"
            ))),
        }
    }

    /// What a network timed by `runtime` is exported as: the file that runtime read
    /// (`.tflite` for TensorFlow Lite, or where `path` ends in .tflite; a timing program's
    /// `--exec-format`), else ONNX.
    pub fn for_runtime(runtime: Runtime, path: &Path) -> ExportFormat {
        if let Runtime::Exec(spec) = runtime {
            return spec.format;
        }
        if matches!(runtime, Runtime::Tflite(_))
            || ExportFormat::from_extension(path) == Some(ExportFormat::Tflite)
        {
            ExportFormat::Tflite
        } else {
            ExportFormat::Onnx
        }
    }

    /// The format's name in messages.
    pub fn describe(self) -> &'static str {
        match self {
            ExportFormat::Onnx => "ONNX",
            ExportFormat::Tflite => "TensorFlow Lite",
            ExportFormat::Pytorch => "PyTorch",
        }
    }

    /// The bytes of `net` in this format at `precision` (an int8 ONNX file in `qdq`'s form);
    /// `title` names it (the arch string). A precision the format is not written at here is
    /// refused in one line naming those it is.
    pub fn bytes(
        self,
        net: &Network,
        title: &str,
        seed: u64,
        precision: Precision,
        qdq: QdqStyle,
    ) -> Result<Vec<u8>, RuntimeError> {
        if !self.precisions().contains(&precision) {
            let names: Vec<&str> = self.precisions().iter().map(|p| p.name()).collect();
            return Err(RuntimeError::Unsupported(format!(
                "edgenas writes {} at {}, not {precision}",
                self.describe(),
                names.join(", ")
            )));
        }
        Ok(match (self, precision) {
            (ExportFormat::Onnx, Precision::Int8) => {
                crate::quantize::to_qdq_onnx_bytes(net, seed, qdq)?
            }
            (ExportFormat::Onnx, _) => crate::onnx::to_onnx_bytes(net, seed),
            (ExportFormat::Tflite, Precision::Int8) => {
                crate::tflite::to_tflite_int8_bytes(net, seed)?
            }
            (ExportFormat::Tflite, _) => crate::tflite::to_tflite_bytes(net, seed)?,
            (ExportFormat::Pytorch, _) => {
                crate::pytorch::to_pytorch_source(net, title).into_bytes()
            }
        })
    }
}
