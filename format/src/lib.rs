//! edgenas-format: the header every file edgenas writes starts with.
//!
//! `EDGENAS\0` (8 bytes), a kind tag (8 bytes, NUL-padded ASCII), a format version (u16 LE).
//! A file of another kind or version is refused with a message that names both, never misread.
//! It is a leaf crate so that the profiler (journals) and the predictor (model files) share
//! one definition without depending on each other. It also holds the result tables every
//! command exports ([`table`]). It must stay a leaf: no edgenas crate below it.

pub mod table;

pub const MAGIC: &[u8; 8] = b"EDGENAS\0";
pub const HEADER_LEN: usize = 18;

/// The kinds of file edgenas writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The measurement journal.
    Measurements,
    /// A latency predictor's weights.
    Predictor,
    /// A hardware embedding.
    Embedding,
    /// A predictor adapted to one device (Fingerprint and space).
    Adapted,
    /// Cost figures and encodings of a whole space, computed once.
    FeatureCache,
    /// Used by tests of the journal machinery.
    TestJournal,
    /// The finished rounds of an interleaved batch in progress (a timing program's).
    Rounds,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Measurements,
        Kind::Predictor,
        Kind::Embedding,
        Kind::Adapted,
        Kind::FeatureCache,
        Kind::TestJournal,
        Kind::Rounds,
    ];

    pub fn tag(self) -> &'static [u8; 8] {
        match self {
            Kind::Measurements => b"MEASURE\0",
            Kind::Predictor => b"PREDICT\0",
            Kind::Embedding => b"HWEMBED\0",
            Kind::Adapted => b"ADAPTED\0",
            Kind::FeatureCache => b"FEATURE\0",
            Kind::TestJournal => b"TESTJRN\0",
            Kind::Rounds => b"ROUNDS\0\0",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Measurements => "measurement-journal",
            Kind::Predictor => "predictor",
            Kind::Embedding => "hardware-embedding",
            Kind::Adapted => "adapted-predictor",
            Kind::FeatureCache => "feature-cache",
            Kind::TestJournal => "test-journal",
            Kind::Rounds => "batch-rounds",
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    #[error("{path}: not an edgenas file (no edgenas header)")]
    NotEdgenas { path: String },
    #[error("{path}: is a {found} file, expected a {expected} file")]
    WrongKind {
        path: String,
        found: String,
        expected: &'static str,
    },
    #[error("{path}: {kind} format version {found} is not supported (this edgenas reads version {expected})")]
    WrongVersion {
        path: String,
        kind: &'static str,
        found: u16,
        expected: u16,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    pub kind: Kind,
    pub version: u16,
}

impl FileHeader {
    pub fn new(kind: Kind, version: u16) -> FileHeader {
        FileHeader { kind, version }
    }

    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..8].copy_from_slice(MAGIC);
        b[8..16].copy_from_slice(self.kind.tag());
        b[16..18].copy_from_slice(&self.version.to_le_bytes());
        b
    }

    /// Checks that `bytes` start with this header; `path` names the file in errors.
    pub fn check(&self, bytes: &[u8], path: &std::path::Path) -> Result<(), FormatError> {
        let path = path.display().to_string();
        if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
            return Err(FormatError::NotEdgenas { path });
        }
        if &bytes[8..16] != self.kind.tag() {
            let found = Kind::ALL
                .iter()
                .find(|k| k.tag() == &bytes[8..16])
                .map(|k| k.name().to_string())
                .unwrap_or_else(|| {
                    String::from_utf8_lossy(&bytes[8..16])
                        .trim_end_matches('\0')
                        .to_string()
                });
            return Err(FormatError::WrongKind {
                path,
                found,
                expected: self.kind.name(),
            });
        }
        let found = u16::from_le_bytes([bytes[16], bytes[17]]);
        if found != self.version {
            return Err(FormatError::WrongVersion {
                path,
                kind: self.kind.name(),
                found,
                expected: self.version,
            });
        }
        Ok(())
    }
}

/// Writes `bytes` to `path` so that a crash leaves the old file or the new one, never half of
/// one: a temporary file beside it, fsynced, renamed over the path, then the directory fsynced.
/// Makes a file's directory entry durable (after a create or a rename). A directory that
/// cannot be opened is passed over; a failed sync is an error.
pub fn sync_dir(path: &std::path::Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    match std::fs::File::open(dir) {
        Ok(d) => d.sync_all(),
        Err(_) => Ok(()),
    }
}

pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.partial", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_mismatches_are_named() {
        let p = std::path::Path::new("x.bin");
        let h = FileHeader::new(Kind::Predictor, 3);
        let bytes = h.encode();
        assert_eq!(h.check(&bytes, p), Ok(()));
        let e = FileHeader::new(Kind::Measurements, 3)
            .check(&bytes, p)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.bin: is a predictor file, expected a measurement-journal file"
        );
        let e = FileHeader::new(Kind::Predictor, 4)
            .check(&bytes, p)
            .unwrap_err();
        assert!(e.to_string().contains("version 3"), "{e}");
        assert!(matches!(
            h.check(b"short", p),
            Err(FormatError::NotEdgenas { .. })
        ));
    }
}
