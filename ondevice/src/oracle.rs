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
        let wrap = |m: String| LoopError::Oracle(m);
        let col = column.trim_end_matches("_ms");
        let pick = |header: &csv::StringRecord| {
            let find = |name: &str| header.iter().position(|h| h == name);
            find(&format!("{col}_ms"))
                .or_else(|| find(col))
                .ok_or_else(|| {
                    let known: Vec<&str> = header
                        .iter()
                        .filter_map(|h| h.strip_suffix("_ms"))
                        .collect();
                    format!(
                        "no latency column '{col}' (its latency columns are: {})",
                        known.join(", ")
                    )
                })
        };
        let mut latency = HashMap::new();
        let mut archs = Vec::new();
        for row in crate::table::read_rows(space, path, &pick, &wrap)? {
            let ms: f64 = row
                .cell
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v > 0.0)
                .ok_or_else(|| {
                    LoopError::Oracle(format!(
                        "{} line {}: latency '{}' is not a positive number",
                        path.display(),
                        row.line,
                        row.cell
                    ))
                })?;
            if latency.insert(row.arch.clone(), ms).is_none() {
                archs.push(row.arch);
            }
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
