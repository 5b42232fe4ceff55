//! Measurements as others read them: the `--json` element of `results` (hyperfine's shape with
//! the full Fingerprint and conditions), the results table of `profile` and `journal show`,
//! and the full table of `journal export`.

use edgenas_format::table::{Cell, Table};
use serde::Serialize;

use crate::{Conditions, Fingerprint, Measurement};

/// What a record's `space` field says: an arch of a search space, or a model file.
pub fn kind_and_space(space: &str) -> (&'static str, Option<&str>) {
    match space {
        "onnx" => ("onnx", None),
        "tflite" => ("tflite", None),
        s => ("arch", Some(s)),
    }
}

/// The conditions before and after a measurement.
#[derive(Debug, Serialize)]
pub struct BeforeAfter<'a> {
    pub before: &'a Conditions,
    pub after: &'a Conditions,
}

/// A measurement as a `results` element: what was measured (`subject`, `kind`:
/// arch|onnx|tflite, `space`), whether it came from the journal (`resumed`), the headline
/// figures, then the full fingerprint and conditions.
#[derive(Debug, Serialize)]
pub struct MeasurementSummary<'a> {
    pub subject: &'a str,
    pub kind: &'static str,
    pub space: Option<&'a str>,
    pub resumed: bool,
    pub id: String,
    pub runtime: &'a str,
    pub runtime_version: &'a str,
    pub precision: &'a str,
    pub threads: usize,
    pub cpus: &'a [usize],
    pub median_ms: f64,
    pub mad_ms: f64,
    pub mean_ms: f64,
    pub std_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub p10_ms: f64,
    pub p90_ms: f64,
    pub cv: f64,
    pub runs: usize,
    pub outliers: usize,
    pub median_ci95_rel: f64,
    pub warmup_runs: usize,
    pub init_ms: f64,
    pub unix_time: u64,
    pub flags: Vec<&'static str>,
    pub flag_details: Vec<String>,
    pub fingerprint: &'a Fingerprint,
    pub conditions: BeforeAfter<'a>,
}

impl Measurement {
    pub fn summary(&self, resumed: bool) -> MeasurementSummary<'_> {
        let s = self.stats();
        let (kind, space) = kind_and_space(&self.space);
        let fp = &self.fingerprint;
        MeasurementSummary {
            subject: &self.subject,
            kind,
            space,
            resumed,
            id: self.identity(),
            runtime: &fp.runtime,
            runtime_version: &fp.runtime_version,
            precision: &fp.precision,
            threads: fp.threads,
            cpus: &fp.cpus,
            median_ms: s.median_ms,
            mad_ms: s.mad_ms,
            mean_ms: s.mean_ms,
            std_ms: s.std_ms,
            min_ms: s.min_ms,
            max_ms: s.max_ms,
            p10_ms: s.p10_ms,
            p90_ms: s.p90_ms,
            cv: s.cv,
            runs: s.runs,
            outliers: s.outliers,
            median_ci95_rel: s.median_ci_rel,
            warmup_runs: self.sample.warmup_runs,
            init_ms: self.init_ms,
            unix_time: self.unix_time,
            flags: self.flags.iter().map(|f| f.code()).collect(),
            flag_details: self.flags.iter().map(|f| f.to_string()).collect(),
            fingerprint: fp,
            conditions: BeforeAfter {
                before: &self.before,
                after: &self.after,
            },
        }
    }

    fn flag_codes(&self, sep: &str) -> String {
        self.flags
            .iter()
            .map(|f| f.code())
            .collect::<Vec<_>>()
            .join(sep)
    }
}

/// The results table of measurements (`profile`, `journal show`): one row each.
pub fn results_table<'a>(rows: impl Iterator<Item = (&'a Measurement, bool)>) -> Table {
    let columns = [
        &[
            "subject",
            "kind",
            "space",
            "runtime",
            "runtime_version",
            "precision",
            "threads",
        ][..],
        &STAT_COLUMNS,
        &["runs", "flags", "resumed"],
    ];
    let mut t = Table::new(&columns.concat());
    for (m, resumed) in rows {
        let s = m.stats();
        let (kind, space) = kind_and_space(&m.space);
        let fp = &m.fingerprint;
        let mut row: Vec<Cell> = vec![
            m.subject.clone().into(),
            kind.into(),
            space.into(),
            fp.runtime.clone().into(),
            fp.runtime_version.clone().into(),
            fp.precision.clone().into(),
            fp.threads.into(),
        ];
        row.extend(stat_cells(s));
        row.extend([s.runs.into(), m.flag_codes(" ").into(), resumed.into()]);
        t.push(row);
    }
    t
}

/// The table of `journal export`: every measurement with its full conditions, one row each
/// ([`full_row`]).
pub fn full_table() -> Table {
    let columns = [
        &[
            "unix_time",
            "space",
            "subject",
            "board",
            "cpu_model",
            "arch",
            "kernel",
            "firmware",
            "power_mode",
            "governor",
            "runtime",
            "runtime_version",
            "precision",
            "threads",
            "cpus",
            "runs",
        ][..],
        &STAT_COLUMNS,
        &["outliers", "init_ms", "flags"],
    ];
    Table::new(&columns.concat())
}

/// One `journal export` row (numbers are rounded when the table is written).
pub fn full_row(m: &Measurement) -> Vec<Cell> {
    let s = m.stats();
    let f = &m.fingerprint;
    let cpus: Vec<String> = f.cpus.iter().map(|c| c.to_string()).collect();
    [
        Cell::Int(m.unix_time),
        m.space.clone().into(),
        m.subject.clone().into(),
        f.board.clone().into(),
        f.cpu_model.clone().into(),
        f.arch.clone().into(),
        f.kernel.clone().into(),
        f.firmware.clone().into(),
        f.power_mode.clone().into(),
        f.governor.clone().into(),
        f.runtime.clone().into(),
        f.runtime_version.clone().into(),
        f.precision.clone().into(),
        f.threads.into(),
        cpus.join(" ").into(),
        s.runs.into(),
    ]
    .into_iter()
    .chain(stat_cells(s))
    .chain([
        s.outliers.into(),
        m.init_ms.into(),
        m.flag_codes(" ").into(),
    ])
    .collect()
}

/// The sample's figures as both tables show them ([`stat_cells`]).
const STAT_COLUMNS: [&str; 9] = [
    "median_ms",
    "mad_ms",
    "mean_ms",
    "std_ms",
    "min_ms",
    "max_ms",
    "p10_ms",
    "p90_ms",
    "cv",
];

/// The sample's figures as both tables show them: median, MAD, mean, std, min, max, p10,
/// p90, CV.
fn stat_cells(s: &crate::Stats) -> [Cell; 9] {
    [
        s.median_ms.into(),
        s.mad_ms.into(),
        s.mean_ms.into(),
        s.std_ms.into(),
        s.min_ms.into(),
        s.max_ms.into(),
        s.p10_ms.into(),
        s.p90_ms.into(),
        s.cv.into(),
    ]
}
