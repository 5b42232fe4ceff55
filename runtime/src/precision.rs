//! The numeric precision a network is deployed at: part of the hardware, since quantisation
//! changes operators' relative costs (depthwise against pointwise, arithmetic against memory).

use crate::backend::Runtime;
use crate::export::ExportFormat;
use crate::RuntimeError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Precision {
    #[default]
    Fp32,
    /// Half precision, where the runtime converts the fp32 file itself (`trtexec --fp16`).
    Fp16,
    /// Full-integer int8: per-channel symmetric weights, int8 activations calibrated on the
    /// seeded input (QDQ form in ONNX).
    Int8,
}

impl Precision {
    pub const ALL: [Precision; 3] = [Precision::Fp32, Precision::Fp16, Precision::Int8];

    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Fp16 => "fp16",
            Precision::Int8 => "int8",
        }
    }

    /// Bytes of one weight or activation value.
    pub fn bytes(self) -> u64 {
        match self {
            Precision::Fp32 => 4,
            Precision::Fp16 => 2,
            Precision::Int8 => 1,
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Precision {
    type Err = RuntimeError;

    fn from_str(s: &str) -> Result<Precision, RuntimeError> {
        Precision::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                RuntimeError::Unsupported(format!(
                    "unknown precision '{s}' (precisions: fp32, fp16, int8)"
                ))
            })
    }
}

impl Runtime {
    /// The precisions edgenas runs networks at on this runtime.
    ///
    /// - tract runs the QDQ file as it loads it (measured against its fp32 in the README).
    /// - TensorFlow Lite runs the fp32 flatbuffer or the full-integer int8 one (as its converter
    ///   writes them), with or without XNNPACK.
    /// - ONNX Runtime fuses the QDQ file into its int8 kernels on every provider.
    /// - A timing program reads the file edgenas writes: the QDQ `.onnx` at int8, in TensorRT's
    ///   form (`trtexec --int8`), the fp32 file at fp16 (the program converts it, as `trtexec
    ///   --fp16` does).
    pub fn precisions(self) -> &'static [Precision] {
        match self {
            Runtime::Tract | Runtime::Ort(_) | Runtime::Tflite(_) => {
                &[Precision::Fp32, Precision::Int8]
            }
            Runtime::Exec(spec) => match spec.format {
                ExportFormat::Onnx => &Precision::ALL,
                ExportFormat::Tflite => &[Precision::Fp32, Precision::Int8],
                ExportFormat::Pytorch => &[Precision::Fp32],
            },
        }
    }

    /// `precision` when this runtime runs it, else the one-line refusal naming what it runs.
    pub fn check_precision(self, precision: Precision) -> Result<Precision, RuntimeError> {
        let runs = self.precisions();
        if runs.contains(&precision) {
            return Ok(precision);
        }
        let names: Vec<&str> = runs.iter().map(|p| p.name()).collect();
        Err(RuntimeError::Unsupported(format!(
            "{} does not run {precision} networks here; it runs {}",
            self.label(),
            names.join(", ")
        )))
    }
}

impl ExportFormat {
    /// The precisions edgenas writes this format at.
    pub fn precisions(self) -> &'static [Precision] {
        match self {
            ExportFormat::Onnx | ExportFormat::Tflite => &[Precision::Fp32, Precision::Int8],
            ExportFormat::Pytorch => &[Precision::Fp32],
        }
    }
}
