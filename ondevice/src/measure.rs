//! The one measuring call of the loop: `embed`, `adapt`, `validate` and `verify` all go
//! through [`Measurer::measure`]. It reuses what the journal already holds under the same
//! Fingerprint, then for the rest, in batches: pre-flight (and a bounded cool-down), loading,
//! interleaved rounds, post-flight, flags, and one journal record per subject. A batch's
//! records are appended as soon as the batch ends, so an interruption costs at most the batch
//! in progress and a rerun resumes.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use edgenas_nas::Arch;
use edgenas_profiler::protocol::{self, RoundsProgress};
use edgenas_profiler::{
    probe, Fingerprint, Measurement, MeasurementJournal, Protocol, Rounds, Sysroot, System,
};
use edgenas_runtime::{Model, ModelOptions, Runtime};

use crate::oracle::OracleTable;
use crate::LoopError;

/// Subjects timed together in one interleaved batch.
pub const BATCH: usize = 10;

/// How measurements are taken on this device.
pub struct Setup {
    pub root: Sysroot,
    pub system: System,
    pub threads: usize,
    /// CPUs to pin to; empty: not pinned.
    pub cpus: Vec<usize>,
    pub protocol: Protocol,
    pub rounds: Rounds,
    pub cooldown: Duration,
    pub allow_unstable: bool,
    /// Seed of the weights and input (latency does not depend on it).
    pub seed: u64,
    /// The runtime that times the networks.
    pub runtime: Runtime,
    /// Its name and version as recorded in the Fingerprint ([`Runtime::identity`]).
    pub runtime_identity: (String, String),
}

/// One subject's figure, measured now, reused from the journal, or read from an oracle.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub subject: String,
    pub median_ms: f64,
    /// Relative half-width of the 95 % CI of the figure (0 for an oracle).
    pub ci_rel: f64,
    pub flags: Vec<String>,
    pub origin: Origin,
    /// Runs this figure took (warm-up and timed; 0 for an oracle).
    pub runs: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Measured,
    /// From the journal, under the same Fingerprint.
    Journal,
    Oracle,
}

impl Origin {
    pub fn name(self) -> &'static str {
        match self {
            Origin::Measured => "measured",
            Origin::Journal => "journal",
            Origin::Oracle => "oracle",
        }
    }
}

/// Progress of [`Measurer::measure`].
#[derive(Debug, Clone)]
pub struct MeasureProgress {
    /// Subjects finished (measured or reused) and in all.
    pub done: usize,
    pub total: usize,
    /// The batch being timed: its first subject and the round reached.
    pub batch: Option<(String, RoundsProgress)>,
}

pub enum Source<'a> {
    Device {
        setup: Box<Setup>,
        journal: &'a mut MeasurementJournal,
    },
    Oracle(&'a OracleTable),
}

pub struct Measurer<'a> {
    pub source: Source<'a>,
    fingerprint: Fingerprint,
    /// The journal's interleaved figures under the live Fingerprint, newest per subject: read
    /// once, so that lookups never decode the journal again.
    recorded: HashMap<String, Measured>,
}

