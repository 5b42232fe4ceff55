//! Quoting for the board's POSIX shell. ssh joins its command arguments with spaces and hands
//! the result to the remote user's shell, so every argument we send is quoted here: an arch
//! string or a path with spaces, quotes, `;` or `$(…)` reaches the board as one literal word.

/// One argument as one literal word for `sh`.
pub fn word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b));
    if plain {
        s.to_string()
    } else {
        // Inside single quotes nothing is special but the quote itself: close, escape, reopen.
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Arguments as words, space-separated.
pub fn words<S: AsRef<str>>(args: &[S]) -> String {
    args.iter()
        .map(|a| word(a.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A path on the board: a leading `~/` means the remote user's home (expanded there, the rest
/// stays literal); anything else is literal.
pub fn path(p: &str) -> String {
    if p == "~" {
        "\"$HOME\"".to_string()
    } else if let Some(rest) = p.strip_prefix("~/") {
        format!("\"$HOME\"/{}", word(rest))
    } else {
        word(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// What `sh` makes of the quoted words: the arguments it passes on, NUL-separated.
    fn through_sh(script_args: &str) -> Vec<String> {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("printf '%s\\0' {script_args}"))
            .output()
            .expect("sh runs");
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        text.split_terminator('\0').map(str::to_string).collect()
    }

    #[test]
    fn every_argument_arrives_as_one_literal_word() {
        let nasty = [
            "plain",
            "with space",
            "it's",
            "a;b",
            "$(touch /tmp/edgenas-quote-pwned)",
            "`id`",
            "\"double\"",
            "back\\slash",
            "new\nline",
            "*",
            "~",
            "-n",
            "",
            "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|",
            "ünïcode ✓",
            "'''",
        ];
        assert_eq!(through_sh(&words(&nasty)), nasty);
        assert!(!std::path::Path::new("/tmp/edgenas-quote-pwned").exists());
    }

    #[test]
    fn home_relative_paths_expand_only_the_home() {
        let home = std::env::var("HOME").unwrap();
        assert_eq!(
            through_sh(&path("~/dir with $x/edgenas")),
            [format!("{home}/dir with $x/edgenas")]
        );
        assert_eq!(through_sh(&path("~")), [home]);
        assert_eq!(through_sh(&path("/opt/a b")), ["/opt/a b"]);
        assert_eq!(through_sh(&path("~user/x")), ["~user/x"]);
    }
}
