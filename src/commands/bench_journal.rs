//! `edgenas bench journal`: what opening a large journal costs. Opening streams the file once
//! to verify every checksum and keeps only an index, so its memory should not grow with the
//! records' samples; decoding happens one record at a time.

use std::io::Write;
use std::time::Instant;

use anyhow::{Context, Result};
use edgenas_profiler::journal::frame;
use edgenas_profiler::protocol::{Protocol, Sample};
use edgenas_profiler::stats::Stats;
use edgenas_profiler::{
    measurement_header, open_measurements, probe, read_measurements, Fingerprint, Measurement,
    Sysroot,
};

/// Resident memory now, in MB (NaN where unknown).
fn rss_mb() -> f64 {
    crate::output::status_mb("VmRSS:").unwrap_or(f64::NAN)
}

pub fn open_large(records: usize, samples: usize) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("edgenas-bench-journal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("measurements.journal");
    let result = (|| -> Result<()> {
        let root = Sysroot::new("/");
        let system = probe::read_system(&root);
        let cond = probe::read_conditions(&root);
        let fingerprint = Fingerprint::new(&system, &cond, ("tract", "bench"), 1, vec![]);
        // Written in one stream (one fsync at the end): appending 100,000 records one fsync at
        // a time is the protocol's business, not this benchmark's.
        let t = Instant::now();
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?,
        );
        out.write_all(&measurement_header().encode())?;
        for i in 0..records {
            let times: Vec<f64> = (0..samples)
                .map(|k| 1.0 + ((i * 31 + k * 17) % 97) as f64 / 1000.0)
                .collect();
            let stats = Stats::of(&times);
            let m = Measurement {
                subject: format!("arch-{i}"),
                space: "nb201".into(),
                unix_time: 1_800_000_000 + i as u64,
                fingerprint: fingerprint.clone(),
                init_ms: 1.0,
                protocol: Protocol::default(),
                sample: Sample {
                    samples_ms: times,
                    stats,
                    warmup_runs: 5,
                    rounds: None,
                },
                flags: vec![],
                before: cond.clone(),
                after: cond.clone(),
            };
            out.write_all(&frame(&m)?)?;
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        let written = t.elapsed().as_secs_f64();
        let size_mb = std::fs::metadata(&path)?.len() as f64 / 1e6;

        let rss0 = rss_mb();
        let t = Instant::now();
        let journal = read_measurements(&path)?;
        let read_s = t.elapsed().as_secs_f64();
        let rss_read = rss_mb() - rss0;
        assert_eq!(journal.len(), records);
        drop(journal);
        let t = Instant::now();
        let journal = open_measurements(&path)?;
        let open_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut runs = 0usize;
        let rss1 = rss_mb();
        for m in journal.iter() {
            runs += m?.stats().runs;
        }
        let decode_s = t.elapsed().as_secs_f64();
        let rss_decode = rss_mb() - rss1;
        // What opening did before: every record decoded and held.
        let rss2 = rss_mb();
        let t = Instant::now();
        let all = journal.records()?;
        let all_s = t.elapsed().as_secs_f64();
        let rss_all = rss_mb() - rss2;
        drop(all);
        println!(
            "journal of {records} records x {samples} runs: {size_mb:.1} MB on disk (written in {written:.1} s)"
        );
        println!(
            "open read-only: {read_s:.3} s, resident memory +{rss_read:.1} MB (index: {:.1} MB)",
            records as f64 * 16.0 / 1e6
        );
        println!("open for appending: {open_s:.3} s");
        println!(
            "decode every record once: {decode_s:.3} s ({runs} runs), resident memory +{rss_decode:.1} MB"
        );
        println!(
            "for comparison, every record decoded and held (what opening did before): {all_s:.3} s, resident memory +{rss_all:.1} MB"
        );
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}
