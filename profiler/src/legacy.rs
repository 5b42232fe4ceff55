//! Older journal formats, read into today's records.
//!
//! Format 2 had no precision in the Fingerprint: every network then ran at fp32.

use serde::Deserialize;

use crate::{Conditions, Fingerprint, Flag, Measurement, Protocol, Sample};

/// A format-2 Fingerprint: today's without `precision`.
#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
struct FingerprintV2 {
    board: String,
    cpu_model: String,
    arch: String,
    kernel: String,
    firmware: Option<String>,
    power_mode: Option<String>,
    governor: String,
    runtime: String,
    runtime_version: String,
    threads: usize,
    cpus: Vec<usize>,
}

/// A format-2 record: today's field for field, with a format-2 Fingerprint.
#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
struct MeasurementV2 {
    subject: String,
    space: String,
    unix_time: u64,
    fingerprint: FingerprintV2,
    init_ms: f64,
    protocol: Protocol,
    sample: Sample,
    flags: Vec<Flag>,
    before: Conditions,
    after: Conditions,
}

/// A format-2 record as today's: at fp32.
pub fn measurement_v2(bytes: &[u8]) -> postcard::Result<Measurement> {
    let m: MeasurementV2 = postcard::from_bytes(bytes)?;
    let f = m.fingerprint;
    Ok(Measurement {
        subject: m.subject,
        space: m.space,
        unix_time: m.unix_time,
        fingerprint: Fingerprint {
            board: f.board,
            cpu_model: f.cpu_model,
            arch: f.arch,
            kernel: f.kernel,
            firmware: f.firmware,
            power_mode: f.power_mode,
            governor: f.governor,
            runtime: f.runtime,
            runtime_version: f.runtime_version,
            precision: "fp32".into(),
            threads: f.threads,
            cpus: f.cpus,
        },
        init_ms: m.init_ms,
        protocol: m.protocol,
        sample: m.sample,
        flags: m.flags,
        before: m.before,
        after: m.after,
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::{journal, probe, FileHeader, Kind, Stats, Sysroot};

    fn record(i: usize, cond: &Conditions) -> MeasurementV2 {
        let times: Vec<f64> = (0..20).map(|k| 2.0 + (k + i) as f64 / 100.0).collect();
        MeasurementV2 {
            subject: format!("arch-{i}"),
            space: "nb201".into(),
            unix_time: 1_800_000_000 + i as u64,
            fingerprint: FingerprintV2 {
                board: "Raspberry Pi 4 Model B Rev 1.4".into(),
                cpu_model: "Cortex-A72".into(),
                arch: "aarch64".into(),
                kernel: "6.1.21-v8+".into(),
                firmware: Some("2023/03/17".into()),
                power_mode: None,
                governor: "performance".into(),
                runtime: "tract".into(),
                runtime_version: "0.23.0".into(),
                threads: 4,
                cpus: vec![0, 1, 2, 3],
            },
            init_ms: 3.0,
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
        }
    }

    /// A journal as edgenas wrote it before precision was recorded.
    fn write_v2(path: &std::path::Path, n: usize) -> Vec<MeasurementV2> {
        let cond = probe::read_conditions(&Sysroot::new("/"));
        let records: Vec<MeasurementV2> = (0..n).map(|i| record(i, &cond)).collect();
        let mut f = std::fs::File::create(path).unwrap();
        f.write_all(&FileHeader::new(Kind::Measurements, 2).encode())
            .unwrap();
        for r in &records {
            f.write_all(&journal::frame(r).unwrap()).unwrap();
        }
        records
    }

    fn same(old: &MeasurementV2, new: &Measurement) {
        assert_eq!(new.subject, old.subject);
        assert_eq!(new.sample, old.sample);
        assert_eq!(new.fingerprint.precision, "fp32");
        assert_eq!(new.fingerprint.runtime, old.fingerprint.runtime);
        assert_eq!(new.fingerprint.threads, old.fingerprint.threads);
        assert_eq!(new.fingerprint.cpus, old.fingerprint.cpus);
        assert_eq!(new.before, old.before);
    }

    #[test]
    fn a_format_2_journal_is_read_as_fp32_and_upgraded_when_opened_for_appending() {
        let dir = std::env::temp_dir().join(format!("edgenas-legacy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("measurements.journal");
        let old = write_v2(&path, 3);
        let before = std::fs::read(&path).unwrap();

        // Read-only: decoded as today's records, the file untouched.
        let read = crate::read_measurements(&path).unwrap().records().unwrap();
        assert_eq!(read.len(), 3);
        for (o, n) in old.iter().zip(&read) {
            same(o, n);
        }
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert_eq!(journal::version_of(&path, Kind::Measurements), Some(2));

        // For appending: rewritten as format 3, the original kept byte for byte.
        let mut j = crate::open_measurements(&path).unwrap();
        let kept = j.recovery.upgraded.clone().expect("upgraded");
        assert!(kept
            .to_string_lossy()
            .contains("measurements.journal.format2-"));
        assert_eq!(std::fs::read(&kept).unwrap(), before);
        assert_eq!(
            journal::version_of(&path, Kind::Measurements),
            Some(crate::MEASUREMENT_FORMAT)
        );
        let upgraded = j.records().unwrap();
        assert_eq!(upgraded, read);
        let mut int8 = upgraded[0].clone();
        int8.fingerprint.precision = "int8".into();
        j.append(int8.clone()).unwrap();
        drop(j);

        // Opened again: nothing left to upgrade; the new record reads back at int8.
        let j = crate::open_measurements(&path).unwrap();
        assert_eq!(j.recovery.upgraded, None);
        let all = j.records().unwrap();
        assert_eq!(all.len(), 4);
        assert_eq!(all[3], int8);
        assert_ne!(all[3].fingerprint, all[0].fingerprint);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_record_that_does_not_decode_stops_the_upgrade_and_leaves_the_journal_as_it_was() {
        let dir = std::env::temp_dir().join(format!("edgenas-legacy-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("measurements.journal");
        write_v2(&path, 2);
        // A valid frame (checksum right) whose payload is no format-2 record.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(&journal::frame(&7u8).unwrap()).unwrap();
        drop(f);
        let before = std::fs::read(&path).unwrap();
        let Err(err) = crate::open_measurements(&path) else {
            panic!("a journal with an undecodable record was upgraded");
        };
        let err = err.to_string();
        assert!(err.contains("does not decode as format 2"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.contains("format2")), "{names:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
