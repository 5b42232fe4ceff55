//! `edgenas export ARCH -o FILE [--format onnx|tflite|pytorch]`: the timed network for
//! onnxruntime/tract (onnx) or TensorFlow Lite (tflite), with seeded random weights, or as a
//! PyTorch module to train (pytorch, no weights).

use anyhow::{bail, Context, Result};
use edgenas_nas::Arch;

use crate::cli::ExportArgs;

pub fn run(args: ExportArgs) -> Result<()> {
    let arch = Arch::parse(&args.arch)?;
    let net = arch.build();
    let from_extension = args
        .output
        .extension()
        .and_then(|e| e.to_str())
        .filter(|e| ["onnx", "tflite", "py"].contains(e));
    let format = match (args.format.as_deref(), from_extension) {
        (Some(f), _) => f,
        (None, Some("py")) => "pytorch",
        (None, Some(e)) => e,
        (None, None) => "onnx",
    };
    let bytes = match format {
        "onnx" => edgenas_runtime::onnx::to_onnx_bytes(&net, args.seed),
        // The same weights as the ONNX export of this seed (the two runtimes agree on it).
        "tflite" => edgenas_runtime::tflite::to_tflite_bytes(&net, args.seed)
            .with_context(|| format!("writing {arch} as TensorFlow Lite"))?,
        // A module to train (no weights): the architecture of what was timed.
        "pytorch" => {
            edgenas_runtime::pytorch::to_pytorch_source(&net, &arch.to_string()).into_bytes()
        }
        other => bail!("--format {other} is not one of: onnx, tflite, pytorch"),
    };
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
