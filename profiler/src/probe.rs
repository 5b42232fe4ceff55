//! Probing the machine: what it is (identity) and how it is right now (conditions).
//!
//! Every file read goes through a [`Sysroot`], so tests can point it at a fixture tree in
//! the real formats of a board's `/proc` and `/sys`.

use serde::{Deserialize, Serialize};

pub use crate::sysroot::{cpuinfo_field, Sysroot};

/// One cpufreq policy (a cluster of cores that share a clock).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuPolicy {
    pub name: String,
    pub cpus: Vec<usize>,
    pub governor: Option<String>,
    pub cur_khz: Option<u64>,
    pub max_khz: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThermalZone {
    pub name: String,
    pub celsius: f64,
}

/// The live state of the machine, read before and after a measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Conditions {
    pub policies: Vec<CpuPolicy>,
    pub thermal: Vec<ThermalZone>,
    /// One-minute load average, when `/proc/loadavg` is readable.
    pub load_1m: Option<f64>,
    /// Raspberry Pi firmware throttling, where the firmware exposes it.
    pub throttle: Option<crate::board::Throttle>,
}

impl Conditions {
    /// The hottest plausible zone.
    pub fn max_celsius(&self) -> Option<f64> {
        self.thermal.iter().map(|z| z.celsius).reduce(f64::max)
    }

    /// All governors, deduplicated, in policy order.
    pub fn governors(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for g in self.policies.iter().filter_map(|p| p.governor.clone()) {
            if !out.contains(&g) {
                out.push(g);
            }
        }
        out
    }

    /// The governor summary used as a latency-relevant key: one name, or names joined by '+'.
    pub fn governor_summary(&self) -> String {
        let g = self.governors();
        if g.is_empty() {
            "unknown".into()
        } else {
            g.join("+")
        }
    }
}

/// Reads cpufreq policies, thermal zones and the load average.
pub fn read_conditions(root: &Sysroot) -> Conditions {
    Conditions {
        policies: read_policies(root),
        thermal: read_thermal(root),
        load_1m: root
            .read("/proc/loadavg")
            .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok())),
        throttle: crate::board::read_throttled(root),
    }
}

/// The highest CPU number a list may name: Linux's largest NR_CPUS is 8192. (A range such
/// as `0-99999999999` would otherwise allocate without bound.)
pub const MAX_CPU: usize = 8191;

/// Parses a CPU list such as `0-3,6 7` (sysfs uses both ranges and spaces).
pub fn parse_cpu_list(s: &str) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    for part in s
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
    {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
                if a > b || b > MAX_CPU {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok().filter(|&c| c <= MAX_CPU)?),
        }
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
}

fn read_policies(root: &Sysroot) -> Vec<CpuPolicy> {
    let base = "/sys/devices/system/cpu/cpufreq";
    let mut out = Vec::new();
    for name in root
        .list(base)
        .into_iter()
        .filter(|n| n.starts_with("policy"))
    {
        let dir = format!("{base}/{name}");
        let cpus = root
            .read(&format!("{dir}/related_cpus"))
            .or_else(|| root.read(&format!("{dir}/affected_cpus")))
            .and_then(|s| parse_cpu_list(&s))
            .unwrap_or_default();
        out.push(CpuPolicy {
            cpus,
            governor: root.read_trim(&format!("{dir}/scaling_governor")),
            cur_khz: root.read_u64(&format!("{dir}/scaling_cur_freq")),
            max_khz: root
                .read_u64(&format!("{dir}/cpuinfo_max_freq"))
                .or_else(|| root.read_u64(&format!("{dir}/scaling_max_freq"))),
            name,
        });
    }
    out
}

