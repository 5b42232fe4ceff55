//! Oracle mode: latencies read from a published table instead of measured.
//!
//! It reproduces HELP's latency-constrained NAS on HELP's devices on any machine, and lets the
//! loop run where timing means nothing (qemu). Oracle figures carry a Fingerprint of their own
//! (`runtime = "oracle"`), are never written to the journal, and so never mix with real
//! measurements.

use std::collections::HashMap;
use std::path::Path;

use edgenas_nas::{Arch, Space};

use crate::LoopError;

pub struct OracleTable {
    pub space: Space,
    /// The file's name and the column, for provenance.
    pub source: String,
    pub column: String,
    latency: HashMap<Arch, f64>,
    /// Archs in table order (the pool oracle-mode adapt and validate draw from).
    pub archs: Vec<Arch>,
}

impl OracleTable {
    /// Reads `column` (with or without `_ms`) of a latency CSV holding `space`'s arch columns.
    pub fn read(space: Space, path: &Path, column: &str) -> Result<OracleTable, LoopError> {
        let bad = |reason: String| LoopError::Oracle(format!("{}: {reason}", path.display()));
        let mut reader = csv::Reader::from_path(path).map_err(|e| match e.into_kind() {
            csv::ErrorKind::Io(source) => LoopError::Io {
                path: path.display().to_string(),
                source,
            },
            other => bad(format!("{other:?}")),
        })?;
        let header = reader
            .headers()
            .map_err(|e| bad(format!("no header line ({e})")))?
            .clone();
        let col = column.trim_end_matches("_ms");
        let find = |name: &str| header.iter().position(|h| h == name);
        let value_col = find(&format!("{col}_ms"))
            .or_else(|| find(col))
            .ok_or_else(|| {
                let known: Vec<&str> = header
                    .iter()
                    .filter_map(|h| h.strip_suffix("_ms"))
                    .collect();
                bad(format!(
                    "no latency column '{col}' (its latency columns are: {})",
                    known.join(", ")
                ))
            })?;
        let arch_cols: Vec<usize> = space
            .table_columns()
            .iter()
            .map(|c| {
                find(c)
                    .ok_or_else(|| bad(format!("a {} table needs the column '{c}'", space.name())))
            })
            .collect::<Result<_, _>>()?;
        let mut latency = HashMap::new();
        let mut archs = Vec::new();
        for (i, record) in reader.records().enumerate() {
            let line = i + 2;
            let record = record.map_err(|e| bad(format!("line {line}: {e}")))?;
            let keys: Vec<&str> = arch_cols
                .iter()
                .map(|&c| record.get(c).unwrap_or(""))
                .collect();
            let arch = space
                .arch_from_columns(&keys)
                .map_err(|e| bad(format!("line {line}: {e}")))?;
            let cell = record.get(value_col).unwrap_or("");
            let ms: f64 = cell
                .trim()
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v > 0.0)
                .ok_or_else(|| {
                    bad(format!(
                        "line {line}: latency '{cell}' is not a positive number"
                    ))
                })?;
            if latency.insert(arch.clone(), ms).is_none() {
                archs.push(arch);
            }
        }
        if archs.is_empty() {
            return Err(bad("the table has no rows".into()));
        }
        Ok(OracleTable {
            space,
            source: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string()),
            column: col.to_string(),
            latency,
            archs,
        })
    }

    pub fn latency_ms(&self, arch: &Arch) -> Option<f64> {
        self.latency.get(arch).copied()
    }

    /// The table's latencies, in table order.
    pub fn all_ms(&self) -> Vec<f64> {
        self.archs.iter().map(|a| self.latency[a]).collect()
    }
}
