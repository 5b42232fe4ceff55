//! Short ids of subjects for progress lines, where a 100-character arch string does not fit.

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
mod tests {
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
