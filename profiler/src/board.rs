//! Board families (`boards/*.toml`, compiled in), their detection, and the firmware facts
//! that change latency: Raspberry Pi throttling, Jetson L4T release and nvpmodel power mode,
//! GPU devfreq.

use serde::{Deserialize, Serialize};

use crate::sysroot::{cpuinfo_field, Sysroot};

/// The board files, compiled into the binary so it needs nothing beside it on a board.
const BOARD_FILES: &[(&str, &str)] = &[
    ("rpi3.toml", include_str!("../../boards/rpi3.toml")),
    ("rpi4.toml", include_str!("../../boards/rpi4.toml")),
    ("rpi5.toml", include_str!("../../boards/rpi5.toml")),
    (
        "jetson-nano.toml",
        include_str!("../../boards/jetson-nano.toml"),
    ),
    (
        "jetson-xavier-nx.toml",
        include_str!("../../boards/jetson-xavier-nx.toml"),
    ),
    (
        "jetson-orin-nano.toml",
        include_str!("../../boards/jetson-orin-nano.toml"),
    ),
    (
        "jetson-agx-orin.toml",
        include_str!("../../boards/jetson-agx-orin.toml"),
    ),
    ("rk3588.toml", include_str!("../../boards/rk3588.toml")),
    (
        "generic-linux.toml",
        include_str!("../../boards/generic-linux.toml"),
    ),
];

