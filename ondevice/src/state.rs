//! Where the loop's files live under the state directory: `embeddings/`, `predictors/`
//! (adapted) and `runs/`, each named by space and a short hash of the Fingerprint.

use std::path::{Path, PathBuf};

use edgenas_nas::Space;
use edgenas_profiler::Fingerprint;

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
