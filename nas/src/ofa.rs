//! The Once-for-All MobileNetV3 space (`ofa_mbv3_d234_e346_k357_w1.0`), ImageNet input r×r.
//!
//! Skeleton (MobileNetV3-Large as OFA builds it):
//! - stem: 3×3 conv stride 2, 16 channels, BN, h-swish; then a fixed block: depthwise 3×3 +
//!   ReLU, 1×1 project to 16, residual;
//! - 5 searchable stages of d ∈ {2,3,4} blocks (of 4 slots each, 20 in all), widths
//!   [24, 40, 80, 112, 160], strides [2, 2, 2, 1, 2] (on a stage's first block), activations
//!   [ReLU, ReLU, h-swish, h-swish, h-swish], squeeze-and-excitation in stages 2, 4, 5;
//! - each block: 1×1 expand to `make_divisible(in · e, 8)`, depthwise k×k, SE with
//!   `make_divisible(expanded / 4, 8)` channels, 1×1 project, residual when shapes match;
//! - head: 1×1 conv to 960 + h-swish, global average pool, 1×1 conv to 1280 + h-swish (no BN),
//!   fully connected to 1000.
//!
//! The string form is `ks=7,5,...;e=6,4,...;d=2,3,...;r=224` (20, 20, 5 values); HELP's JSON
//! form and the `ks`/`e`/`d`/`r` columns (values joined by `-`) are accepted too. Kernel and
//! expansion of slots beyond a stage's depth are kept (they identify the table's row) but do
//! not change the network or its encoding.

use std::fmt;

use edgenas_runtime::{Network, Op, RuntimeError, Shape, ValueId};
use rand::{Rng, RngExt};

use crate::blocks::{conv_bn, inverted_residual, make_divisible, Act};
use crate::NasError;

pub const STAGES: usize = 5;
pub const SLOTS: usize = 4;
pub const BLOCKS: usize = STAGES * SLOTS;
/// The stem's width, and so the first stage's input.
pub const STEM_CHANNELS: usize = 16;
pub const STAGE_CHANNELS: [usize; STAGES] = [24, 40, 80, 112, 160];
pub const STAGE_STRIDES: [usize; STAGES] = [2, 2, 2, 1, 2];
pub const STAGE_ACTS: [Act; STAGES] = [
    Act::Relu,
    Act::Relu,
    Act::HardSwish,
    Act::HardSwish,
    Act::HardSwish,
];
pub const STAGE_SE: [bool; STAGES] = [false, true, false, true, true];
pub const KERNELS: [u8; 3] = [3, 5, 7];
pub const EXPANDS: [u8; 3] = [3, 4, 6];
pub const DEPTHS: [u8; 3] = [2, 3, 4];
pub const RESOLUTIONS: std::ops::RangeInclusive<u16> = 128..=224;
pub const NUM_CLASSES: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OfaArch {
    pub ks: [u8; BLOCKS],
    pub e: [u8; BLOCKS],
    pub d: [u8; STAGES],
    pub r: u16,
}

fn resolutions() -> impl Iterator<Item = u16> {
    RESOLUTIONS.step_by(4)
}