pub const GENERIC_ID: &str = "generic-linux";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardSpec {
    pub id: String,
    pub name: String,
    pub detect: Detect,
    pub firmware: FirmwareSpec,
    #[serde(default)]
    pub clusters: Vec<Cluster>,
    pub policy: Policy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Detect {
    pub model_prefixes: Vec<String>,
    pub compatible: Vec<String>,
    pub cpu_parts: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FirmwareKind {
    Raspberrypi,
    Jetson,
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirmwareSpec {
    pub kind: FirmwareKind,
    #[serde(default)]
    pub gpu_devfreq: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    pub name: String,
    pub cpus: Vec<usize>,
    pub part: String,
    pub big: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Affinity {
    /// Pin to the big cluster(s).
    Big,
    /// Leave the scheduler free.
    All,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub threads: usize,
    pub affinity: Affinity,
    pub temp_limit_c: f64,
}

/// One board file's spec.
pub fn parse_board(text: &str) -> Result<BoardSpec, toml::de::Error> {
    toml::from_str(text)
}

/// All board specs; a malformed compiled-in file is a build defect caught by the tests.
pub fn boards() -> Vec<BoardSpec> {
    BOARD_FILES
        .iter()
        .map(|(file, text)| parse_board(text).unwrap_or_else(|e| panic!("boards/{file}: {e}")))
        .collect()
}

/// What the device tree and cpuinfo say, as read.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Identity {
    pub model: Option<String>,
    pub compatible: Vec<String>,
    /// `CPU part` of each processor, in order.
    pub cpu_parts: Vec<String>,
    pub cpu_implementer: Option<String>,
}

pub fn read_identity(root: &Sysroot) -> Identity {
    let cpuinfo = root.read("/proc/cpuinfo").unwrap_or_default();
    Identity {
        model: root
            .read_trim("/proc/device-tree/model")
            .filter(|m| !m.is_empty()),
        // Device-tree string lists are NUL-separated.
        compatible: root
            .read("/proc/device-tree/compatible")
            .map(|s| {
                s.split('\0')
                    .filter(|x| !x.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        cpu_parts: cpuinfo
            .lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(k, _)| k.trim() == "CPU part")
            .map(|(_, v)| v.trim().to_lowercase())
            .collect(),
        cpu_implementer: cpuinfo_field(&cpuinfo, &["CPU implementer"]),
    }
}

/// The board chosen for an identity, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub spec: BoardSpec,
    pub matched_by: Vec<String>,
    /// Set when no family matched and generic probing is used.
    pub note: Option<String>,
}

/// Scores every family: a `compatible` entry counts 10, a model prefix 5, a CPU part 1.
pub fn detect(id: &Identity) -> Detection {
    let mut best: Option<(u32, BoardSpec, Vec<String>)> = None;
    for spec in boards().into_iter().filter(|b| b.id != GENERIC_ID) {
        let mut score = 0;
        let mut why = Vec::new();
        for c in &spec.detect.compatible {
            if id.compatible.iter().any(|x| x == c) {
                score += 10;
                why.push(format!("compatible {c}"));
            }
        }
        if let Some(model) = &id.model {
            if let Some(p) = spec
                .detect
                .model_prefixes
                .iter()
                .find(|p| model.starts_with(p.as_str()))
            {
                score += 5;
                why.push(format!("model '{p}'"));
            }
        }
        if let Some(part) = spec
            .detect
            .cpu_parts
            .iter()
            .find(|p| id.cpu_parts.contains(p))
        {
            score += 1;
            why.push(format!("CPU part {part}"));
        }
        // A CPU part alone is too weak: many boards share a core.
        if score > 1 && best.as_ref().is_none_or(|(s, _, _)| score > *s) {
            best = Some((score, spec, why));
        }
    }
    match best {
        Some((_, spec, matched_by)) => Detection {
            spec,
            matched_by,
            note: None,
        },
        None => Detection {
            spec: boards()
                .into_iter()
                .find(|b| b.id == GENERIC_ID)
                .expect("generic board"),
            matched_by: Vec::new(),
            note: Some(format!(
                "unknown board ({}): generic Linux probing, no firmware facts",
                id.model.as_deref().unwrap_or("no device-tree model")
            )),
        },
    }
}

/// Raspberry Pi `get_throttled` bits.
pub const THROTTLE_BITS: [(u32, &str); 4] = [
    (0, "under-voltage"),
    (1, "arm-frequency-capped"),
    (2, "throttled"),
    (3, "soft-temperature-limit"),
];

/// Decoded `get_throttled`: what is active now, and what has occurred since boot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Throttle {
    pub raw: u32,
    pub now: Vec<String>,
    pub since_boot: Vec<String>,
}

impl Throttle {
    pub fn decode(raw: u32) -> Throttle {
        let names = |shift: u32| {
            THROTTLE_BITS
                .iter()
                .filter(|(bit, _)| raw & (1 << (bit + shift)) != 0)
                .map(|(_, n)| n.to_string())
                .collect()
        };
        Throttle {
            raw,
            now: names(0),
            since_boot: names(16),
        }
    }
}

/// Where the Pi firmware exposes `get_throttled` (the Pi 5 path may differ: searched).
pub fn read_throttled(root: &Sysroot) -> Option<Throttle> {
    let known = "/sys/devices/platform/soc/soc:firmware/get_throttled";
    let text = root.read_trim(known).or_else(|| {
        // Search two levels under /sys/devices/platform for */*firmware/get_throttled.
        let base = "/sys/devices/platform";
        root.list(base).into_iter().find_map(|a| {
            let dir = format!("{base}/{a}");
            let direct = format!("{dir}/get_throttled");
            if a.ends_with("firmware") {
                if let Some(t) = root.read_trim(&direct) {
                    return Some(t);
                }
            }
            root.list(&dir)
                .into_iter()
                .filter(|b| b.ends_with("firmware"))
                .find_map(|b| root.read_trim(&format!("{dir}/{b}/get_throttled")))
        })
    })?;
    let hex = text
        .trim_start_matches("throttled=")
        .trim_start_matches("0x");
    u32::from_str_radix(hex, 16).ok().map(Throttle::decode)
}

/// `/etc/nv_tegra_release`: `# R36 (release), REVISION: 4.7, ...` -> `R36.4.7`.
pub fn parse_l4t(text: &str) -> Option<String> {
    let first = text.lines().find(|l| l.trim_start().starts_with("# R"))?;
    let release = first
        .trim_start()
        .trim_start_matches("# ")
        .split_whitespace()
        .next()?;
    let revision = first
        .split(',')
        .find_map(|part| part.trim().strip_prefix("REVISION:"))
        .map(|r| r.trim().to_string())?;
    Some(format!("{release}.{revision}"))
}

/// Power mode id from `/var/lib/nvpmodel/status` (`pmode:0002 fmode:fanNull`).
pub fn parse_nvpmodel_status(text: &str) -> Option<u32> {
    text.split_whitespace()
        .find_map(|t| t.strip_prefix("pmode:"))
        .and_then(|v| v.parse().ok())
}

/// Name of power mode `id` in `/etc/nvpmodel.conf` (`< POWER_MODEL ID=2 NAME=15W >`).
pub fn nvpmodel_name(conf: &str, id: u32) -> Option<String> {
    conf.lines().find_map(|l| {
        let l = l.trim();
        let inner = l.strip_prefix('<')?.strip_suffix('>')?.trim();
        let rest = inner.strip_prefix("POWER_MODEL")?;
        let mut mode_id = None;
        let mut name = None;
        for tok in rest.split_whitespace() {
            if let Some(v) = tok.strip_prefix("ID=") {
                mode_id = v.parse::<u32>().ok();
            } else if let Some(v) = tok.strip_prefix("NAME=") {
                name = Some(v.to_string());
            }
        }
        (mode_id == Some(id)).then_some(name).flatten()
    })
}

/// GPU clock from devfreq.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuFreq {
    pub path: String,
    pub cur_hz: Option<u64>,
    pub max_hz: Option<u64>,
}

/// Firmware facts of a board.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Firmware {
    /// Jetson L4T release, e.g. `R36.4.7`.
    pub l4t: Option<String>,
    /// Power mode, e.g. `MAXN (mode 0)`.
    pub power_mode: Option<String>,
    pub gpu: Option<GpuFreq>,
}

impl Firmware {
    /// The firmware string a Fingerprint keys on.
    pub fn version(&self) -> Option<String> {
        self.l4t.as_ref().map(|r| format!("L4T {r}"))
    }
}

pub fn read_firmware(root: &Sysroot, spec: &BoardSpec) -> Firmware {
    let mut fw = Firmware::default();
    if spec.firmware.kind == FirmwareKind::Jetson {
        fw.l4t = root
            .read("/etc/nv_tegra_release")
            .and_then(|t| parse_l4t(&t));
        if let Some(id) = root
            .read("/var/lib/nvpmodel/status")
            .and_then(|t| parse_nvpmodel_status(&t))
        {
            let name = root
                .read("/etc/nvpmodel.conf")
                .and_then(|c| nvpmodel_name(&c, id));
            fw.power_mode = Some(match name {
                Some(n) => format!("{n} (mode {id})"),
                None => format!("mode {id}"),
            });
        }
    }
    for dir in &spec.firmware.gpu_devfreq {
        let cur = root.read_u64(&format!("{dir}/cur_freq"));
        let max = root.read_u64(&format!("{dir}/max_freq"));
        if cur.is_some() || max.is_some() {
            fw.gpu = Some(GpuFreq {
                path: dir.clone(),
                cur_hz: cur,
                max_hz: max,
            });
            break;
        }
    }
    fw
}

/// The default measurement policy's CPUs: the big clusters first (those that exist on this
/// machine); empty means "do not pin".
pub fn policy_cpus(spec: &BoardSpec, online: usize) -> Vec<usize> {
    if spec.policy.affinity == Affinity::All {
        return Vec::new();
    }
    let mut cpus: Vec<usize> = spec
        .clusters
        .iter()
        .filter(|c| c.big)
        .flat_map(|c| c.cpus.iter().copied())
        .filter(|&c| c < online.max(1))
        .collect();
    cpus.sort_unstable();
    cpus
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_board_file_parses_with_a_sane_policy() {
        let all = boards();
        // Each file's id is its name, and every family we document is there.
        for ((file, _), b) in BOARD_FILES.iter().zip(&all) {
            assert_eq!(file.trim_end_matches(".toml"), b.id, "{file}");
        }
        let mut ids: Vec<&str> = all.iter().map(|b| b.id.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(
            ids,
            [
                "generic-linux",
                "jetson-agx-orin",
                "jetson-nano",
                "jetson-orin-nano",
                "jetson-xavier-nx",
                "rk3588",
                "rpi3",
                "rpi4",
                "rpi5"
            ]
        );
        for b in &all {
            assert!(b.policy.threads >= 1, "{}", b.id);
            assert!(
                b.policy.temp_limit_c > 40.0 && b.policy.temp_limit_c < 110.0,
                "{}",
                b.id
            );
            if b.policy.affinity == Affinity::Big {
                assert!(
                    b.clusters.iter().any(|c| c.big),
                    "{} pins to big cores but has none",
                    b.id
                );
            }
        }
    }

    #[test]
    fn throttle_bits_decode() {
        let t = Throttle::decode(0x50005);
        assert_eq!(t.now, ["under-voltage", "throttled"]);
        assert_eq!(t.since_boot, ["under-voltage", "throttled"]);
        let t = Throttle::decode(0x80000);
        assert!(t.now.is_empty());
        assert_eq!(t.since_boot, ["soft-temperature-limit"]);
    }

    #[test]
    fn l4t_and_nvpmodel_parse() {
        let r32 = "# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t210ref, EABI: aarch64, DATE: Sat Feb 19 17:05:08 UTC 2022\n";
        assert_eq!(parse_l4t(r32).as_deref(), Some("R32.7.1"));
        let r36 = "# R36 (release), REVISION: 4.7, GCID: 42132812, BOARD: generic, EABI: aarch64, DATE: x\n# KERNEL_VARIANT: oot\nTARGET_USERSPACE_LIB_DIR=nvidia\n";
        assert_eq!(parse_l4t(r36).as_deref(), Some("R36.4.7"));
        assert_eq!(parse_nvpmodel_status("pmode:0002 fmode:fanNull"), Some(2));
        let conf = "< POWER_MODEL ID=0 NAME=MAXN >\nCPU_ONLINE CORE_2 0\n< POWER_MODEL ID=2 NAME=15W >\n< PM_CONFIG DEFAULT=2 >\n";
        assert_eq!(nvpmodel_name(conf, 2).as_deref(), Some("15W"));
        assert_eq!(nvpmodel_name(conf, 5), None);
    }
}
