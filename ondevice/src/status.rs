//! What `probe` reports beside the machine: the runtimes this binary can time with here, and
//! whether each stored hardware embedding still holds for the live state.

use std::path::{Path, PathBuf};

use edgenas_profiler::embedding::HardwareEmbedding;
use edgenas_profiler::Fingerprint;
use edgenas_runtime::{Runtime, TfliteDelegate};
use serde::Serialize;

/// A runtime: its name and version and the library it was loaded from, or why it is not
/// available.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum RuntimeStatus {
    Available {
        name: String,
        version: String,
        library: Option<String>,
        /// What it can run on (ONNX Runtime's execution providers, TensorFlow Lite's delegates).
        accelerators: Vec<String>,
    },
    Missing {
        name: &'static str,
        error: String,
    },
}

/// Every runtime this binary knows, loaded where it is loaded at run time.
pub fn runtimes() -> Vec<RuntimeStatus> {
    [
        Runtime::Tract,
        Runtime::Tflite(TfliteDelegate::None),
        Runtime::ORT,
    ]
    .into_iter()
    .map(|r| match r.identity() {
        Ok((_, version)) => RuntimeStatus::Available {
            name: r.name().to_string(),
            version,
            library: r.library_path(),
            accelerators: r.accelerators(),
        },
        Err(e) => RuntimeStatus::Missing {
            name: r.name(),
            error: e.to_string(),
        },
    })
    .collect()
}

/// A stored embedding: its space and the Fingerprint fields in which the live state differs
/// (none: valid), or why it could not be read.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum EmbeddingStatus {
    Read {
        path: PathBuf,
        space: String,
        valid: bool,
        stale_fields: Vec<&'static str>,
    },
    Unreadable {
        path: PathBuf,
        valid: bool,
        error: String,
    },
}

/// Each embedding under `root`/embeddings, in file-name order, against `live`.
pub fn embeddings(root: &Path, live: &Fingerprint) -> Vec<EmbeddingStatus> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("embeddings"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "embedding"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
        .into_iter()
        .map(|path| match HardwareEmbedding::load(&path) {
            Ok(e) => {
                let stale_fields = e.stale_fields(live);
                EmbeddingStatus::Read {
                    path,
                    space: e.space,
                    valid: stale_fields.is_empty(),
                    stale_fields,
                }
            }
            Err(err) => EmbeddingStatus::Unreadable {
                path,
                valid: false,
                error: err.to_string(),
            },
        })
        .collect()
}
