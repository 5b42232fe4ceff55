//! The hardware embedding: the latencies of a space's reference architectures on one
//! device, under one Fingerprint. Measurements made under other conditions never mix in.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{FileHeader, Fingerprint, Kind, Measurement, ProfilerError};

/// 2: the Fingerprint says the precision.
pub const EMBEDDING_FORMAT: u16 = 2;

fn header() -> FileHeader {
    FileHeader::new(Kind::Embedding, EMBEDDING_FORMAT)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HardwareEmbedding {
    pub space: String,
    pub fingerprint: Fingerprint,
    /// Reference subjects, in embedding order.
    pub references: Vec<String>,
    /// Their median latencies in milliseconds.
    pub raw_ms: Vec<f64>,
    /// Min-max normalised as HELP does: (x - min) / (max - min).
    pub normalized: Vec<f64>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EmbeddingError {
    #[error("no measurement of {missing} reference(s) under these conditions (first: {first})")]
    Missing { missing: usize, first: String },
    #[error("the reference latencies are all equal ({0} ms): they cannot be normalised")]
    Degenerate(f64),
}

impl HardwareEmbedding {
    /// Builds the embedding from the journal's records whose fingerprint equals `fingerprint`;
    /// the newest such record of each reference counts.
    pub fn from_measurements(
        space: &str,
        references: &[String],
        fingerprint: &Fingerprint,
        records: &[Measurement],
    ) -> Result<HardwareEmbedding, EmbeddingError> {
        let mut raw = Vec::with_capacity(references.len());
        let mut missing = Vec::new();
        for r in references {
            match records
                .iter()
                .rev()
                .find(|m| &m.subject == r && &m.fingerprint == fingerprint)
            {
                Some(m) => raw.push(m.stats().median_ms),
                None => missing.push(r.clone()),
            }
        }
        if let Some(first) = missing.first() {
            return Err(EmbeddingError::Missing {
                missing: missing.len(),
                first: first.clone(),
            });
        }
        let (lo, hi) = raw
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                (a.min(x), b.max(x))
            });
        if hi <= lo {
            return Err(EmbeddingError::Degenerate(lo));
        }
        Ok(HardwareEmbedding {
            space: space.to_string(),
            fingerprint: fingerprint.clone(),
            references: references.to_vec(),
            normalized: raw.iter().map(|x| (x - lo) / (hi - lo)).collect(),
            raw_ms: raw,
        })
    }

    /// The embedding of figures obtained otherwise (an oracle table).
    pub fn from_figures(
        space: &str,
        references: &[String],
        fingerprint: &Fingerprint,
        raw_ms: Vec<f64>,
    ) -> Result<HardwareEmbedding, EmbeddingError> {
        let (lo, hi) = raw_ms
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                (a.min(x), b.max(x))
            });
        if hi.is_nan() || lo.is_nan() || hi <= lo {
            return Err(EmbeddingError::Degenerate(lo));
        }
        Ok(HardwareEmbedding {
            space: space.to_string(),
            fingerprint: fingerprint.clone(),
            references: references.to_vec(),
            normalized: raw_ms.iter().map(|x| (x - lo) / (hi - lo)).collect(),
            raw_ms,
        })
    }

    /// The latency-relevant fields in which the live state differs: empty = still valid.
    pub fn stale_fields(&self, live: &Fingerprint) -> Vec<&'static str> {
        self.fingerprint.differences(live)
    }

    pub fn save(&self, path: &Path) -> Result<(), ProfilerError> {
        let io = |source| ProfilerError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut bytes = header().encode().to_vec();
        bytes.extend(postcard::to_stdvec(self).map_err(|e| ProfilerError::Encode(e.to_string()))?);
        // Written aside, fsynced and renamed: a crash never leaves half an embedding.
        edgenas_format::write_atomic(path, &bytes).map_err(io)
    }

    pub fn load(path: &Path) -> Result<HardwareEmbedding, ProfilerError> {
        let bytes = std::fs::read(path).map_err(|source| ProfilerError::Io {
            path: path.display().to_string(),
            source,
        })?;
        header().check(&bytes, path)?;
        postcard::from_bytes(&bytes[edgenas_format::HEADER_LEN..]).map_err(|e| {
            ProfilerError::Corrupt {
                path: path.display().to_string(),
                offset: edgenas_format::HEADER_LEN as u64,
                reason: format!("embedding does not decode ({e})"),
            }
        })
    }
}
