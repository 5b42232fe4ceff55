//! The machine measurements run on: the sysroot read, the thread count and the CPUs to pin
//! (what the user asked, else the board policy: big cores first), each request checked
//! against what this machine has.

use std::path::Path;

use edgenas_profiler::affinity::{self, cpu_list};
use edgenas_profiler::{probe, Rounds, Sysroot, System};

use crate::LoopError;

/// What the user asked for (`--sysroot`, `--threads`, `--cpus`, `--oversubscribe`).
#[derive(Debug, Clone, Copy)]
pub struct MachineRequest<'a> {
    pub sysroot: &'a Path,
    pub threads: Option<usize>,
    /// A CPU list (`0-3,6`), `all` (not pinned), or None for the board policy.
    pub cpus: Option<&'a str>,
    pub oversubscribe: bool,
}

/// The machine as it will be measured.
pub struct Machine {
    pub root: Sysroot,
    pub system: System,
    pub threads: usize,
    /// CPUs to pin to; empty: not pinned.
    pub cpus: Vec<usize>,
}

impl Machine {
    pub fn probe(req: MachineRequest) -> Result<Machine, LoopError> {
        let root = Sysroot::new(req.sysroot);
        if !root.path("/").is_dir() {
            return Err(LoopError::Invalid(format!(
                "sysroot {} is not a directory",
                req.sysroot.display()
            )));
        }
        let system = probe::read_system(&root);
        let threads = req.threads.unwrap_or(system.policy.threads);
        if threads == 0 {
            return Err(LoopError::Invalid("--threads must be at least 1".into()));
        }
        // The CPUs this process may run on here (pinning is real even with a fixture sysroot).
        let available = affinity::current();
        let cpus = match req.cpus {
            Some("all") => Vec::new(),
            Some(list) => requested_cpus(list, &available)?,
            // The policy's cores that are online: a Jetson in a low-power mode takes cores
            // offline (nvpmodel CPU_ONLINE), and pinning to an offline core fails.
            None => system
                .policy
                .cpus
                .iter()
                .copied()
                .filter(|c| available.is_empty() || available.contains(c))
                .collect(),
        };
        if let Some(t) = req.threads {
            let (room, which) = if cpus.is_empty() {
                (available.len(), cpu_list(&available))
            } else {
                (cpus.len(), cpu_list(&cpus))
            };
            if room > 0 && t > room && !req.oversubscribe {
                return Err(LoopError::Invalid(format!(
                    "--threads {t} is more than the {room} CPU(s) the threads would run on ({which}): they would time-share; pass --oversubscribe to measure that on purpose (the record is flagged)"
                )));
            }
        }
        Ok(Machine {
            root,
            system,
            threads,
            cpus,
        })
    }
}

fn requested_cpus(list: &str, available: &[usize]) -> Result<Vec<usize>, LoopError> {
    let cpus = affinity::parse(list)?;
    let missing: Vec<usize> = cpus
        .iter()
        .copied()
        .filter(|c| !available.contains(c))
        .collect();
    if !available.is_empty() && !missing.is_empty() {
        return Err(LoopError::Invalid(format!(
            "--cpus {list}: CPU(s) {} are not available here; edgenas may run on CPUs {} (or pass --cpus all)",
            cpu_list(&missing),
            cpu_list(available)
        )));
    }
    Ok(cpus)
}

/// Interleaved rounds as asked, refused when a median's CI could not be computed.
pub fn check_rounds(rounds: &Rounds) -> Result<(), LoopError> {
    if rounds.min_rounds < 6 || rounds.max_rounds < rounds.min_rounds {
        return Err(LoopError::Invalid(
            "--min-rounds must be at least 6 (a median's CI needs them) and --max-rounds at least --min-rounds".into(),
        ));
    }
    if !(rounds.burst_ms.is_finite() && rounds.burst_ms > 0.0) {
        return Err(LoopError::Invalid(
            "--burst-ms must be a positive number of milliseconds".into(),
        ));
    }
    Ok(())
}
