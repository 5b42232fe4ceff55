//! What opening a large journal costs. Opening streams the file once to verify every
//! checksum and keeps only an index, so its memory should not grow with the records' samples;
//! decoding happens one record at a time.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use edgenas_profiler::journal::frame;
use edgenas_profiler::protocol::{Protocol, Sample};
use edgenas_profiler::stats::Stats;
use edgenas_profiler::{
    measurement_header, open_measurements, probe, read_measurements, Fingerprint, Measurement,
    Sysroot,
};

use crate::LoopError;

/// Seconds and resident memory (MB, NaN where unknown) of each way of opening.
#[derive(Debug, Clone)]
pub struct JournalOpening {
    pub records: usize,
    pub samples: usize,
    pub size_mb: f64,
    pub written_s: f64,
    pub read_s: f64,
    pub read_rss_mb: f64,
    pub open_s: f64,
    pub decode_s: f64,
    pub decode_rss_mb: f64,
    /// Runs counted while decoding (what the decoding read).
    pub runs: usize,
    /// Every record decoded and held: what opening did before the index.
    pub all_s: f64,
    pub all_rss_mb: f64,
}

/// A journal of `records` records of `samples` runs each, written to a temporary directory,
/// then opened read-only, for appending, decoded once, and decoded and held.
pub fn open_large(
    records: usize,
    samples: usize,
    rss_mb: &dyn Fn() -> f64,
) -> Result<JournalOpening, LoopError> {
    let dir = std::env::temp_dir().join(format!("edgenas-bench-journal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(LoopError::io(&dir))?;
    let result = measure(&dir.join("measurements.journal"), records, samples, rss_mb);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn measure(
    path: &Path,
    records: usize,
    samples: usize,
    rss_mb: &dyn Fn() -> f64,
) -> Result<JournalOpening, LoopError> {
    let t = Instant::now();
    write_journal(path, records, samples).map_err(LoopError::io(path))?;
    let written_s = t.elapsed().as_secs_f64();
    let size_mb = std::fs::metadata(path).map_err(LoopError::io(path))?.len() as f64 / 1e6;
    let rss0 = rss_mb();
    let t = Instant::now();
    let journal = read_measurements(path)?;
    let read_s = t.elapsed().as_secs_f64();
    let read_rss_mb = rss_mb() - rss0;
    drop(journal);
    let t = Instant::now();
    let journal = open_measurements(path)?;
    let open_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut runs = 0usize;
    let rss1 = rss_mb();
    for m in journal.iter() {
        runs += m?.stats().runs;
    }
    let decode_s = t.elapsed().as_secs_f64();
    let decode_rss_mb = rss_mb() - rss1;
    let rss2 = rss_mb();
    let t = Instant::now();
    let all = journal.records()?;
    let all_s = t.elapsed().as_secs_f64();
    let all_rss_mb = rss_mb() - rss2;
    drop(all);
    Ok(JournalOpening {
        records,
        samples,
        size_mb,
        written_s,
        read_s,
        read_rss_mb,
        open_s,
        decode_s,
        decode_rss_mb,
        runs,
        all_s,
        all_rss_mb,
    })
}

/// Written in one stream (one fsync at the end): appending 100,000 records one fsync at a
/// time is the protocol's business, not this benchmark's.
fn write_journal(path: &Path, records: usize, samples: usize) -> std::io::Result<()> {
    let root = Sysroot::new("/");
    let system = probe::read_system(&root);
    let cond = probe::read_conditions(&root);
    let fingerprint = Fingerprint::new(&system, &cond, ("tract", "bench"), "fp32", 1, vec![]);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    out.write_all(&measurement_header().encode())?;
    for i in 0..records {
        let times: Vec<f64> = (0..samples)
            .map(|k| 1.0 + ((i * 31 + k * 17) % 97) as f64 / 1000.0)
            .collect();
        let m = Measurement {
            subject: format!("arch-{i}"),
            space: "nb201".into(),
            unix_time: 1_800_000_000 + i as u64,
            fingerprint: fingerprint.clone(),
            init_ms: 1.0,
            protocol: Protocol::default(),
            sample: Sample {
                stats: Stats::of(&times),
                samples_ms: times,
                warmup_runs: 5,
                rounds: None,
            },
            flags: vec![],
            before: cond.clone(),
            after: cond.clone(),
        };
        out.write_all(&frame(&m).map_err(std::io::Error::other)?)?;
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()
}
