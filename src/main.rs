//! edgenas: hardware-aware neural architecture search on the edge board itself.
//!
//! The binary is a thin layer: it parses the command line and wires the crates together.
//! Every error reaches the user as one line on stderr and a non-zero exit status.

mod cli;
mod commands;
mod measurements;
mod output;
mod progress;
mod reporter;
mod session;
mod state;
mod tables;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // A panic is a bug; still, the user gets one line, not a backtrace dump.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        // `print!` to a closed pipe (`edgenas journal show | head -1`) is how the reader says
        // it has had enough: end quietly and successfully, as ripgrep does.
        if msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("edgenas: internal error: {msg}{at} (please report it)");
    }));
    let cli = cli::Cli::parse();
    progress::set_quiet(cli.quiet);
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or(format!("{level},tract_linalg::arm64=error")),
    )
    .format_timestamp(None)
    .init();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A write to a closed pipe that surfaced as an error: the same quiet success.
            let broken_pipe = e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            });
            if broken_pipe {
                return ExitCode::SUCCESS;
            }
            if let Some(exit) = e.downcast_ref::<output::Exit>() {
                if let Some(m) = &exit.message {
                    eprintln!("error: {m}");
                }
                return ExitCode::from(exit.code);
            }
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line ("reading x: no such file"), a cause that repeats the
/// message before it left out (io errors wrapped with their own text read twice otherwise).
fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string().replace('\n', " ");
        if parts.last().is_some_and(|last| last.ends_with(&text)) {
            continue;
        }
        parts.push(text);
    }
    parts.join(": ")
}
