//! Result tables, written as CSV (RFC 4180, 6 significant digits) or GitHub Markdown (4
//! digits): the rows every result-printing command exports. Plain text out; no file I/O here.

/// One cell of a table.
#[derive(Debug, Clone)]
pub enum Cell {
    Text(String),
    Num(f64),
    Int(u64),
    Bool(bool),
    Empty,
}

impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell::Text(s.to_string())
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Cell {
        Cell::Text(s)
    }
}

impl From<f64> for Cell {
    fn from(x: f64) -> Cell {
        Cell::Num(x)
    }
}

impl From<usize> for Cell {
    fn from(x: usize) -> Cell {
        Cell::Int(x as u64)
    }
}

impl From<u64> for Cell {
    fn from(x: u64) -> Cell {
        Cell::Int(x)
    }
}

impl From<bool> for Cell {
    fn from(b: bool) -> Cell {
        Cell::Bool(b)
    }
}

impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(o: Option<T>) -> Cell {
        o.map_or(Cell::Empty, Into::into)
    }
}

impl Cell {
    fn render(&self, digits: usize) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Num(x) => round(*x, digits),
            Cell::Int(i) => i.to_string(),
            Cell::Bool(b) => b.to_string(),
            Cell::Empty => String::new(),
        }
    }
}

/// `x` to `digits` significant digits, without trailing zeros or exponent noise
/// (`0.00016999999999999999` -> `0.00017`).
pub fn round(x: f64, digits: usize) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    if x == 0.0 {
        return "0".into();
    }
    let magnitude = x.abs().log10().floor() as i32;
    let decimals = (digits as i32 - 1 - magnitude).clamp(0, 12) as usize;
    let s = format!("{x:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

/// A table: named columns, one row per result.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn new(columns: &[&'static str]) -> Table {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<Cell>) {
        debug_assert_eq!(row.len(), self.columns.len());
        self.rows.push(row);
    }

    /// RFC 4180 CSV; numbers to 6 significant digits.
    pub fn csv(&self) -> String {
        let mut out = self.columns.join(",") + "\n";
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(|c| csv_field(&c.render(6))).collect();
            out += &cells.join(",");
            out.push('\n');
        }
        out
    }

    /// A GitHub Markdown table; numbers to 4 significant digits, `|` escaped.
    pub fn markdown(&self) -> String {
        let mut out = format!("| {} |\n", self.columns.join(" | "));
        out += &format!(
            "|{}|\n",
            self.columns
                .iter()
                .map(|_| "---")
                .collect::<Vec<_>>()
                .join("|")
        );
        for row in &self.rows {
            let cells: Vec<String> = row
                .iter()
                .map(|c| {
                    let s = c.render(4).replace('|', "\\|");
                    if matches!(c, Cell::Text(_)) && s.contains('~') {
                        // Arch strings in code spans (GFM unescapes `\|` inside them too).
                        format!("`{s}`")
                    } else {
                        s
                    }
                })
                .collect();
            out += &format!("| {} |\n", cells.join(" | "));
        }
        out
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_rounded_to_significant_digits() {
        assert_eq!(round(0.00016999999999999999, 6), "0.00017");
        assert_eq!(round(1.23456789, 4), "1.235");
        assert_eq!(round(1234.5678, 4), "1235");
        assert_eq!(round(2.5, 6), "2.5");
        assert_eq!(round(0.0, 6), "0");
        assert_eq!(round(-0.000001, 2), "-0.000001");
    }

    #[test]
    fn csv_quotes_and_markdown_escapes() {
        let mut t = Table::new(&["subject", "median_ms", "ok"]);
        t.push(vec!["a,b".into(), 1.0f64.into(), true.into()]);
        t.push(vec!["|x~0|".into(), Cell::Empty, false.into()]);
        assert_eq!(
            t.csv(),
            "subject,median_ms,ok\n\"a,b\",1,true\n|x~0|,,false\n"
        );
        let md = t.markdown();
        assert!(
            md.starts_with("| subject | median_ms | ok |\n|---|---|---|\n"),
            "{md}"
        );
        assert!(md.contains("| `\\|x~0\\|` |  | false |"), "{md}");
    }
}
