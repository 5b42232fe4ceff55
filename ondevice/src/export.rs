//! Writing a picked arch for deployment: the executed network that was timed, in the format
//! of the runtime that timed it, atomically (a crash never leaves half a model).

use std::path::Path;

use edgenas_nas::Arch;
pub use edgenas_runtime::{ExportFormat, Precision, QdqStyle};

use crate::LoopError;

/// Writes `arch`'s network to `path` in `format` at `precision` (an int8 ONNX file in `qdq`'s
/// form) with weights from `seed`; returns the bytes written.
pub fn export_model(
    arch: &Arch,
    path: &Path,
    seed: u64,
    format: ExportFormat,
    (precision, qdq): (Precision, QdqStyle),
) -> Result<usize, LoopError> {
    let bytes = format
        .bytes(&arch.build(), &arch.to_string(), seed, precision, qdq)
        .map_err(|source| LoopError::Runtime {
            subject: format!("writing {arch} as {} at {precision}", format.describe()),
            source,
        })?;
    edgenas_format::write_atomic(path, &bytes).map_err(|source| LoopError::Write {
        path: path.display().to_string(),
        source,
    })?;
    Ok(bytes.len())
}