fn read_thermal(root: &Sysroot) -> Vec<ThermalZone> {
    let base = "/sys/class/thermal";
    let mut out = Vec::new();
    for zone in root
        .list(base)
        .into_iter()
        .filter(|n| n.starts_with("thermal_zone"))
    {
        let Some(milli) = root
            .read_trim(&format!("{base}/{zone}/temp"))
            .and_then(|t| t.parse::<i64>().ok())
        else {
            continue; // power-gated sensors fail with EAGAIN: skipped, not fatal
        };
        let celsius = milli as f64 / 1000.0;
        // Negative or >= 100 C readings come from gated or fake sensors (Jetson PMIC-Die
        // reads a constant 100000); they are not temperatures of the SoC.
        if !(-40.0..100.0).contains(&celsius) {
            continue;
        }
        let name = root
            .read_trim(&format!("{base}/{zone}/type"))
            .unwrap_or_else(|| zone.clone());
        out.push(ThermalZone { name, celsius });
    }
    out
}

/// What the machine is: the facts that do not change between two measurements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct System {
    pub hostname: String,
    pub os: String,
    pub kernel: String,
    /// The architecture of this binary (what userland runs), not `uname -m`.
    pub arch: String,
    pub cpu_model: String,
    pub logical_cpus: usize,
    pub memory_mib: u64,
    /// Page size of the running kernel (16 KiB on some Pi 5 kernels).
    pub page_size: usize,
    /// The kernel's machine name (`uname -m`): a 64-bit kernel may run a 32-bit userland.
    pub kernel_arch: String,
    /// Bitness of the userland this binary runs in (`getconf LONG_BIT`).
    pub userland_bits: u32,
    /// Board family id (`boards/*.toml`), `generic-linux` when unknown.
    pub board: String,
    pub board_name: String,
    /// Device-tree model, when there is one.
    pub model: Option<String>,
    pub identity: crate::board::Identity,
    pub matched_by: Vec<String>,
    pub note: Option<String>,
    pub firmware: crate::board::Firmware,
    pub clusters: Vec<crate::board::Cluster>,
    pub policy: DefaultPolicy,
}

/// The default measurement policy on this board.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DefaultPolicy {
    pub threads: usize,
    /// CPUs to pin to; empty = not pinned.
    pub cpus: Vec<usize>,
    pub temp_limit_c: f64,
}

/// Reads the system identity from the files under `root`: the same code path for this
/// machine and for fixture trees of real boards, so the fixture tests cover what a board
/// runs. On this machine sysinfo fills in what a file may lack (the host name where
/// /etc/hostname is absent, as in containers; the OS name without /etc/os-release) and gives
/// uname's machine.
pub fn read_system(root: &Sysroot) -> System {
    let cpuinfo = root.read("/proc/cpuinfo").unwrap_or_default();
    // x86 and 32-bit ARM kernels name the CPU; arm64 ones do not (a Pi 5's `Hardware` line is
    // the fixed string BCM2835 and its `Model` the board): those are named from their cores below.
    let cpu_model = cpuinfo_field(&cpuinfo, &["model name"]).unwrap_or_default();
    let identity = crate::board::read_identity(root);
    let detection = crate::board::detect(&identity);
    let firmware = crate::board::read_firmware(root, &detection.spec);
    let mut hostname = root.read_trim("/etc/hostname").unwrap_or_default();
    let mut os = root
        .read("/etc/os-release")
        .and_then(|s| os_release_name(&s))
        .unwrap_or_default();
    let kernel = root
        .read_trim("/proc/sys/kernel/osrelease")
        .unwrap_or_default();
    let logical_cpus = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count()
        .max(1);
    let memory_mib = root
        .read("/proc/meminfo")
        .and_then(|s| cpuinfo_field(&s, &["MemTotal"]))
        .and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb / 1024)
        .unwrap_or(0);
    let mut kernel_arch = root.read_trim("/proc/sys/kernel/arch").unwrap_or_default();
    if root.is_host() {
        from_host(&mut hostname, &mut os, &mut kernel_arch);
    }
    let spec = &detection.spec;
    let cpu_model = if cpu_model.is_empty() {
        arm_cpu_name(spec, &identity, &cpuinfo)
    } else {
        cpu_model
    };
    let cpus = crate::board::policy_cpus(spec, logical_cpus);
    let threads = spec
        .policy
        .threads
        .min(if cpus.is_empty() {
            logical_cpus
        } else {
            cpus.len()
        })
        .max(1);
    System {
        hostname,
        os,
        kernel,
        arch: std::env::consts::ARCH.into(),
        cpu_model,
        logical_cpus,
        memory_mib,
        page_size: host_page_size(),
        kernel_arch,
        userland_bits: usize::BITS,
        board: spec.id.clone(),
        board_name: spec.name.clone(),
        model: identity.model.clone(),
        identity,
        matched_by: detection.matched_by,
        note: detection.note,
        firmware,
        clusters: spec.clusters.clone(),
        policy: DefaultPolicy {
            threads,
            cpus,
            temp_limit_c: spec.policy.temp_limit_c,
        },
    }
}

