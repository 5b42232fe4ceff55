//! `edgenas export ARCH -o FILE.onnx`

use anyhow::{Context, Result};
use edgenas_nas::Arch;

use crate::cli::ExportArgs;

pub fn run(args: ExportArgs) -> Result<()> {
    let arch = Arch::parse(&args.arch)?;
    let net = arch.build();
    let bytes = edgenas_runtime::onnx::to_onnx_bytes(&net, args.seed);
    // Written beside the target, fsynced, renamed: a crash never leaves a half-written model,
    // and a failure leaves no partial file.
    edgenas_format::write_atomic(&args.output, &bytes)
        .with_context(|| format!("writing {}", args.output.display()))?;
    let cost = net.cost();
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
