//! `edgenas export ARCH -o FILE [--format onnx|tflite|pytorch]`: the timed network for
//! onnxruntime/tract (onnx) or TensorFlow Lite (tflite), with seeded random weights, or as a
//! PyTorch module to train (pytorch, no weights).

use anyhow::Result;
use edgenas_nas::Arch;
use edgenas_ondevice::export::{export_model, ExportFormat};

use crate::cli::ExportArgs;

pub fn run(args: ExportArgs) -> Result<()> {
    let arch = Arch::parse(&args.arch)?;
    let format = match args.format.as_deref() {
        Some(name) => ExportFormat::from_name(name)?,
        None => ExportFormat::from_extension(&args.output).unwrap_or(ExportFormat::Onnx),
    };
    // Written beside the target, fsynced, renamed: a crash never leaves a half-written model,
    // and a failure leaves no partial file.
    let bytes = export_model(
        &arch,
        &args.output,
        args.seed,
        format,
        (args.precision, args.qdq),
    )?;
    // The executed network is what the file holds (constant branches folded away).
    let cost = arch.build().executed().network.cost();
    println!(
        "{}: {} at {} ({} parameters, {:.1} M MACs, {} bytes)",
        args.output.display(),
        arch,
        args.precision,
        cost.params,
        cost.macs as f64 / 1e6,
        bytes
    );
    Ok(())
}
