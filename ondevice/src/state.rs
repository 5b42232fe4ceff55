//! Where the loop's files live under the state directory: `embeddings/`, `predictors/`
//! (adapted) and `runs/`, each named by space and a short hash of the Fingerprint; and where
//! the state directory itself is ([`locate`]).

use std::path::{Path, PathBuf};

use edgenas_nas::Space;
use edgenas_profiler::Fingerprint;

use crate::LoopError;

/// A short stable id of a Fingerprint (FNV-1a over its encoding), for file names.
pub fn fingerprint_id(fp: &Fingerprint) -> String {
    let bytes = postcard::to_stdvec(fp).expect("a fingerprint always encodes");
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:08x}", h as u32 ^ (h >> 32) as u32)
}

pub struct StateDir {
    pub root: PathBuf,
}

impl StateDir {
    pub fn new(root: &Path) -> StateDir {
        StateDir {
            root: root.to_path_buf(),
        }
    }

    pub fn journal(&self) -> PathBuf {
        self.root.join("measurements.journal")
    }

    pub fn embedding(&self, space: Space, fp: &Fingerprint) -> PathBuf {
        self.root.join("embeddings").join(format!(
            "{}-{}.embedding",
            space.name(),
            fingerprint_id(fp)
        ))
    }

    pub fn predictor(&self, space: Space, fp: &Fingerprint) -> PathBuf {
        self.root.join("predictors").join(format!(
            "{}-{}.adapted",
            space.name(),
            fingerprint_id(fp)
        ))
    }

    /// Computed-once data (the NB201 features).
    pub fn cache(&self) -> PathBuf {
        self.root.join("cache")
    }
}

/// The state directory: `flag` (`--home`), else `$EDGENAS_HOME`, else `$XDG_DATA_HOME/edgenas`,
/// else `~/.local/share/edgenas`. A path that exists but is not a directory is refused here,
/// naming where it came from (the OS would say only "File exists" or "Not a directory" later).
pub fn locate(flag: Option<&Path>) -> Result<PathBuf, LoopError> {
    let (path, from) = candidate(flag)?;
    if path.exists() && !path.is_dir() {
        return Err(LoopError::Invalid(format!(
            "the state directory {} ({from}) is a file, not a directory",
            path.display()
        )));
    }
    Ok(path)
}

fn candidate(flag: Option<&Path>) -> Result<(PathBuf, &'static str), LoopError> {
    if let Some(p) = flag {
        return Ok((p.to_owned(), "--home"));
    }
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(p) = var("EDGENAS_HOME") {
        return Ok((p, "$EDGENAS_HOME"));
    }
    if let Some(p) = var("XDG_DATA_HOME") {
        return Ok((p.join("edgenas"), "$XDG_DATA_HOME/edgenas"));
    }
    if let Some(p) = var("HOME") {
        return Ok((p.join(".local/share/edgenas"), "~/.local/share/edgenas"));
    }
    Err(LoopError::Invalid(
        "no state directory: set EDGENAS_HOME or pass --home DIR".into(),
    ))
}