/// On the machine itself (not a fixture): what the files did not say, from the OS.
fn from_host(hostname: &mut String, os: &mut String, kernel_arch: &mut String) {
    if hostname.is_empty() {
        *hostname = sysinfo::System::host_name().unwrap_or_default();
    }
    if os.is_empty() {
        *os = sysinfo::System::long_os_version().unwrap_or_default();
    }
    // uname(2)'s machine: the same as the file on a board, but under an emulator (qemu-user)
    // the CPU the binary really runs on, not the host's.
    let machine = sysinfo::System::cpu_arch();
    if !machine.is_empty() {
        *kernel_arch = machine;
    }
}

/// ARM cpuinfo has no model name: the cores named from the board's clusters or CPU parts.
fn arm_cpu_name(
    spec: &crate::board::BoardSpec,
    identity: &crate::board::Identity,
    cpuinfo: &str,
) -> String {
    if !spec.clusters.is_empty() {
        let names: Vec<&str> = spec.clusters.iter().map(|c| c.name.as_str()).collect();
        names.join(" + ")
    } else if !identity.cpu_parts.is_empty() {
        let mut parts = identity.cpu_parts.clone();
        parts.dedup();
        parts
            .iter()
            .map(|p| format!("CPU part {p}"))
            .collect::<Vec<_>>()
            .join(" + ")
    } else {
        cpuinfo_field(cpuinfo, &["Hardware", "Model"]).unwrap_or_default()
    }
}

fn os_release_name(s: &str) -> Option<String> {
    s.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
}