impl<'a> Measurer<'a> {
    pub fn device(
        setup: Setup,
        journal: &'a mut MeasurementJournal,
    ) -> Result<Measurer<'a>, LoopError> {
        let fingerprint = live_fingerprint(&setup);
        let mut recorded = HashMap::new();
        for m in journal.iter() {
            let m = m?;
            if m.fingerprint == fingerprint && m.sample.rounds.is_some() {
                recorded.insert(m.subject.clone(), from_record(&m, Origin::Journal));
            }
        }
        Ok(Measurer {
            source: Source::Device {
                setup: Box::new(setup),
                journal,
            },
            fingerprint,
            recorded,
        })
    }

    pub fn oracle(table: &'a OracleTable) -> Measurer<'a> {
        Measurer {
            fingerprint: oracle_fingerprint(table),
            source: Source::Oracle(table),
            recorded: HashMap::new(),
        }
    }

    /// The conditions measurements are taken under now (what embeddings are keyed by).
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    pub fn is_oracle(&self) -> bool {
        matches!(self.source, Source::Oracle(_))
    }

    /// What the journal already holds for `arch` under the live Fingerprint (interleaved).
    pub fn recorded(&self, arch: &Arch) -> Option<Measured> {
        self.recorded.get(&arch.to_string()).cloned()
    }

    /// Figures of `archs`, in order: reused where the journal has them, measured otherwise.
    pub fn measure(
        &mut self,
        archs: &[Arch],
        notify: &mut dyn FnMut(&str),
        progress: &mut dyn FnMut(&MeasureProgress),
    ) -> Result<Vec<Measured>, LoopError> {
        self.measure_with(archs, true, notify, progress)
    }

    /// Figures of `archs` all measured now (`--force`); the journal still records them.
    pub fn measure_ignoring_journal(
        &mut self,
        archs: &[Arch],
        notify: &mut dyn FnMut(&str),
        progress: &mut dyn FnMut(&MeasureProgress),
    ) -> Result<Vec<Measured>, LoopError> {
        self.measure_with(archs, false, notify, progress)
    }

    fn measure_with(
        &mut self,
        archs: &[Arch],
        reuse: bool,
        notify: &mut dyn FnMut(&str),
        progress: &mut dyn FnMut(&MeasureProgress),
    ) -> Result<Vec<Measured>, LoopError> {
        let total = archs.len();
        if let Source::Oracle(table) = &self.source {
            return archs
                .iter()
                .map(|a| {
                    let ms = table.latency_ms(a).ok_or_else(|| {
                        LoopError::Oracle(format!(
                            "{a} is not in the oracle table {} (oracle mode can only use its archs)",
                            table.source
                        ))
                    })?;
                    Ok(Measured {
                        subject: a.to_string(),
                        median_ms: ms,
                        ci_rel: 0.0,
                        flags: Vec::new(),
                        origin: Origin::Oracle,
                        runs: 0,
                    })
                })
                .collect();
        }
        let mut out: Vec<Option<Measured>> = archs
            .iter()
            .map(|a| if reuse { self.recorded(a) } else { None })
            .collect();
        let todo: Vec<usize> = (0..total).filter(|&i| out[i].is_none()).collect();
        let mut done = total - todo.len();
        progress(&MeasureProgress {
            done,
            total,
            batch: None,
        });
        // The same arch twice is measured once.
        let mut unique: Vec<usize> = Vec::new();
        for &i in &todo {
            if !unique.iter().any(|&j| archs[j] == archs[i]) {
                unique.push(i);
            }
        }
        for batch in unique.chunks(BATCH) {
            let subjects: Vec<&Arch> = batch.iter().map(|&i| &archs[i]).collect();
            let records = self.measure_batch(&subjects, notify, &mut |p| {
                progress(&MeasureProgress {
                    done,
                    total,
                    batch: Some((subjects[0].to_string(), *p)),
                })
            })?;
            for (&i, m) in batch.iter().zip(records) {
                for (j, a) in archs.iter().enumerate() {
                    if out[j].is_none() && *a == archs[i] {
                        out[j] = Some(m.clone());
                        done += 1;
                    }
                }
            }
            progress(&MeasureProgress {
                done,
                total,
                batch: None,
            });
        }
        Ok(out
            .into_iter()
            .map(|m| m.expect("every subject measured"))
            .collect())
    }

    fn measure_batch(
        &mut self,
        archs: &[&Arch],
        notify: &mut dyn FnMut(&str),
        progress: &mut dyn FnMut(&RoundsProgress),
    ) -> Result<Vec<Measured>, LoopError> {
        let Source::Device { setup, journal } = &mut self.source else {
            unreachable!("oracle figures are looked up, not measured");
        };
        let before = probe::read_conditions(&setup.root);
        let (before, pre) = protocol::cool_down(
            &setup.root,
            setup.system.policy.temp_limit_c,
            setup.cooldown,
            before,
            notify,
        );
        let why = protocol::refusals(&pre);
        if !why.is_empty() && !setup.allow_unstable {
            return Err(LoopError::Unstable(why.join("; ")));
        }
        // The conditions may have changed since the Measurer was made (a governor switched):
        // the records carry what held when they were taken.
        let fingerprint = live_fingerprint(setup);
        if !setup.cpus.is_empty() {
            edgenas_profiler::affinity::pin_current_thread(&setup.cpus)?;
        }
        let mut models = Vec::with_capacity(archs.len());
        for a in archs {
            let model = Model::from_network(
                &a.build(),
                ModelOptions {
                    runtime: setup.runtime,
                    threads: setup.threads,
                    seed: setup.seed,
                },
            )
            .map_err(|source| LoopError::Runtime {
                subject: a.to_string(),
                source,
            })?;
            models.push(model);
        }
        let cpu_before = probe::CpuTimes::now();
        let samples = {
            let mut runs: Vec<Box<dyn FnMut() -> Result<(), edgenas_runtime::RuntimeError>>> =
                models
                    .iter_mut()
                    .map(|m| {
                        Box::new(move || m.run_discard())
                            as Box<dyn FnMut() -> Result<(), edgenas_runtime::RuntimeError>>
                    })
                    .collect();
            let mut refs: Vec<&mut dyn FnMut() -> Result<(), edgenas_runtime::RuntimeError>> =
                runs.iter_mut().map(|r| r.as_mut() as _).collect();
            setup
                .protocol
                .sample_interleaved(&setup.rounds, &mut refs, &mut |p| progress(&p))
                .map_err(|source| LoopError::Runtime {
                    subject: archs[0].to_string(),
                    source,
                })?
        };
        let cpu_after = probe::CpuTimes::now();
        let after = probe::read_conditions(&setup.root);
        let mut shared = pre;
        if let (Some(a), Some(b)) = (cpu_before, cpu_after) {
            shared.extend(protocol::contention_flag(&a, &b));
        }
        shared.extend(protocol::drift_flags(
            &before,
            &after,
            setup.system.logical_cpus,
            setup.threads,
        ));
        shared.extend(protocol::oversubscription_flag(
            setup.threads,
            &setup.cpus,
            setup.system.logical_cpus,
        ));
        let unix_time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut out = Vec::with_capacity(archs.len());
        for ((a, sample), model) in archs.iter().zip(samples).zip(&models) {
            let mut flags = shared.clone();
            flags.extend(setup.protocol.sample_flags(&sample.stats));
            let m = Measurement {
                subject: a.to_string(),
                space: a.space().name().into(),
                unix_time,
                fingerprint: fingerprint.clone(),
                init_ms: model.init_time().as_secs_f64() * 1e3,
                protocol: setup.protocol.clone(),
                sample,
                flags,
                before: before.clone(),
                after: after.clone(),
            };
            journal.append(m.clone())?;
            self.recorded
                .insert(m.subject.clone(), from_record(&m, Origin::Journal));
            out.push(from_record(&m, Origin::Measured));
        }
        Ok(out)
    }
}

