//! Every figure a command takes, counted by what it was for and where it came from: measured
//! now, reused from the journal, or read from an oracle table. `run` and `search --verify`
//! report it, and `--max-measurements` caps the figures taken anew.

use std::collections::BTreeMap;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::measure::{Measured, Origin};

/// What a figure is taken for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Purpose {
    /// The space's reference archs: the hardware embedding.
    References,
    /// The space's kernels, each timed after its lead, and the leads alone
    /// ([`edgenas_nas::kernels`]): one cost figure.
    Kernels,
    /// The archs that adapt the predictor.
    Support,
    /// The anchor arch timed in every support and validation batch: the machine's speed at
    /// the time ([`crate::anchor`]).
    Anchors,
    /// The search's picks, measured to check they fit.
    Verification,
    /// Archs measured to judge the predictor (`validate`).
    Validation,
    /// Repeated rounds of the same archs (`bench reproducibility`).
    Bench,
}

impl Purpose {
    pub fn name(self) -> &'static str {
        match self {
            Purpose::References => "references",
            Purpose::Kernels => "kernels",
            Purpose::Support => "support",
            Purpose::Anchors => "anchors",
            Purpose::Verification => "verification",
            Purpose::Validation => "validation",
            Purpose::Bench => "bench",
        }
    }
}

/// Figures of one purpose.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Count {
    /// Timed now on this device.
    pub measured: usize,
    /// Reused from the journal (same Fingerprint).
    pub journal: usize,
    /// Looked up in an oracle table.
    pub oracle: usize,
    /// Runs of the networks the new measurements took (warm-up and timed).
    pub runs: usize,
    /// Seconds spent taking this purpose's figures (wall clock, including loading).
    pub seconds: f64,
}

impl Count {
    /// Figures of any origin.
    pub fn figures(&self) -> usize {
        self.measured + self.journal + self.oracle
    }

    /// Figures taken anew (timed now or looked up): what `--max-measurements` counts.
    pub fn taken(&self) -> usize {
        self.measured + self.oracle
    }

    fn plus(self, o: Count) -> Count {
        Count {
            measured: self.measured + o.measured,
            journal: self.journal + o.journal,
            oracle: self.oracle + o.oracle,
            runs: self.runs + o.runs,
            seconds: self.seconds + o.seconds,
        }
    }
}

/// The figures a [`crate::measure::Measurer`] gave, by purpose.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    by_purpose: BTreeMap<Purpose, Count>,
}

impl Tally {
    pub(crate) fn add(&mut self, purpose: Purpose, figures: &[Measured], seconds: f64) {
        let c = self.by_purpose.entry(purpose).or_default();
        for m in figures {
            match m.origin {
                Origin::Measured => {
                    c.measured += 1;
                    c.runs += m.runs;
                }
                Origin::Journal => c.journal += 1,
                Origin::Oracle => c.oracle += 1,
            }
        }
        c.seconds += seconds;
    }

    pub(crate) fn add_reused(&mut self, purpose: Purpose, n: usize) {
        self.by_purpose.entry(purpose).or_default().journal += n;
    }

    pub fn get(&self, purpose: Purpose) -> Count {
        self.by_purpose.get(&purpose).copied().unwrap_or_default()
    }

    /// Every purpose with figures, in order.
    pub fn iter(&self) -> impl Iterator<Item = (Purpose, Count)> + '_ {
        self.by_purpose.iter().map(|(p, c)| (*p, *c))
    }

    /// Every purpose's figures together.
    pub fn total(&self) -> Count {
        self.by_purpose
            .values()
            .fold(Count::default(), |t, c| t.plus(*c))
    }

    /// Networks' figures taken anew, over every purpose but the kernels: what
    /// `--max-measurements` caps. A kernel runs for microseconds and a space's kernels are
    /// timed once per device state, so they are counted (and timed) apart, never capped.
    pub fn taken(&self) -> usize {
        self.iter()
            .filter(|(p, _)| *p != Purpose::Kernels)
            .map(|(_, c)| c.taken())
            .sum()
    }

    /// Figures of any origin, over every purpose.
    pub fn figures(&self) -> usize {
        self.total().figures()
    }

    /// One line for people: "references 10 (10 measured), support 10 (3 measured, 7 journal)…".
    pub fn describe(&self) -> String {
        if self.by_purpose.is_empty() {
            return "none".into();
        }
        let parts: Vec<String> = self
            .iter()
            .map(|(p, c)| {
                let origins: Vec<String> = [
                    ("measured", c.measured),
                    ("from the journal", c.journal),
                    ("from the oracle", c.oracle),
                ]
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(what, n)| format!("{n} {what}"))
                .collect();
                format!("{} {} ({})", p.name(), c.figures(), origins.join(", "))
            })
            .collect();
        format!("{} in all: {}", self.figures(), parts.join("; "))
    }
}

/// `{"references": {...}, "support": {...}, ..., "total": {"measured": …}}`.
impl Serialize for Tally {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.by_purpose.len() + 1))?;
        for (p, c) in self.iter() {
            map.serialize_entry(p.name(), &c)?;
        }
        map.serialize_entry("total", &self.total())?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(origin: Origin, runs: usize) -> Measured {
        Measured {
            subject: "a".into(),
            median_ms: 1.0,
            ci_rel: 0.0,
            flags: Vec::new(),
            origin,
            runs,
            batch: Default::default(),
        }
    }

    #[test]
    fn figures_are_counted_by_purpose_and_origin() {
        let mut t = Tally::default();
        t.add(
            Purpose::References,
            &[fig(Origin::Measured, 30), fig(Origin::Journal, 0)],
            1.5,
        );
        t.add(Purpose::Verification, &[fig(Origin::Oracle, 0)], 0.0);
        t.add(Purpose::Verification, &[fig(Origin::Measured, 12)], 0.5);
        let r = t.get(Purpose::References);
        assert_eq!((r.measured, r.journal, r.oracle, r.runs), (1, 1, 0, 30));
        let v = t.get(Purpose::Verification);
        assert_eq!((v.measured, v.oracle, v.taken(), v.figures()), (1, 1, 2, 2));
        assert_eq!((t.taken(), t.figures()), (3, 4));
        assert_eq!(t.get(Purpose::Support), Count::default());
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["total"]["measured"], 2);
        assert_eq!(json["verification"]["oracle"], 1);
        assert!(t
            .describe()
            .starts_with("4 in all: references 2 (1 measured, 1 from the journal)"));
        // Kernel figures are counted, not capped.
        t.add(Purpose::Kernels, &[fig(Origin::Measured, 40)], 0.1);
        assert_eq!((t.taken(), t.figures()), (3, 5));
        assert!(
            t.describe().contains("kernels 1 (1 measured)"),
            "{}",
            t.describe()
        );
    }
}
