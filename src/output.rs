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

/// A short id for a subject, for progress lines: NB201 cells as their six ops
/// (`nb201:3/3a/s13`: 3 conv3x3, 1 conv1x1, a avg-pool, s skip, - none), other archs as their
/// space and a hash prefix, files as their name.
pub fn short_id(subject: &str) -> String {
    if subject.starts_with('|') && subject.contains('~') {
        let nodes: Vec<String> = subject
            .split('+')
            .map(|node| {
                node.split('|')
                    .filter(|e| !e.is_empty())
                    .map(|e| match e.split('~').next().unwrap_or("") {
                        "none" => '-',
                        "skip_connect" => 's',
                        "nor_conv_1x1" => '1',
                        "nor_conv_3x3" => '3',
                        "avg_pool_3x3" => 'a',
                        _ => '?',
                    })
                    .collect()
            })
            .collect();
        return format!("nb201:{}", nodes.join("/"));
    }
    let path = std::path::Path::new(subject);
    if path
        .extension()
        .is_some_and(|e| e == "onnx" || e == "tflite")
    {
        return path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| subject.to_string());
    }
    use sha2::Digest;
    let hash = sha2::Sha256::digest(subject.as_bytes());
    let space = if subject.contains("ks=") || subject.starts_with('{') {
        "ofa"
    } else if subject.contains('-') {
        "fbnet"
    } else {
        "arch"
    };
    format!(
        "{space}#{}",
        hash[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

#[cfg(test)]
mod short_id_tests {
    use super::short_id;

    #[test]
    fn short_ids_tell_archs_apart() {
        assert_eq!(
            short_id("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"),
            "nb201:3/3a/s13"
        );
        assert_eq!(short_id("/tmp/x/model.onnx"), "model.onnx");
        let a = short_id("k3_e1-skip-k5_e6");
        let b = short_id("k3_e1-skip-k5_e3");
        assert!(a.starts_with("fbnet#") && a != b, "{a} {b}");
    }
}

/// The `--json` form of a search's pick (`search` and `run`).
pub fn pick_json(p: &edgenas_ondevice::Pick) -> serde_json::Value {
    serde_json::to_value(p.summary()).expect("a pick serialises")
}

/// Writes a text file atomically (a failure leaves no partial file).
pub fn write_text(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    edgenas_format::write_atomic(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}
