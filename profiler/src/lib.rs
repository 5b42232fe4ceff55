//! edgenas-profiler: probing, the measurement protocol and its statistics, the journal.
//!
//! It times any closure that runs one inference and knows nothing of networks: the subject
//! of a measurement is an opaque string (an arch, a file name). Every outside read goes
//! through [`sysroot::Sysroot`], so fixture trees of real boards replay them.
//!
//! Must not: build or load networks, know search spaces or predictors, or print (cool-down
//! notes go to the caller's callback).

pub mod affinity;
pub mod board;
pub mod embedding;
pub mod export;
pub mod fingerprint;
pub mod journal;
mod legacy;
pub mod probe;
pub mod protocol;
pub mod stats;
pub mod sysroot;

pub use edgenas_format::{FileHeader, Kind};
pub use fingerprint::Fingerprint;
pub use journal::{Damage, Journal, Recovery, Repaired};
pub use probe::{Conditions, Sysroot, System};
pub use protocol::{DoneRounds, FinishedRound, Flag, Protocol, Rounds, RoundsInfo, Sample, Timing};
pub use stats::Stats;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ProfilerError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Format(#[from] edgenas_format::FormatError),
    #[error("{path}: corrupt at byte {offset}: {reason}")]
    Corrupt {
        path: String,
        offset: u64,
        reason: String,
    },
    #[error("cannot encode a record: {0}")]
    Encode(String),
    #[error("bad CPU list '{0}': expected numbers and ranges such as 0-3,6")]
    BadCpuList(String),
    #[error("cannot pin to CPUs {cpus:?}: {reason}")]
    Affinity { cpus: Vec<usize>, reason: String },
    /// A protocol parameter out of range, named by its flag.
    #[error("{0}")]
    Protocol(String),
}

/// Version of the measurement journal's record format.
/// Version 2: samples say whether they were taken in interleaved rounds.
/// Version 3: the Fingerprint says the precision; a version-2 journal is read as fp32, and
/// rewritten as version 3 when opened for appending (the original kept beside it).
pub const MEASUREMENT_FORMAT: u16 = 3;

pub fn measurement_header() -> FileHeader {
    FileHeader::new(Kind::Measurements, MEASUREMENT_FORMAT)
}

/// One measurement as the journal keeps it: what was timed, under which conditions, the raw
/// per-run latencies, their statistics and the flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// What was measured: an arch string or a model file name.
    pub subject: String,
    /// Search space of the subject, or "onnx" for a file.
    pub space: String,
    /// Seconds since the Unix epoch when sampling ended.
    pub unix_time: u64,
    pub fingerprint: Fingerprint,
    pub init_ms: f64,
    pub protocol: Protocol,
    pub sample: Sample,
    pub flags: Vec<Flag>,
    pub before: Conditions,
    pub after: Conditions,
}

impl Measurement {
    pub fn stats(&self) -> &Stats {
        &self.sample.stats
    }

    /// A stable identity of the record: the first 128 bits of the SHA-256 of its encoding
    /// (postcard is deterministic), the same on every machine. Merging journals fetched from
    /// boards keys on it, so fetching twice adds nothing twice.
    pub fn identity(&self) -> String {
        use sha2::{Digest, Sha256};
        let bytes = postcard::to_stdvec(self).expect("a measurement always encodes");
        Sha256::digest(bytes)[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// What merging one journal into another did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Merged {
    pub added: usize,
    pub already: usize,
}

/// Appends to the journal at `into` every record of `from` it does not hold yet (by
/// [`Measurement::identity`]), in `from`'s order. Idempotent.
pub fn merge_measurements(
    into: &std::path::Path,
    from: &std::path::Path,
) -> Result<Merged, ProfilerError> {
    let source = read_measurements(from)?;
    let mut target = open_measurements(into)?;
    let mut known = std::collections::HashSet::new();
    for m in target.iter() {
        known.insert(m?.identity());
    }
    let mut merged = Merged {
        added: 0,
        already: 0,
    };
    for m in source.iter() {
        let m = m?;
        if known.insert(m.identity()) {
            target.append(m)?;
            merged.added += 1;
        } else {
            merged.already += 1;
        }
    }
    Ok(merged)
}

pub type MeasurementJournal = Journal<Measurement>;

/// The measurement journal, for appending (created when missing). A journal of format 2 is
/// upgraded first; `recovery.upgraded` says where its original was kept.
pub fn open_measurements(path: &std::path::Path) -> Result<MeasurementJournal, ProfilerError> {
    let upgraded = match journal::version_of(path, Kind::Measurements) {
        Some(2) => Some(journal::upgrade(
            path,
            FileHeader::new(Kind::Measurements, 2),
            measurement_header(),
            legacy::measurement_v2,
        )?),
        _ => None,
    };
    let mut journal = Journal::open(path, measurement_header())?;
    journal.recovery.upgraded = upgraded;
    Ok(journal)
}

/// The measurement journal, read-only: never modified, whatever is found (a format-2 journal
/// is read as it is, its records at fp32).
pub fn read_measurements(path: &std::path::Path) -> Result<MeasurementJournal, ProfilerError> {
    match journal::version_of(path, Kind::Measurements) {
        Some(2) => Journal::read_with(
            path,
            FileHeader::new(Kind::Measurements, 2),
            legacy::measurement_v2,
        ),
        _ => Journal::read(path, measurement_header()),
    }
}
