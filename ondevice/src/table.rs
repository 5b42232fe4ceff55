//! Reading CSV tables that hold a search space's arch columns (HELP's latency tables, accuracy
//! tables) with the `csv` crate: quoted fields, and errors that name the file and line.

use std::path::Path;

use edgenas_nas::{Arch, Space};

use crate::LoopError;

/// One row: its arch, the text of the chosen value column, and its line in the file.
pub(crate) struct Row {
    pub arch: Arch,
    pub cell: String,
    pub line: usize,
}

/// Reads every row of `path`; `column` chooses the value column from the header (or says why
/// none fits); `wrap` turns a message into the caller's error.
pub(crate) fn read_rows(
    space: Space,
    path: &Path,
    column: &dyn Fn(&csv::StringRecord) -> Result<usize, String>,
    wrap: &dyn Fn(String) -> LoopError,
) -> Result<Vec<Row>, LoopError> {
    let bad = |reason: String| wrap(format!("{}: {reason}", path.display()));
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
    let value_col = column(&header).map_err(bad)?;
    let arch_cols: Vec<usize> = space
        .table_columns()
        .iter()
        .map(|c| {
            header
                .iter()
                .position(|h| h == *c)
                .ok_or_else(|| bad(format!("a {} table needs the column '{c}'", space.name())))
        })
        .collect::<Result<_, _>>()?;
    let mut rows = Vec::new();
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
        rows.push(Row {
            arch,
            cell: record.get(value_col).unwrap_or("").trim().to_string(),
            line,
        });
    }
    if rows.is_empty() {
        return Err(bad("the table has no rows".into()));
    }
    Ok(rows)
}
