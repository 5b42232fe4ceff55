//! Progress of long work on stderr. On a terminal: one redrawn line with k/N, the current
//! item's short id, elapsed time and an ETA. Elsewhere (a pipe, a log, an SSH job): one line per
//! finished item, so a log shows how far a run got. `--quiet` silences both.
//!
//! Hand-written rather than indicatif: one line, redrawn at most 10 times a second, is all the
//! tool draws; indicatif would bring its terminal crates (console, unicode-width, portable-atomic)
//! into a binary whose size is a goal of its own (issue 13).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static QUIET: AtomicBool = AtomicBool::new(false);

/// `--quiet`: no progress and no notes on stderr (errors still print).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Prints a note on stderr unless `--quiet`.
pub fn note(msg: &str) {
    if !quiet() {
        eprintln!("{msg}");
    }
}

/// A duration as people read it: `42 s`, `3 min 05 s`, `1 h 02 min`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{:.0} s", d.as_secs_f64())
    } else if s < 3600 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        format!("{} h {:02} min", s / 3600, (s % 3600) / 60)
    }
}

pub struct Progress {
    label: String,
    total: usize,
    done: usize,
    current: String,
    start: Instant,
    last_draw: Option<Instant>,
    terminal: bool,
    silent: bool,
}

impl Progress {
    /// Progress over `total` items; `silent` (e.g. `--json` to a terminal) adds to `--quiet`.
    pub fn new(label: &str, total: usize, silent: bool) -> Progress {
        Progress {
            label: label.to_string(),
            total,
            done: 0,
            current: String::new(),
            start: Instant::now(),
            last_draw: None,
            terminal: std::io::stderr().is_terminal(),
            silent: silent || quiet(),
        }
    }

    /// Items in all.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Items done.
    pub fn done(&self) -> usize {
        self.done
    }

    /// The item now being worked on.
    pub fn start_item(&mut self, id: &str) {
        self.current = id.to_string();
        self.draw(0.0, "", true);
    }

    /// Within the current item: `fraction` of it done, and what it is doing.
    pub fn tick(&mut self, fraction: f64, detail: &str) {
        self.draw(fraction, detail, false);
    }

    /// Sets how many items are done (for work that finishes items in batches).
    pub fn set_done(&mut self, done: usize, detail: &str) {
        let finished = done.saturating_sub(self.done);
        self.done = done.min(self.total);
        if finished > 0 && !self.terminal && !self.silent {
            self.line(detail);
        }
    }

    /// The current item is finished; `summary` is its result in a few words.
    pub fn finish_item(&mut self, summary: &str) {
        self.done = (self.done + 1).min(self.total);
        if self.silent {
            return;
        }
        if self.terminal {
            // Cleared, not redrawn: the command may print the item's result on stdout now,
            // and the next item redraws the bar.
            self.finish();
        } else {
            self.line(&format!("{}: {summary}", self.current));
        }
    }

    /// One line for a log: `label [k/N] what (elapsed, ETA)`.
    fn line(&self, what: &str) {
        eprintln!(
            "{} [{}/{}] {what} ({} elapsed{})",
            self.label,
            self.done,
            self.total,
            human(self.start.elapsed()),
            self.eta(0.0)
                .map(|e| format!(", ETA {}", human(e)))
                .unwrap_or_default()
        );
    }

    /// Remaining time, from the mean time per item so far.
    fn eta(&self, fraction: f64) -> Option<Duration> {
        let progress = self.done as f64 + fraction.clamp(0.0, 1.0);
        if progress <= 0.0 || self.done >= self.total {
            return None;
        }
        let per_item = self.start.elapsed().as_secs_f64() / progress;
        Some(Duration::from_secs_f64(
            per_item * (self.total as f64 - progress),
        ))
    }

    fn draw(&mut self, fraction: f64, detail: &str, force: bool) {
        if self.silent || !self.terminal {
            return;
        }
        if !force
            && self
                .last_draw
                .is_some_and(|t| t.elapsed() < Duration::from_millis(100))
        {
            return;
        }
        self.last_draw = Some(Instant::now());
        let width = 20;
        let overall = (self.done as f64 + fraction.clamp(0.0, 1.0)) / self.total.max(1) as f64;
        let filled = (overall * width as f64).round() as usize;
        let bar: String = "=".repeat(filled.min(width)) + &" ".repeat(width - filled.min(width));
        let eta = self
            .eta(fraction)
            .map(|e| format!(" ETA {}", human(e)))
            .unwrap_or_default();
        let detail = if detail.is_empty() {
            String::new()
        } else {
            format!(" {detail}")
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K{} [{bar}] {}/{} {}{detail} {}{eta}",
            self.label,
            self.done,
            self.total,
            self.current,
            human(self.start.elapsed()),
        );
        let _ = err.flush();
    }

    /// Clears the line (terminal): before results are printed, and at the end.
    pub fn finish(&mut self) {
        if self.last_draw.take().is_some() {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(human(Duration::from_secs(42)), "42 s");
        assert_eq!(human(Duration::from_secs(185)), "3 min 05 s");
        assert_eq!(human(Duration::from_secs(3720)), "1 h 02 min");
    }

    #[test]
    fn the_eta_follows_the_mean_time_per_item() {
        let mut p = Progress::new("t", 4, true);
        p.start = Instant::now() - Duration::from_secs(10);
        p.done = 2;
        let eta = p.eta(0.0).unwrap().as_secs_f64();
        assert!((eta - 10.0).abs() < 0.5, "{eta}");
        p.done = 4;
        assert!(p.eta(0.0).is_none());
    }
}
