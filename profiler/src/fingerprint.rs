//! The Fingerprint: every condition that changes latency, recorded with each measurement.
//! Two measurements may be compared (or mixed into one hardware embedding) only when their
//! fingerprints are equal.

use serde::{Deserialize, Serialize};

use crate::probe::{Conditions, System};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fingerprint {
    pub board: String,
    pub cpu_model: String,
    pub arch: String,
    pub kernel: String,
    /// Board firmware (Pi firmware, Jetson L4T release); `None` where there is none to read.
    pub firmware: Option<String>,
    /// Jetson nvpmodel mode and the like.
    pub power_mode: Option<String>,
    pub governor: String,
    pub runtime: String,
    pub runtime_version: String,
    /// The precision the network ran at: fp32, fp16 or int8 (journal format 2 was all fp32).
    pub precision: String,
    pub threads: usize,
    /// CPUs the measurement was pinned to; empty when not pinned.
    pub cpus: Vec<usize>,
}

impl Fingerprint {
    pub fn new(
        system: &System,
        conditions: &Conditions,
        runtime: (&str, &str),
        precision: &str,
        threads: usize,
        cpus: Vec<usize>,
    ) -> Fingerprint {
        Fingerprint {
            board: system.board.clone(),
            cpu_model: system.cpu_model.clone(),
            arch: system.arch.clone(),
            kernel: system.kernel.clone(),
            firmware: system.firmware.version(),
            power_mode: system.firmware.power_mode.clone(),
            governor: conditions.governor_summary(),
            runtime: runtime.0.to_string(),
            runtime_version: runtime.1.to_string(),
            precision: precision.to_string(),
            threads,
            cpus,
        }
    }

    /// The conditions in one line, for headings: board, CPU, runtime, threads, CPUs,
    /// governor, firmware and power mode (or, for an oracle, which table).
    pub fn summary(&self) -> String {
        if self.runtime == "oracle" {
            return format!(
                "oracle figures ({} of {}), not measured here",
                self.board.trim_start_matches("oracle:"),
                self.runtime_version
            );
        }
        format!(
            "{} ({}), {} {} at {}, {} thread{}, CPUs {}, governor {}{}{}",
            self.board,
            self.cpu_model,
            self.runtime,
            self.runtime_version,
            self.precision,
            self.threads,
            if self.threads == 1 { "" } else { "s" },
            crate::affinity::cpu_list(&self.cpus),
            self.governor,
            self.firmware
                .as_deref()
                .map(|f| format!(", {f}"))
                .unwrap_or_default(),
            self.power_mode
                .as_deref()
                .map(|m| format!(", power mode {m}"))
                .unwrap_or_default()
        )
    }

    /// The fields in which `other` differs, by name: empty when the two are comparable.
    pub fn differences(&self, other: &Fingerprint) -> Vec<&'static str> {
        let mut d = Vec::new();
        let mut check = |name, differs: bool| {
            if differs {
                d.push(name)
            }
        };
        check("board", self.board != other.board);
        check("cpu_model", self.cpu_model != other.cpu_model);
        check("arch", self.arch != other.arch);
        check("kernel", self.kernel != other.kernel);
        check("firmware", self.firmware != other.firmware);
        check("power_mode", self.power_mode != other.power_mode);
        check("governor", self.governor != other.governor);
        check("runtime", self.runtime != other.runtime);
        check(
            "runtime_version",
            self.runtime_version != other.runtime_version,
        );
        check("precision", self.precision != other.precision);
        check("threads", self.threads != other.threads);
        check("cpus", self.cpus != other.cpus);
        d
    }
}