impl OfaArch {
    pub fn parse(s: &str) -> Result<OfaArch, NasError> {
        let err = |token: &str, reason: String| NasError::parse("ofa", s, token, reason);
        let body = key_values_form(s);
        let (mut ks, mut e, mut d, mut r) = (None, None, None, None);
        for part in body.split(';').filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| err(part, "expected key=values".into()))?;
            let values = value
                .split([',', '-'])
                .map(|v| {
                    v.parse::<u16>()
                        .map_err(|_| err(part, format!("'{v}' is not a number")))
                })
                .collect::<Result<Vec<u16>, NasError>>()?;
            let slot = match key {
                "ks" => &mut ks,
                "e" => &mut e,
                "d" => &mut d,
                "r" => &mut r,
                _ => {
                    return Err(err(
                        part,
                        format!("unknown key '{key}' (expected ks, e, d, r)"),
                    ))
                }
            };
            *slot = Some((part, values));
        }
        let take = |field: Option<(&str, Vec<u16>)>, name: &str, len: usize, allowed: &[u8]| {
            let (part, values) = field.ok_or_else(|| err(s, format!("missing '{name}='")))?;
            if values.len() != len {
                return Err(err(
                    part,
                    format!("{name} needs {len} values, found {}", values.len()),
                ));
            }
            if let Some(v) = values
                .iter()
                .find(|&&v| !allowed.iter().any(|&a| a as u16 == v))
            {
                return Err(err(
                    part,
                    format!("{name} value {v} is not one of {allowed:?}"),
                ));
            }
            Ok(values.iter().map(|&v| v as u8).collect::<Vec<u8>>())
        };
        let ks = take(ks, "ks", BLOCKS, &KERNELS)?;
        let e = take(e, "e", BLOCKS, &EXPANDS)?;
        let d = take(d, "d", STAGES, &DEPTHS)?;
        let (rpart, rv) = r.ok_or_else(|| err(s, "missing 'r='".into()))?;
        if rv.len() != 1 || !resolutions().any(|x| x == rv[0]) {
            return Err(err(
                rpart,
                "r must be one resolution in 128..224, step 4".into(),
            ));
        }
        Ok(OfaArch {
            ks: ks.try_into().expect("checked length"),
            e: e.try_into().expect("checked length"),
            d: d.try_into().expect("checked length"),
            r: rv[0],
        })
    }

    /// From the table's columns (`ks`, `e`, `d` joined by `-`, and `r`).
    pub fn from_columns(ks: &str, e: &str, d: &str, r: &str) -> Result<OfaArch, NasError> {
        OfaArch::parse(&format!("ks={ks};e={e};d={d};r={r}"))
    }

    /// Whether slot `i` (0..20) is part of the network.
    pub fn active(&self, i: usize) -> bool {
        i % SLOTS < self.d[i / SLOTS] as usize
    }

    pub fn sample(rng: &mut impl Rng) -> OfaArch {
        let mut a = OfaArch {
            ks: [3; BLOCKS],
            e: [3; BLOCKS],
            d: [2; STAGES],
            r: 224,
        };
        for i in 0..BLOCKS {
            a.ks[i] = pick(rng, &KERNELS);
            a.e[i] = pick(rng, &EXPANDS);
        }
        for s in 0..STAGES {
            a.d[s] = pick(rng, &DEPTHS);
        }
        let rs: Vec<u16> = resolutions().collect();
        a.r = rs[rng.random_range(0..rs.len())];
        a
    }

    /// Changes one thing that matters: an active block's kernel or expansion, a stage's depth,
    /// or the resolution.
    pub fn mutate(&self, rng: &mut impl Rng) -> OfaArch {
        let mut next = *self;
        match rng.random_range(0..4) {
            0 | 1 => {
                let active: Vec<usize> = (0..BLOCKS).filter(|&i| self.active(i)).collect();
                let i = active[rng.random_range(0..active.len())];
                if rng.random_range(0..2) == 0 {
                    next.ks[i] = other(rng, &KERNELS, self.ks[i]);
                } else {
                    next.e[i] = other(rng, &EXPANDS, self.e[i]);
                }
            }
            2 => {
                let s = rng.random_range(0..STAGES);
                next.d[s] = other(rng, &DEPTHS, self.d[s]);
            }
            _ => {
                let rs: Vec<u16> = resolutions().filter(|&r| r != self.r).collect();
                next.r = rs[rng.random_range(0..rs.len())];
            }
        }
        next
    }

    /// HELP's layout: per slot a one-hot kernel (3) and expansion (3), zero for slots beyond
    /// the stage's depth; then a one-hot resolution (25). 145 values.
    pub fn encode(&self) -> Vec<f32> {
        let mut v = vec![0.0; BLOCKS * 6 + 25];
        for i in (0..BLOCKS).filter(|&i| self.active(i)) {
            let k = KERNELS
                .iter()
                .position(|&k| k == self.ks[i])
                .expect("validated");
            let e = EXPANDS
                .iter()
                .position(|&e| e == self.e[i])
                .expect("validated");
            v[i * 6 + k] = 1.0;
            v[i * 6 + 3 + e] = 1.0;
        }
        let r = resolutions().position(|r| r == self.r).expect("validated");
        v[BLOCKS * 6 + r] = 1.0;
        v
    }

    pub fn input(&self) -> Shape {
        Shape {
            n: 1,
            c: 3,
            h: self.r as usize,
            w: self.r as usize,
        }
    }

    pub fn build(&self) -> Network {
        build_network(self).expect("the OFA skeleton is shape-consistent for every arch")
    }
}

