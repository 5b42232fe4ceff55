//! The terminal's [`Reporter`]: measurement progress as `crate::progress` bars, notes on
//! stderr, and `run`'s steps as the lines that frame them. `--quiet` (and `--json` where a
//! command says so) silences all of it.

use edgenas_ondevice::measure::MeasureProgress;
use edgenas_ondevice::tally::Purpose;
use edgenas_ondevice::{Reporter, Step};

use crate::output::short_id;
use crate::progress::Progress;

pub struct Terminal {
    label: String,
    quiet: bool,
    /// Whether `run`'s step lines are printed.
    steps: bool,
    /// The bar of the measurement under way, with what it measures for.
    measuring: Option<(Option<Purpose>, Progress)>,
    searching: Option<Progress>,
}

impl Terminal {
    /// Progress labelled `label`; nothing at all when `quiet` (or `--quiet`).
    pub fn new(label: &str, quiet: bool) -> Terminal {
        Terminal {
            label: label.to_string(),
            quiet: quiet || crate::progress::quiet(),
            steps: false,
            measuring: None,
            searching: None,
        }
    }

    /// `run`'s reporter: its step lines too (unless `quiet`: `--json` prints one document).
    pub fn for_run(quiet: bool) -> Terminal {
        let mut t = Terminal::new("embed", quiet);
        t.steps = !quiet;
        t
    }

    /// Ends the bars on screen.
    pub fn finish(&mut self) {
        self.end_search();
        if let Some((_, p)) = &mut self.measuring {
            p.finish();
        }
        self.measuring = None;
    }

    fn end_search(&mut self) {
        if let Some(mut bar) = self.searching.take() {
            bar.finish();
        }
    }

    fn say(&self, line: String) {
        if self.steps {
            eprintln!("{line}");
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.finish();
    }
}

impl Reporter for Terminal {
    fn step(&mut self, step: Step<'_>) {
        let label = match step {
            Step::Start { space, fingerprint } => {
                let on = fingerprint.summary();
                self.say(format!("edgenas run: {} space on {on}", space.name()));
                return;
            }
            Step::Embedding => {
                self.say("[1/4] embedding: the 10 reference archs".into());
                "embed"
            }
            Step::Embedded { reused, seconds } => {
                let how = if reused {
                    "reused the stored embedding"
                } else {
                    "measured"
                };
                self.say(format!("      {how} in {seconds:.1} s"));
                return;
            }
            Step::Adapting { samples } => {
                self.say(format!(
                    "[2/4] adapting the predictor: {samples} informative support archs"
                ));
                "adapt"
            }
            Step::Adapted {
                loo_spearman,
                loo_mape,
                seconds,
            } => {
                self.say(format!(
                    "      leave-one-out Spearman {loo_spearman:.3}, MAPE {:.1}% ({seconds:.1} s)",
                    loo_mape * 100.0
                ));
                return;
            }
            Step::Searching { budget_ms, verify } => {
                self.say(format!(
                    "[3/4] searching under {budget_ms} ms and verifying {verify} picks by measurement"
                ));
                "verify"
            }
            Step::Exporting(path) => {
                self.say(format!("[4/4] exporting {}", path.display()));
                return;
            }
        };
        // Each measuring step has a bar of its own.
        self.finish();
        self.label = label.to_string();
    }

    fn note(&mut self, text: &str) {
        self.end_search();
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    fn measuring(&mut self, p: &MeasureProgress) {
        self.end_search();
        if self.quiet || p.total == 0 {
            return;
        }
        // Kernels, then the support, or a second pass over the same archs: each its own bar,
        // the kernels' labelled as such.
        if self.measuring.as_ref().is_some_and(|(purpose, bar)| {
            *purpose != p.purpose || bar.total() != p.total || p.done < bar.done()
        }) {
            self.finish();
        }
        let label = match p.purpose {
            Some(Purpose::Kernels) => "kernels",
            _ => &self.label,
        };
        let quiet = self.quiet;
        let (_, bar) = self
            .measuring
            .get_or_insert_with(|| (p.purpose, Progress::new(label, p.total, quiet)));
        match &p.batch {
            Some((first, r)) => {
                let ci = if r.worst_ci.is_finite() {
                    format!(", widest CI ±{:.1}%", r.worst_ci * 100.0)
                } else {
                    String::new()
                };
                let batch = (p.total - p.done).min(10);
                bar.start_item(&format!(
                    "{} (+{} more)",
                    short_id(first),
                    batch.saturating_sub(1)
                ));
                bar.tick(r.fraction * batch as f64, &format!("round {}{ci}", r.round));
            }
            None => bar.set_done(p.done, "measured or reused"),
        }
    }

    fn evaluated(&mut self, k: usize, total: usize) {
        // Each evaluation scores the objective (NASWOT runs the network): k/N, elapsed, ETA.
        let bar = self
            .searching
            .get_or_insert_with(|| Progress::new("search", total, false));
        bar.start_item(&format!("#{k}"));
        bar.finish_item("scored");
    }
}

/// One line per profiled subject: the bar of `profile` (k/N, warm-up or sampling runs).
pub struct ProfileBar {
    pub bar: Progress,
}

impl Reporter for ProfileBar {
    fn note(&mut self, text: &str) {
        crate::progress::note(text);
    }

    fn measuring(&mut self, p: &MeasureProgress) {
        if let Some(run) = &p.run {
            // Each phase reports its own 0..1: warm-up is the first fifth of the item's bar.
            let (phase, done) = match run.phase {
                edgenas_profiler::protocol::Phase::Warmup => ("warm-up", 0.2 * run.fraction),
                edgenas_profiler::protocol::Phase::Sampling => {
                    ("sampling", 0.2 + 0.8 * run.fraction)
                }
            };
            self.bar.tick(done, &format!("{phase} {} runs", run.runs));
        }
    }
}