/// The page size of the running kernel (16 KiB on some Pi 5 kernels): asked, never assumed.
pub fn host_page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if v > 0 {
        v as usize
    } else {
        4096
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_ranges_and_spaces() {
        assert_eq!(parse_cpu_list("0-3\n"), Some(vec![0, 1, 2, 3]));
        assert_eq!(parse_cpu_list("4 5"), Some(vec![4, 5]));
        assert_eq!(parse_cpu_list("0,2-3,8"), Some(vec![0, 2, 3, 8]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("0-99999999999"), None);
        assert_eq!(parse_cpu_list("8192"), None);
        assert_eq!(parse_cpu_list("8191").map(|v| v.len()), Some(1));
        assert_eq!(parse_cpu_list("x"), None);
    }

    #[test]
    fn cpu_time_of_other_processes() {
        let t = |busy, total, own| CpuTimes {
            busy,
            total,
            own,
            cpus: 4,
        };
        // 4 CPUs over 1000 ticks: 600 busy ticks, 100 of them ours -> others kept 2 CPUs busy.
        assert_eq!(t(0, 0, 0).others_busy_cpus(&t(600, 1000, 100)), 2.0);
        // Only our own work: nobody else.
        assert_eq!(t(0, 0, 0).others_busy_cpus(&t(250, 1000, 250)), 0.0);
        assert_eq!(t(5, 5, 0).others_busy_cpus(&t(5, 5, 0)), 0.0);
    }

    #[test]
    fn cpu_times_parse_from_proc_texts() {
        // user nice system idle iowait irq softirq steal guest guest_nice
        let stat = "cpu  100 20 30 400 50 6 7 8 9 10\ncpu0 50 10 15 200 25 3 3 4 0 0\n\
                    cpu1 50 10 15 200 25 3 4 4 0 0\nintr 12345\nctxt 999\n";
        // A process name with spaces and a parenthesis; utime 70 and stime 11 follow it, then
        // its waited-for children's 0 and 0.
        let own = "4242 (edge nas) (x)) R 1 4242 4242 0 -1 4194560 300 0 0 0 70 11 0 0 20 0 1 0";
        let t = CpuTimes::parse(stat, own).unwrap();
        assert_eq!(t.busy, 100 + 20 + 30 + 6 + 7 + 8);
        assert_eq!(t.total, t.busy + 400 + 50);
        assert_eq!(t.own, 81);
        assert_eq!(t.cpus, 2);
        let with_children = own.replace(" 70 11 0 0 ", " 70 11 5 3 ");
        assert_eq!(CpuTimes::parse(stat, &with_children).unwrap().own, 89);
        assert_eq!(
            CpuTimes::parse(stat, "4242 (x) R 1 2 3 4 5 6 7 8 9 10 70"),
            None
        );
        assert_eq!(CpuTimes::parse("cpu 1 2 3\n", own), None);
        assert!(
            CpuTimes::now().is_some_and(|t| t.cpus >= 1),
            "/proc/stat on Linux"
        );
    }

    /// A timing program's CPU time is the measurement's own: a child that burns CPU and is
    /// waited for counts as this process's, so it never reads as another process's contention.
    #[test]
    fn a_waited_for_child_counts_as_our_own_work() {
        let before = CpuTimes::now().unwrap();
        let burned = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"])
            .status()
            .unwrap();
        assert!(burned.success());
        let after = CpuTimes::now().unwrap();
        let own = after.own - before.own;
        // The loop takes a few hundred ms of CPU (tens of 10 ms ticks), nearly all in the child.
        assert!(
            own >= 5,
            "own ticks {own} (the machine's busy ticks {})",
            after.busy - before.busy
        );
    }
}

/// CPU time of the whole machine and of this process, from the real `/proc` (contention is
/// about the machine the measurement runs on, whatever sysroot the board facts come from).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuTimes {
    /// Busy ticks of all CPUs (user, nice, system, irq, softirq, steal).
    pub busy: u64,
    /// All ticks of all CPUs.
    pub total: u64,
    /// Ticks this process and its finished children used (user + system of each): a timing
    /// program edgenas starts and waits for is the measurement's own work, not contention.
    pub own: u64,
    /// CPUs the ticks are summed over (`cpuN` lines of `/proc/stat`): all of the machine's,
    /// whatever affinity mask this process runs under.
    pub cpus: usize,
}

impl CpuTimes {
    pub fn now() -> Option<CpuTimes> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let own_stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        CpuTimes::parse(&stat, &own_stat)
    }

    /// From the texts of `/proc/stat` and `/proc/self/stat`.
    pub fn parse(stat: &str, own_stat: &str) -> Option<CpuTimes> {
        let f: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        if f.len() < 8 {
            return None;
        }
        let busy = f[0] + f[1] + f[2] + f[5] + f[6] + f[7];
        let cpus = stat
            .lines()
            .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
            .count()
            .max(1);
        let total = busy + f[3] + f[4];
        // Fields after the parenthesised name (which may hold spaces): utime and stime are 14
        // and 15, the waited-for children's cutime and cstime 16 and 17.
        let after = own_stat.rsplit_once(')')?.1;
        let g: Vec<&str> = after.split_whitespace().collect();
        let own = [11, 12, 13, 14]
            .iter()
            .try_fold(0u64, |sum, &i| sum.checked_add(g.get(i)?.parse().ok()?))?;
        Some(CpuTimes {
            busy,
            total,
            own,
            cpus,
        })
    }

    /// Average number of CPUs kept busy by everything except this process between `self` and `later`.
    pub fn others_busy_cpus(&self, later: &CpuTimes) -> f64 {
        let total = later.total.saturating_sub(self.total);
        if total == 0 {
            return 0.0;
        }
        let others = later
            .busy
            .saturating_sub(self.busy)
            .saturating_sub(later.own.saturating_sub(self.own));
        others as f64 / total as f64 * later.cpus as f64
    }
}
