//! A timing program's batch in progress, kept round by round beside the journal.
//!
//! The journal takes a batch's figures when its last round ends: an interleaved figure is the
//! median over every round. Through a timing program each round is one start of the program
//! per subject (TensorRT's `trtexec` builds an engine at each), so a batch of ten archs is
//! minutes to hours on a Jetson, all lost to a reboot or a dropped SSH link. So each round
//! is appended, as it ends, to `<journal>.rounds` (the journal's own crash-safe framing, its
//! own header); a rerun that times the same subjects under the same Fingerprint goes on from
//! the rounds it finds, and the file is removed once the batch is in the journal. Its records
//! carry the resuming sitting's pre- and post-flight conditions; the Fingerprint is the same
//! by construction. In-process runtimes finish a batch in seconds, so they keep nothing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use edgenas_profiler::{
    DoneRounds, FileHeader, Fingerprint, FinishedRound, Journal, Kind, ProfilerError,
};
use serde::{Deserialize, Serialize};

/// Version of the rounds file's record format.
pub const ROUNDS_FORMAT: u16 = 1;

/// One finished round of one batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Round {
    fingerprint: Fingerprint,
    /// The batch's subjects, in its order.
    subjects: Vec<String>,
    /// The round's index in the batch, from 0.
    round: u32,
    /// Sampling time of the batch up to this round's end, over every sitting.
    elapsed_s: f64,
    /// Each subject's value this round, in `subjects` order.
    fastest_ms: Vec<f64>,
}

/// A batch in progress as its rounds file holds it (`journal check`).
#[derive(Debug, Clone, PartialEq)]
pub struct PendingBatch {
    /// Its subjects, in its order.
    pub subjects: Vec<String>,
    /// The runtime that times it (the Fingerprint's).
    pub runtime: String,
    /// Rounds a rerun would go on from (from round 0, without a gap).
    pub rounds: usize,
}

/// The batches `<journal>.rounds` holds rounds of, read-only; none without the file.
pub fn pending(journal: &Path) -> Result<Vec<PendingBatch>, ProfilerError> {
    let path = BatchRounds::path(journal);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let file = Journal::<Round>::read(&path, FileHeader::new(Kind::Rounds, ROUNDS_FORMAT))?;
    Ok(batches_in(&file)?
        .into_iter()
        .map(|b| PendingBatch {
            runtime: b.fingerprint.runtime,
            subjects: b.subjects,
            rounds: b.rounds.len(),
        })
        .collect())
}

/// One batch's rounds in a rounds file.
struct KeptBatch {
    fingerprint: Fingerprint,
    subjects: Vec<String>,
    /// From round 0, without a gap: what a rerun goes on from.
    rounds: Vec<Round>,
}

/// Every batch `file` holds rounds of, in the order first seen. A round whose values do not
/// match its subjects is left out; of a round kept twice, the later.
fn batches_in(file: &Journal<Round>) -> Result<Vec<KeptBatch>, ProfilerError> {
    let mut found: Vec<(Fingerprint, Vec<String>, Vec<Option<Round>>)> = Vec::new();
    for r in file.iter() {
        let r = r?;
        if r.fastest_ms.len() != r.subjects.len() {
            continue;
        }
        let at = match found
            .iter()
            .position(|(f, s, _)| *f == r.fingerprint && *s == r.subjects)
        {
            Some(at) => at,
            None => {
                found.push((r.fingerprint.clone(), r.subjects.clone(), Vec::new()));
                found.len() - 1
            }
        };
        let rounds = &mut found[at].2;
        let i = r.round as usize;
        if i >= rounds.len() {
            rounds.resize(i + 1, None);
        }
        rounds[i] = Some(r);
    }
    Ok(found
        .into_iter()
        .map(|(fingerprint, subjects, rounds)| KeptBatch {
            fingerprint,
            subjects,
            rounds: rounds.into_iter().map_while(|r| r).collect(),
        })
        .collect())
}

/// The rounds file of one batch, open for appending.
pub struct BatchRounds {
    journal: Journal<Round>,
    fingerprint: Fingerprint,
    subjects: Vec<String>,
}

impl BatchRounds {
    /// Where the rounds of batches timed for `journal` are kept.
    pub fn path(journal: &Path) -> PathBuf {
        journal.with_extension("rounds")
    }

