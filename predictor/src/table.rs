//! Latency tables: CSV with some arch columns and one `<device>_ms` column per device.

use std::path::Path;

use crate::PredictorError;

#[derive(Debug, Clone)]
pub struct LatencyTable {
    /// Where the table came from (for messages).
    pub source: String,
    /// Names of the columns that are not latencies (index, arch string, ...).
    pub key_columns: Vec<String>,
    /// Per row, the values of `key_columns`.
    pub keys: Vec<Vec<String>>,
    /// Device names: the latency columns without `_ms`.
    pub devices: Vec<String>,
    /// `latency[device][row]` in milliseconds.
    pub latency: Vec<Vec<f32>>,
}

impl LatencyTable {
    pub fn read(path: &Path) -> Result<LatencyTable, PredictorError> {
        let text = std::fs::read_to_string(path).map_err(|e| PredictorError::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        LatencyTable::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, source: &str) -> Result<LatencyTable, PredictorError> {
        let bad = |line: usize, why: String| PredictorError::Table {
            file: source.to_string(),
            line,
            reason: why,
        };
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let (_, header) = lines
            .next()
            .ok_or_else(|| bad(1, "the file is empty".into()))?;
        let header = split_csv_line(header);
        let mut key_idx = Vec::new();
        let mut dev_idx = Vec::new();
        let mut table = LatencyTable {
            source: source.to_string(),
            key_columns: Vec::new(),
            keys: Vec::new(),
            devices: Vec::new(),
            latency: Vec::new(),
        };
        for (i, name) in header.iter().enumerate() {
            match name.strip_suffix("_ms") {
                Some(dev) if !dev.is_empty() => {
                    if table.devices.iter().any(|d| d == dev) {
                        return Err(bad(1, format!("device column '{name}' appears twice")));
                    }
                    dev_idx.push(i);
                    table.devices.push(dev.to_string());
                }
                _ => {
                    key_idx.push(i);
                    table.key_columns.push(name.clone());
                }
            }
        }
        if dev_idx.is_empty() {
            return Err(bad(1, "no latency column (named <device>_ms)".into()));
        }
        table.latency = vec![Vec::new(); dev_idx.len()];
        for (n, line) in lines {
            let cells = split_csv_line(line);
            if cells.len() != header.len() {
                return Err(bad(
                    n + 1,
                    format!(
                        "{} columns where the header has {}",
                        cells.len(),
                        header.len()
                    ),
                ));
            }
            table
                .keys
                .push(key_idx.iter().map(|&i| cells[i].clone()).collect());
            for (d, &i) in dev_idx.iter().enumerate() {
                let cell = cells[i].trim();
                let v: f32 = cell.parse().map_err(|_| {
                    bad(
                        n + 1,
                        format!("'{cell}' in column {} is not a latency in ms", header[i]),
                    )
                })?;
                if !(v.is_finite() && v > 0.0) {
                    return Err(bad(
                        n + 1,
                        format!("latency {cell} in column {} must be positive", header[i]),
                    ));
                }
                table.latency[d].push(v);
            }
        }
        if table.keys.is_empty() {
            return Err(bad(1, "the table has no rows".into()));
        }
        Ok(table)
    }

    pub fn rows(&self) -> usize {
        self.keys.len()
    }

    /// Index of a non-latency column.
    pub fn key_column(&self, name: &str) -> Result<usize, PredictorError> {
        self.key_columns
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| PredictorError::MissingColumn {
                file: self.source.clone(),
                column: name.to_string(),
            })
    }

    /// Latencies (ms) of one device, by row.
    pub fn device(&self, name: &str) -> Result<&[f32], PredictorError> {
        match self.devices.iter().position(|d| d == name) {
            Some(i) => Ok(&self.latency[i]),
            None => Err(PredictorError::UnknownDevice {
                file: self.source.clone(),
                device: name.to_string(),
                known: self.devices.join(", "),
            }),
        }
    }
}

/// Splits one CSV line; double quotes protect commas and `""` is a quote.
pub fn split_csv_line(line: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => cells.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    cells.push(cur);
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keys_and_devices() {
        let t =
            LatencyTable::parse("index,arch,a_ms,b_ms\n0,x,1.5,2\n1,\"y,z\",3,4\n", "t").unwrap();
        assert_eq!(t.devices, ["a", "b"]);
        assert_eq!(t.key_columns, ["index", "arch"]);
        assert_eq!(t.keys[1], ["1", "y,z"]);
        assert_eq!(t.device("b").unwrap(), &[2.0, 4.0]);
    }

    #[test]
    fn refuses_bad_cells_with_line_and_column() {
        let e = LatencyTable::parse("arch,a_ms\nx,fast\n", "t.csv")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("t.csv line 2") && e.contains("'fast'") && e.contains("a_ms"),
            "{e}"
        );
        let e = LatencyTable::parse("arch,a_ms\nx,-1\n", "t.csv")
            .unwrap_err()
            .to_string();
        assert!(e.contains("positive"), "{e}");
        let e = LatencyTable::parse("arch,a_ms\nx\n", "t.csv")
            .unwrap_err()
            .to_string();
        assert!(e.contains("1 columns where the header has 2"), "{e}");
        let e = LatencyTable::parse("arch,a_ms\nx,1\n", "t.csv")
            .unwrap()
            .device("b")
            .unwrap_err();
        assert!(e.to_string().contains("no device 'b'"), "{e}");
    }
}