fn build_network(a: &OfaArch) -> Result<Network, RuntimeError> {
    let mut net = Network::new(format!("ofa:{a}"), a.input());
    let mut x = add_stem(&mut net, 0)?;
    for s in 0..STAGES {
        for slot in 0..a.d[s] as usize {
            let i = s * SLOTS + slot;
            x = add_block(&mut net, x, s, slot == 0, a.ks[i], a.e[i])?;
        }
    }
    add_head(&mut net, x)?;
    Ok(net)
}

/// The stem: 3×3 conv stride 2 to 16 + h-swish, then the fixed depthwise block. The whole
/// network and each kernel ([`crate::kernels`]) are built from this, [`add_block`] and
/// [`add_head`], so a kernel is its layer.
pub(crate) fn add_stem(net: &mut Network, x: ValueId) -> Result<ValueId, RuntimeError> {
    let c = STEM_CHANNELS;
    let x = conv_bn(net, x, c, 3, 2, 1, Some(Act::HardSwish))?;
    inverted_residual(net, x, c, c, 3, 1, 1, Act::Relu, None, false)
}

/// One block of stage `s` on `x`: its first slot (`first`, with the stage's stride and width
/// change) or a later one, kernel `ks`, expansion `e`.
pub(crate) fn add_block(
    net: &mut Network,
    x: ValueId,
    s: usize,
    first: bool,
    ks: u8,
    e: u8,
) -> Result<ValueId, RuntimeError> {
    let cin = net.shape(x).c;
    let stride = if first { STAGE_STRIDES[s] } else { 1 };
    let expanded = make_divisible(cin as f64 * e as f64, 8);
    let se = STAGE_SE[s].then(|| make_divisible((expanded / 4) as f64, 8));
    inverted_residual(
        net,
        x,
        STAGE_CHANNELS[s],
        expanded,
        ks as usize,
        stride,
        1,
        STAGE_ACTS[s],
        se,
        true,
    )
}

/// The head: 1×1 conv to 960 + h-swish, global pool, 1×1 conv to 1280 + h-swish, linear.
pub(crate) fn add_head(net: &mut Network, x: ValueId) -> Result<ValueId, RuntimeError> {
    let mut x = conv_bn(net, x, 960, 1, 1, 1, Some(Act::HardSwish))?;
    x = net.add(Op::GlobalAvgPool, &[x])?;
    x = net.add(
        Op::Conv2d {
            out_channels: 1280,
            kernel: 1,
            stride: 1,
            padding: 0,
            groups: 1,
            bias: false,
        },
        &[x],
    )?;
    x = net.add(Op::HardSwish, &[x])?;
    net.add(
        Op::Linear {
            out_features: NUM_CLASSES,
        },
        &[x],
    )
}

/// Channels into stage `s`'s first block.
pub(crate) fn stage_input_channels(s: usize) -> usize {
    if s == 0 {
        STEM_CHANNELS
    } else {
        STAGE_CHANNELS[s - 1]
    }
}

/// The side of stage `s`'s input and of its later blocks' input at resolution `r`: every
/// stride-2 layer (3×3 stem, k×k depthwise, padding k/2) rounds up.
pub(crate) fn stage_sides(r: usize, s: usize) -> (usize, usize) {
    let mut h = r.div_ceil(2);
    for stride in &STAGE_STRIDES[..s] {
        h = h.div_ceil(*stride);
    }
    (h, h.div_ceil(STAGE_STRIDES[s]))
}

fn pick(rng: &mut impl Rng, set: &[u8]) -> u8 {
    set[rng.random_range(0..set.len())]
}

/// A value of `set` other than `cur`.
fn other(rng: &mut impl Rng, set: &[u8], cur: u8) -> u8 {
    let i = set.iter().position(|&v| v == cur).unwrap_or(0);
    set[(i + rng.random_range(1..set.len())) % set.len()]
}

