//! The space's kernels on this device ([`edgenas_nas::kernels`]): each timed after its lead
//! less the lead alone, in interleaved batches, journaled and reused; or, where `--kernels`
//! says so or a timing program would pay its start-up for each, gone without.

use std::collections::HashMap;
use std::time::Duration;

use edgenas_nas::Kernel;
use edgenas_profiler::{Protocol, Rounds};
use edgenas_runtime::Runtime;

use super::{Measured, Measurer, Source, Subject};
use crate::features::KernelTable;
use crate::report::{MeasureProgress, Reporter};
use crate::tally::Purpose;
use crate::LoopError;

/// Kernels timed together in one interleaved batch, their lead among them.
const KERNEL_BATCH: usize = 20;

/// The networks that give `kernels` their in-graph figures, in interleaved batches: each lead
/// alone first, then the kernels that follow it, at most [`KERNEL_BATCH`] networks a batch
/// (a lead with more kernels leads more batches, timed again in each). A kernel without a lead
/// (OFA's stem, which runs first) is its figure alone: where it leads others it is already in
/// their batch, else it is a batch of its own.
fn lead_batches(kernels: &[Kernel]) -> Vec<Vec<Kernel>> {
    let mut leads: Vec<(Kernel, Vec<Kernel>)> = Vec::new();
    let mut alone = Vec::new();
    for k in kernels {
        match (k.lead(), k.after_lead()) {
            (Some(lead), Some(after)) => match leads.iter_mut().find(|(l, _)| *l == lead) {
                Some((_, following)) => following.push(after),
                None => leads.push((lead, vec![after])),
            },
            _ => alone.push(k.clone()),
        }
    }
    let mut batches = Vec::new();
    for (lead, after) in &leads {
        for chunk in after.chunks(KERNEL_BATCH - 1) {
            batches.push(
                std::iter::once(lead.clone())
                    .chain(chunk.iter().cloned())
                    .collect(),
            );
        }
    }
    for k in alone {
        if !leads.iter().any(|(l, _)| *l == k) {
            batches.push(vec![k]);
        }
    }
    batches
}

/// Whether `adapt` times the space's kernels (`--kernels`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KernelMode {
    /// In-process runtimes time them; through a timing program they are used only where the
    /// journal holds them all: a program starts once per network and round, and each start
    /// pays its start-up (a process, a model parse, trtexec's engine build).
    #[default]
    Auto,
    On,
    Off,
}

impl std::str::FromStr for KernelMode {
    type Err = LoopError;

    fn from_str(s: &str) -> Result<KernelMode, LoopError> {
        match s {
            "auto" => Ok(KernelMode::Auto),
            "on" => Ok(KernelMode::On),
            "off" => Ok(KernelMode::Off),
            _ => Err(LoopError::Invalid(format!(
                "expected auto, on or off, not {s:?}"
            ))),
        }
    }
}

/// Why a space with kernels went without their figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "why")]
pub enum KernelsSkipped {
    /// `--kernels off`.
    Asked,
    /// `--kernels auto` through a timing program: `networks` kernel networks, `starts`
    /// program starts in all, `recorded` of the networks already in the journal.
    Program {
        networks: usize,
        starts: usize,
        recorded: usize,
    },
}

impl KernelsSkipped {
    /// One clause for the user: why, and how to have them.
    pub fn reason(&self) -> String {
        match self {
            KernelsSkipped::Asked => "--kernels off".into(),
            KernelsSkipped::Program {
                networks,
                starts,
                recorded,
            } => format!(
                "through a timing program the {networks} kernel networks would take {starts} starts of it, each paying its start-up ({recorded} of them are in the journal); `--kernels on` times them"
            ),
        }
    }
}

/// The device's kernel figures, or why it went without them.
#[derive(Debug, Clone, Default)]
pub struct KernelFigures {
    pub table: KernelTable,
    pub skipped: Option<KernelsSkipped>,
}

/// A kernel's cost inside a graph: its time after its lead less the lead's alone. A
/// difference under 1 % of the pair's time is noise around a kernel that costs nearly
/// nothing there; it is kept at that 1 %, so that every figure is a positive time.
fn in_graph_ms(paired_ms: f64, lead_ms: f64) -> f64 {
    (paired_ms - lead_ms).max(0.01 * paired_ms)
}

