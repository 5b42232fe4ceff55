//! The one seam every outside read goes through: a root under which `/proc`, `/sys` and
//! `/etc` are read, so tests replay real boards' files from fixture trees. It knows nothing of
//! boards or conditions (`board` and `probe` build on it).

use std::path::{Path, PathBuf};

/// A root under which `/proc`, `/sys` and `/etc` are read (default `/`).
#[derive(Debug, Clone)]
pub struct Sysroot {
    root: PathBuf,
}

impl Default for Sysroot {
    fn default() -> Self {
        Sysroot::new("/")
    }
}

impl Sysroot {
    pub fn new(root: impl Into<PathBuf>) -> Sysroot {
        Sysroot { root: root.into() }
    }

    pub fn is_host(&self) -> bool {
        self.root == Path::new("/")
    }

    pub fn path(&self, abs: &str) -> PathBuf {
        self.root.join(abs.trim_start_matches('/'))
    }

    /// Reads a small text file; `None` when it is missing or unreadable (EAGAIN and
    /// friends: a sensor that is power-gated is not an error).
    pub fn read(&self, abs: &str) -> Option<String> {
        std::fs::read(self.path(abs))
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    pub fn read_trim(&self, abs: &str) -> Option<String> {
        self.read(abs).map(|s| {
            s.trim_matches(|c: char| c.is_whitespace() || c == '\0')
                .to_string()
        })
    }

    pub fn read_u64(&self, abs: &str) -> Option<u64> {
        self.read_trim(abs)?.parse().ok()
    }

    /// Names of the entries of a directory, sorted; empty when it is missing.
    pub fn list(&self, abs: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path(abs))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort_by(|a, b| natural_cmp(a, b));
        names
    }
}

/// Orders `cpu2` before `cpu10`.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let split = |s: &str| {
        let digits = s.len() - s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let (head, tail) = s.split_at(s.len() - digits);
        (head.to_string(), tail.parse::<u64>().unwrap_or(0))
    };
    split(a).cmp(&split(b)).then_with(|| a.cmp(b))
}

/// The first `key : value` line of `/proc/cpuinfo`-style text among `keys`.
pub fn cpuinfo_field(text: &str, keys: &[&str]) -> Option<String> {
    for key in keys {
        for line in text.lines() {
            if let Some((k, v)) = line.split_once(':') {
                if k.trim() == *key {
                    return Some(v.trim().to_string());
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_of_sysfs_names() {
        let mut v = vec!["policy10", "policy2", "policy0"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["policy0", "policy2", "policy10"]);
    }
}