fn from_record(m: &Measurement, origin: Origin) -> Measured {
    Measured {
        subject: m.subject.clone(),
        median_ms: m.stats().median_ms,
        ci_rel: m.stats().median_ci_rel,
        flags: m.flags.iter().map(|f| f.code().to_string()).collect(),
        origin,
        runs: m.sample.warmup_runs
            + m.sample
                .rounds
                .as_ref()
                .map_or(m.sample.samples_ms.len(), |r| r.timed_runs),
    }
}

/// The live Fingerprint of measurements taken with `setup`.
pub fn live_fingerprint(setup: &Setup) -> Fingerprint {
    let cond = probe::read_conditions(&setup.root);
    Fingerprint::new(
        &setup.system,
        &cond,
        (
            setup.runtime_identity.0.as_str(),
            setup.runtime_identity.1.as_str(),
        ),
        setup.threads,
        setup.cpus.clone(),
    )
}

/// The Fingerprint of an oracle table's figures: never equal to a real device's.
pub fn oracle_fingerprint(table: &OracleTable) -> Fingerprint {
    Fingerprint {
        board: format!("oracle:{}", table.column),
        cpu_model: String::new(),
        arch: String::new(),
        kernel: String::new(),
        firmware: None,
        power_mode: None,
        governor: String::new(),
        runtime: "oracle".into(),
        runtime_version: table.source.clone(),
        threads: 1,
        cpus: Vec::new(),
    }
}