/// How kernels are timed: each takes 0.03-0.5 ms with tract here (OFA's up to a few ms), so
/// seven rounds of 2 ms bursts fix its median. FBNet's 102 kernels after their leads and the 6
/// leads alone take about 2 s in all; OFA's 276 at three resolutions (291 networks) 6-11 s.
/// The kernels' sum alone ranks 60 FBNet archs timed on tract at 0.95-0.99, where the model
/// without it gave 0.962-0.967 (test-retest 0.984-0.993; README, "Kernels").
fn kernel_timing(protocol: &Protocol) -> (Protocol, Rounds) {
    (
        Protocol {
            min_time: Duration::ZERO,
            max_time: Duration::from_millis(100),
            warmup_time: Duration::from_millis(10),
            warmup_runs: 3,
            ..protocol.clone()
        },
        Rounds {
            min_rounds: 7,
            max_rounds: 7,
            burst_ms: 2.0,
        },
    )
}

impl Measurer {
    /// The device's figures of `kernels`, each its cost inside a graph: the kernel timed after
    /// its lead less the lead timed alone ([`Kernel::after_lead`]). A lead and the kernels
    /// after it are timed in one interleaved batch ([`kernel_timing`]), so that a slow phase
    /// moves both sides of each difference alike; batches the journal holds under the live
    /// Fingerprint are reused unless `fresh`. An oracle has none; `mode` may go without them,
    /// and says why ([`KernelMode`]).
    pub fn measure_kernels(
        &mut self,
        kernels: &[Kernel],
        mode: KernelMode,
        fresh: bool,
        reporter: &mut dyn Reporter,
    ) -> Result<KernelFigures, LoopError> {
        let (timing, program) = match self.setup() {
            Some(setup) if !kernels.is_empty() => (
                kernel_timing(&setup.protocol),
                matches!(setup.runtime, Runtime::Exec(_)),
            ),
            _ => return Ok(KernelFigures::default()),
        };
        if mode == KernelMode::Off {
            return Ok(KernelFigures {
                skipped: Some(KernelsSkipped::Asked),
                ..KernelFigures::default()
            });
        }
        // Through a timing program, `auto` takes the kernels only from the journal (each
        // network costs a start per round): `fresh` times them again only where asked to (on).
        let fresh = fresh && !(program && mode == KernelMode::Auto);
        let start = std::time::Instant::now();
        let batches = lead_batches(kernels);
        let total = batches.iter().map(Vec::len).sum();
        let recorded = self.recorded_figures()?;
        let mut figures: Vec<Vec<Option<Measured>>> = batches
            .iter()
            .map(|b| {
                b.iter()
                    .map(|k| {
                        if fresh {
                            None
                        } else {
                            recorded.newest.get(&k.id).cloned()
                        }
                    })
                    .collect()
            })
            .collect();
        let missing = figures.iter().flatten().filter(|f| f.is_none()).count();
        if missing > 0 && program && mode == KernelMode::Auto {
            // One warm-up start and a start per round, for every network.
            let starts = total * (1 + timing.1.max_rounds);
            return Ok(KernelFigures {
                skipped: Some(KernelsSkipped::Program {
                    networks: total,
                    starts,
                    recorded: total - missing,
                }),
                ..KernelFigures::default()
            });
        }
        if missing > 0 {
            // The setup's own timing comes back whether the batches succeed or not.
            let saved = self.swap_timing(timing);
            let measured = self.measure_missing_kernels(&batches, &mut figures, total, reporter);
            self.swap_timing(saved);
            measured?;
        }
        let figures: Vec<Vec<Measured>> = figures
            .into_iter()
            .map(|b| {
                b.into_iter()
                    .map(|m| m.expect("every kernel measured"))
                    .collect()
            })
            .collect();
        self.tally.add(
            Purpose::Kernels,
            &figures.concat(),
            start.elapsed().as_secs_f64(),
        );
        // A network after its lead gives the difference against its own batch's lead; one
        // alone (a lead, or a kernel without one) its own figure.
        let mut figure: HashMap<&str, f64> = HashMap::new();
        for (batch, figures) in batches.iter().zip(&figures) {
            let lead_ms = figures[0].median_ms;
            for (k, m) in batch.iter().zip(figures) {
                let ms = if k.is_after_lead() {
                    in_graph_ms(m.median_ms, lead_ms)
                } else {
                    m.median_ms
                };
                figure.insert(&m.subject, ms);
            }
        }
        Ok(KernelFigures {
            table: KernelTable {
                figures: kernels
                    .iter()
                    .map(|k| {
                        let timed = k.after_lead().map_or_else(|| k.id.clone(), |a| a.id);
                        (k.id.clone(), figure[timed.as_str()])
                    })
                    .collect(),
            },
            skipped: None,
        })
    }