    /// Opens the rounds file beside `journal` for the batch of `subjects`, with the rounds an
    /// interrupted sitting finished for exactly this batch under `fingerprint` (from round 0,
    /// without a gap). Rounds of any other batch are left out.
    pub fn open(
        journal: &Path,
        fingerprint: &Fingerprint,
        subjects: Vec<String>,
    ) -> Result<(BatchRounds, DoneRounds), ProfilerError> {
        let journal = Journal::<Round>::open(
            &Self::path(journal),
            FileHeader::new(Kind::Rounds, ROUNDS_FORMAT),
        )?;
        let done: Vec<Round> = batches_in(&journal)?
            .into_iter()
            .find(|b| b.fingerprint == *fingerprint && b.subjects == subjects)
            .map_or_else(Vec::new, |b| b.rounds);
        let done = DoneRounds {
            elapsed: done.last().map_or(Duration::ZERO, |r| {
                Duration::try_from_secs_f64(r.elapsed_s).unwrap_or_default()
            }),
            rounds: done.into_iter().map(|r| r.fastest_ms).collect(),
        };
        let kept = BatchRounds {
            journal,
            fingerprint: fingerprint.clone(),
            subjects,
        };
        Ok((kept, done))
    }

    /// Appends a round just finished.
    pub fn keep(&mut self, r: &FinishedRound) -> Result<(), ProfilerError> {
        self.journal.append(Round {
            fingerprint: self.fingerprint.clone(),
            subjects: self.subjects.clone(),
            round: r.round as u32,
            elapsed_s: r.elapsed.as_secs_f64(),
            fastest_ms: r.fastest_ms.clone(),
        })
    }

    /// The batch is in the journal: its rounds are done with.
    pub fn close(self) -> std::io::Result<()> {
        let path = self.journal.path().to_path_buf();
        drop(self.journal);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprint(runtime: &str) -> Fingerprint {
        let system = edgenas_profiler::probe::read_system(&edgenas_profiler::Sysroot::new("/"));
        let conditions = edgenas_profiler::Conditions::default();
        Fingerprint::new(&system, &conditions, (runtime, "1"), "fp32", 1, vec![])
    }

    fn round(i: usize, ms: &[f64]) -> FinishedRound {
        FinishedRound {
            round: i,
            elapsed: Duration::from_secs(i as u64 + 1),
            fastest_ms: ms.to_vec(),
        }
    }

    #[test]
    fn a_batch_goes_on_from_its_own_rounds_only() {
        let dir = std::env::temp_dir().join(format!("edgenas-rounds-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let journal = dir.join("measurements.journal");
        let ab = vec!["a".to_string(), "b".to_string()];
        let fp = fingerprint("exec:trtexec");

        let (mut kept, done) = BatchRounds::open(&journal, &fp, ab.clone()).unwrap();
        assert!(done.rounds.is_empty());
        kept.keep(&round(0, &[1.0, 2.0])).unwrap();
        kept.keep(&round(1, &[1.5, 2.5])).unwrap();
        drop(kept); // interrupted: nothing closes it

        // Another batch, or the same subjects under another Fingerprint: nothing to go on from.
        let ba = vec!["b".to_string(), "a".to_string()];
        let (mut other, done) = BatchRounds::open(&journal, &fp, ba).unwrap();
        assert!(done.rounds.is_empty());
        other.keep(&round(0, &[9.0, 9.0])).unwrap();
        let (_, done) = BatchRounds::open(&journal, &fingerprint("exec:sh"), ab.clone()).unwrap();
        assert!(done.rounds.is_empty());

        // The same batch: its two rounds, in order, and their time.
        let (mut kept, done) = BatchRounds::open(&journal, &fp, ab.clone()).unwrap();
        assert_eq!(done.rounds, [vec![1.0, 2.0], vec![1.5, 2.5]]);
        assert_eq!(done.elapsed, Duration::from_secs(2));
        // A gap ends what can be gone on from.
        kept.keep(&round(3, &[7.0, 7.0])).unwrap();
        let (kept, done) = BatchRounds::open(&journal, &fp, ab.clone()).unwrap();
        assert_eq!(done.rounds.len(), 2);

        let batches = pending(&journal).unwrap();
        let rounds: Vec<(usize, usize)> = batches
            .iter()
            .map(|b| (b.subjects.len(), b.rounds))
            .collect();
        assert_eq!(rounds, [(2, 2), (2, 1)], "{batches:?}");
        assert_eq!(batches[0].subjects, ["a", "b"]);

        kept.close().unwrap();
        assert_eq!(pending(&journal).unwrap(), []);
        assert!(!BatchRounds::path(&journal).exists());
        let (_, done) = BatchRounds::open(&journal, &fp, ab).unwrap();
        assert!(done.rounds.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