fn join(v: &[u8]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

impl fmt::Display for OfaArch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ks={};e={};d={};r={}",
            join(&self.ks),
            join(&self.e),
            join(&self.d),
            self.r
        )
    }
}

impl std::str::FromStr for OfaArch {
    type Err = NasError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OfaArch::parse(s)
    }
}

/// `s` in the `ks=..;e=..;d=..;r=..` form, whitespace and quotes dropped. HELP's JSON
/// (`{"ks": [..], "e": [..], "d": [..], "r": 196}`, keys in any order) is rewritten into it:
/// its fields are split at commas outside brackets.
fn key_values_form(s: &str) -> String {
    let body: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '"')
        .collect();
    let Some(inner) = body.strip_prefix('{') else {
        return body;
    };
    let inner = inner.strip_suffix('}').unwrap_or(inner);
    let mut fields = vec![String::new()];
    let mut depth = 0usize;
    for c in inner.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => fields.push(String::new()),
            c => fields.last_mut().expect("never empty").push(c),
        }
    }
    fields
        .iter()
        .map(|f| f.replacen(':', "=", 1))
        .collect::<Vec<_>>()
        .join(";")
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = r#"{"ks": [7, 7, 5, 5, 7, 7, 3, 5, 7, 7, 5, 7, 3, 5, 3, 3, 3, 5, 5, 7], "e": [3, 6, 3, 6, 6, 4, 3, 6, 4, 6, 6, 3, 3, 4, 4, 3, 3, 3, 3, 4], "d": [4, 3, 3, 4, 2], "r": 196}"#;

    #[test]
    fn json_keys_in_any_order() {
        let a = OfaArch::parse(JSON).unwrap();
        let shuffled = r#"{"r": 196, "d": [4, 3, 3, 4, 2], "ks": [7, 7, 5, 5, 7, 7, 3, 5, 7, 7, 5, 7, 3, 5, 3, 3, 3, 5, 5, 7], "e": [3, 6, 3, 6, 6, 4, 3, 6, 4, 6, 6, 3, 3, 4, 4, 3, 3, 3, 3, 4]}"#;
        assert_eq!(OfaArch::parse(shuffled).unwrap(), a);
        assert!(OfaArch::parse(r#"{"r": 196, "r": 200}"#).is_err());
    }

    #[test]
    fn parses_json_columns_and_own_form() {
        let a = OfaArch::parse(JSON).unwrap();
        assert_eq!(a.d, [4, 3, 3, 4, 2]);
        assert_eq!(a.r, 196);
        assert_eq!(OfaArch::parse(&a.to_string()).unwrap(), a);
        let b = OfaArch::from_columns(
            "7-7-5-5-7-7-3-5-7-7-5-7-3-5-3-3-3-5-5-7",
            "3-6-3-6-6-4-3-6-4-6-6-3-3-4-4-3-3-3-3-4",
            "4-3-3-4-2",
            "196",
        )
        .unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn refuses_bad_values_naming_them() {
        let bad = JSON.replace("\"r\": 196", "\"r\": 197");
        assert!(OfaArch::parse(&bad)
            .unwrap_err()
            .to_string()
            .contains("r must be"));
        let bad = JSON.replace("[4, 3, 3, 4, 2]", "[4, 3, 3, 4, 5]");
        let e = OfaArch::parse(&bad).unwrap_err().to_string();
        assert!(e.contains("d value 5"), "{e}");
        let bad = JSON.replace("[4, 3, 3, 4, 2]", "[4, 3, 3, 4]");
        assert!(OfaArch::parse(&bad)
            .unwrap_err()
            .to_string()
            .contains("d needs 5 values"));
    }

    #[test]
    fn encoding_ignores_inactive_slots() {
        let a = OfaArch::parse(JSON).unwrap();
        let mut b = a;
        b.ks[19] = 3; // stage 5 has depth 2: slot 19 is inactive
        assert_eq!(a.encode(), b.encode());
        assert_eq!(a.encode().len(), 145);
        assert_eq!(a.encode().iter().sum::<f32>(), (2.0 * 16.0) + 1.0);
    }
}