    /// Times every batch that misses a figure, whole: its lead's figure is then of the same
    /// rounds as its kernels'.
    fn measure_missing_kernels(
        &mut self,
        batches: &[Vec<Kernel>],
        figures: &mut [Vec<Option<Measured>>],
        total: usize,
        reporter: &mut dyn Reporter,
    ) -> Result<(), LoopError> {
        let mut done = 0;
        reporter.measuring(&MeasureProgress::counted(Purpose::Kernels, done, total));
        for (batch, figures) in batches.iter().zip(figures) {
            if figures.iter().any(Option::is_none) {
                let subjects: Vec<Subject> = batch.iter().cloned().map(Subject::Kernel).collect();
                let records =
                    self.measure_batch(&subjects, Purpose::Kernels, (done, total), reporter)?;
                for (f, m) in figures.iter_mut().zip(records) {
                    *f = Some(m);
                }
            }
            done += batch.len();
            reporter.measuring(&MeasureProgress::counted(Purpose::Kernels, done, total));
        }
        Ok(())
    }

    /// Puts `timing` (protocol, rounds) in place of the setup's and returns what was there.
    fn swap_timing(&mut self, timing: (Protocol, Rounds)) -> (Protocol, Rounds) {
        match &mut self.source {
            Source::Device { setup, .. } => (
                std::mem::replace(&mut setup.protocol, timing.0),
                std::mem::replace(&mut setup.rounds, timing.1),
            ),
            Source::Oracle(_) => timing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgenas_nas::Space;

    #[test]
    fn each_lead_is_timed_in_the_batch_of_the_kernels_after_it() {
        let kernels = Space::Fbnet.kernels();
        let batches = lead_batches(&kernels);
        // FBNet's kernels take their input in six shapes: six leads, 17 kernels after each.
        assert_eq!(batches.len(), 6);
        let mut after = Vec::new();
        for b in &batches {
            assert!(b.len() <= KERNEL_BATCH);
            let (lead, rest) = b.split_first().unwrap();
            assert!(
                kernels.contains(lead),
                "the lead is a kernel alone: {}",
                lead.id
            );
            assert_eq!(rest.len(), 17);
            for k in rest {
                assert!(k.id.ends_with("@k3_e1") && k.lead().as_ref() == Some(lead));
                after.push(k.id.clone());
            }
        }
        let mut wanted: Vec<String> = kernels.iter().map(|k| k.after_lead().unwrap().id).collect();
        after.sort();
        wanted.sort();
        assert_eq!(after, wanted, "every kernel once");
        // OFA at each of its three resolutions: the stem leads the first stage's first slot
        // and is its own figure there; each stage's k3_e3 later block leads the stage's later
        // slots and the next stage's first (the last stage's: the head).
        let kernels = Space::Ofa.kernels();
        let batches = lead_batches(&kernels);
        let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 19, 19, 19, 19, 11].repeat(3));
        let timed: usize = sizes.iter().sum();
        // Every kernel after its lead, and the stem alone (the lead of the first batch).
        assert_eq!(timed - batches.len(), kernels.len() - 3);
        for b in &batches {
            assert!(b[1..]
                .iter()
                .all(|k| k.is_after_lead() && k.lead().as_ref() == Some(&b[0])));
        }
        // The in-graph figure is the difference, kept positive when noise crosses zero.
        assert!((in_graph_ms(0.30, 0.12) - 0.18).abs() < 1e-12);
        assert_eq!(in_graph_ms(0.20, 0.21), 0.002);
    }
}
