//! Formatting shared by the commands.

pub use edgenas_ondevice::ms;

/// Peak resident memory of this process in MB (Linux's VmHWM), if known.
pub fn peak_rss_mb() -> Option<f64> {
    status_mb("VmHWM:")
}

/// A memory figure of this process's /proc/self/status in MB (`VmRSS:` now, `VmHWM:` peak).
pub fn status_mb(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

pub use edgenas_profiler::affinity::cpu_list;

/// The conditions of a Fingerprint in one line, for headings.
pub fn fingerprint_summary(fp: &edgenas_profiler::Fingerprint) -> String {
    fp.summary()
}

/// Shortens a long subject for a table column.
pub fn ellipsize(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let head: String = s.chars().take(max.saturating_sub(1)).collect();
        format!("{head}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_scale() {
        assert_eq!(ms(0.0123), "12.3 µs");
        assert_eq!(ms(12.3456), "12.346 ms");
        assert_eq!(ms(1234.0), "1234.0 ms");
    }
}

/// Ends the program with this exit status; the message (if any) is printed as the error line.
/// For commands whose status is another program's (`remote run` exits with the job's).
#[derive(Debug)]
pub struct Exit {
    pub code: u8,
    pub message: Option<String>,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.message {
            Some(m) => f.write_str(m),
            None => write!(f, "exit status {}", self.code),
        }
    }
}

impl std::error::Error for Exit {}

pub use edgenas_nas::short_id;

/// Writes a text file atomically (a failure leaves no partial file).
pub fn write_text(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    edgenas_format::write_atomic(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Prints `x` as pretty JSON with its keys sorted at every level, as every `--json` document
/// of edgenas is (a struct's fields would otherwise come in declaration order).
pub fn print_json(x: &impl serde::Serialize) -> anyhow::Result<()> {
    let sorted = serde_json::to_value(x)?;
    println!("{}", serde_json::to_string_pretty(&sorted)?);
    Ok(())
}
