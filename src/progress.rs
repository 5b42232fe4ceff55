//! A progress bar on stderr, shown only on a terminal and only for work over a second.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct ProgressBar {
    label: String,
    start: Instant,
    last_draw: Option<Instant>,
    enabled: bool,
}

impl ProgressBar {
    pub fn new(label: impl Into<String>) -> ProgressBar {
        ProgressBar {
            label: label.into(),
            start: Instant::now(),
            last_draw: None,
            enabled: std::io::stderr().is_terminal(),
        }
    }

    /// Redraws at most 10 times a second, and not before the first second has passed.
    pub fn update(&mut self, fraction: f64, detail: &str) {
        if !self.enabled || self.start.elapsed() < Duration::from_secs(1) {
            return;
        }
        if self
            .last_draw
            .is_some_and(|t| t.elapsed() < Duration::from_millis(100))
        {
            return;
        }
        self.last_draw = Some(Instant::now());
        let width = 30;
        let filled = ((fraction.clamp(0.0, 1.0)) * width as f64).round() as usize;
        let bar: String = "=".repeat(filled) + &" ".repeat(width - filled);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{} [{bar}] {detail}", self.label);
        let _ = err.flush();
    }

    pub fn finish(&mut self) {
        if self.last_draw.is_some() {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}
