//! `edgenas export ARCH -o FILE [--format onnx|tflite|pytorch]`: the timed network for
//! onnxruntime/tract (onnx) or TensorFlow Lite (tflite), with seeded random weights, or as a
//! PyTorch module to train (pytorch, no weights).

use std::path::Path;

use anyhow::{bail, Context, Result};
use edgenas_nas::Arch;
use edgenas_runtime::Network;

use crate::cli::ExportArgs;

/// A format edgenas writes a network in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Standard ONNX (opset 14) with seeded weights: tract, onnxruntime.
    Onnx,
    /// TensorFlow Lite with the same weights as the ONNX export of the seed.
    Tflite,
    /// A PyTorch module to train (no weights): the architecture of what was timed.
    Pytorch,
}

impl Format {
    /// The format a file name asks for (.onnx, .tflite, .py).
    pub fn from_extension(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()? {
            "onnx" => Some(Format::Onnx),
            "tflite" => Some(Format::Tflite),
            "py" => Some(Format::Pytorch),
            _ => None,
        }
    }

    /// The bytes of `net` (the network of `arch`) in this format.
    pub fn bytes(self, arch: &Arch, net: &Network, seed: u64) -> Result<Vec<u8>> {
        Ok(match self {
            Format::Onnx => edgenas_runtime::onnx::to_onnx_bytes(net, seed),
            Format::Tflite => edgenas_runtime::tflite::to_tflite_bytes(net, seed)
                .with_context(|| format!("writing {arch} as TensorFlow Lite"))?,
            Format::Pytorch => {
                edgenas_runtime::pytorch::to_pytorch_source(net, &arch.to_string()).into_bytes()
            }
        })
    }
}

pub fn run(args: ExportArgs) -> Result<()> {
    let arch = Arch::parse(&args.arch)?;
    let net = arch.build();
    let format = match args.format.as_deref() {
        Some("onnx") => Format::Onnx,
        Some("tflite") => Format::Tflite,
        Some("pytorch") => Format::Pytorch,
        Some(other) => bail!("--format {other} is not one of: onnx, tflite, pytorch"),
        None => Format::from_extension(&args.output).unwrap_or(Format::Onnx),
    };
    let bytes = format.bytes(&arch, &net, args.seed)?;
    // Written beside the target, fsynced, renamed: a crash never leaves a half-written model,
    // and a failure leaves no partial file.
    edgenas_format::write_atomic(&args.output, &bytes)
        .with_context(|| format!("writing {}", args.output.display()))?;
    // The executed network is what the file holds (constant branches folded away).
    let cost = net.executed().network.cost();
    println!(
        "{}: {} ({} parameters, {:.1} M MACs, {} bytes)",
        args.output.display(),
        arch,
        cost.params,
        cost.macs as f64 / 1e6,
        bytes.len()
    );
    Ok(())
}
