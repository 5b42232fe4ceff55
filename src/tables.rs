//! Hyperfine-style exports (`--export-json`, `--export-csv`, `--export-markdown`): one table
//! per command ([`edgenas_format::table::Table`]), written in three formats.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use serde_json::Value;

pub use edgenas_format::table::Table;

use crate::output::write_text;

/// The export files a result-printing command can write (any combination).
#[derive(Debug, Args, Clone, Default)]
pub struct ExportFiles {
    /// Also write the results as JSON (the `--json` document) to FILE.
    #[arg(long, value_name = "FILE")]
    pub export_json: Option<PathBuf>,
    /// Also write the results as CSV (one row per result, numbers rounded) to FILE.
    #[arg(long, value_name = "FILE")]
    pub export_csv: Option<PathBuf>,
    /// Also write the results as a Markdown table to FILE.
    #[arg(long, value_name = "FILE")]
    pub export_markdown: Option<PathBuf>,
}

impl ExportFiles {
    /// Whether any export was asked for (the caller can then skip building the table).
    pub fn any(&self) -> bool {
        self.export_json.is_some() || self.export_csv.is_some() || self.export_markdown.is_some()
    }

    /// Writes each requested file (atomically: a failure leaves no partial file).
    pub fn write(&self, json: &Value, table: &Table) -> Result<()> {
        if let Some(p) = &self.export_json {
            write_text(p, &(serde_json::to_string_pretty(json)? + "\n"))?;
        }
        if let Some(p) = &self.export_csv {
            write_text(p, &table.csv())?;
        }
        if let Some(p) = &self.export_markdown {
            write_text(p, &table.markdown())?;
        }
        Ok(())
    }
}
