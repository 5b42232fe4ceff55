//! The FBNet space as HW-NAS-Bench defines it for CIFAR-100 (input 1×3×32×32).
//!
//! Skeleton (HW-NAS-Bench's `fbnet_get_metrics`, CIFAR-100 settings):
//! - stem: 3×3 conv, 16 channels, stride 1, BN, ReLU;
//! - 22 searchable layers in 7 stages of [1, 4, 4, 4, 4, 4, 1] layers, widths
//!   [16, 24, 32, 64, 112, 184, 352], strides [1, 1, 2, 2, 1, 2, 1] (the first layer of a stage
//!   carries its stride and width change);
//! - head: 1×1 conv to 1504 channels, BN, ReLU, global average pool, fully connected to 100.
//!
//! Blocks `k{3,5}_e{1,3,6}` (and `_g2`): 1×1 expand (groups 2 for `_g2`) + ReLU, depthwise k×k
//! with the stride + ReLU, 1×1 project (groups 2 for `_g2`), residual when the shapes match.
//! FBNet's channel shuffle after a grouped 1×1 is left out (it moves no arithmetic). `skip` is
//! the identity, or a 1×1 conv with the stride where the layer changes width or resolution.

use std::fmt;

use edgenas_runtime::{Network, Op, RuntimeError, Shape, ValueId};
use rand::{Rng, RngExt};

use crate::blocks::{conv_bn, inverted_residual, Act};
use crate::NasError;

pub const LAYERS: usize = 22;
pub const STAGE_LAYERS: [usize; 7] = [1, 4, 4, 4, 4, 4, 1];
pub const STAGE_CHANNELS: [usize; 7] = [16, 24, 32, 64, 112, 184, 352];
pub const STAGE_STRIDES: [usize; 7] = [1, 1, 2, 2, 1, 2, 1];
pub const STEM_CHANNELS: usize = 16;
pub const HEAD_CHANNELS: usize = 1504;
pub const NUM_CLASSES: usize = 100;
pub const INPUT: Shape = Shape {
    n: 1,
    c: 3,
    h: 32,
    w: 32,
};

/// The nine choices of a layer, in HW-NAS-Bench's `op_idx_list` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FbnetBlock {
    K3E1,
    K3E1G2,
    K3E3,
    K3E6,
    K5E1,
    K5E1G2,
    K5E3,
    K5E6,
    Skip,
}

impl FbnetBlock {
    pub const ALL: [FbnetBlock; 9] = [
        FbnetBlock::K3E1,
        FbnetBlock::K3E1G2,
        FbnetBlock::K3E3,
        FbnetBlock::K3E6,
        FbnetBlock::K5E1,
        FbnetBlock::K5E1G2,
        FbnetBlock::K5E3,
        FbnetBlock::K5E6,
        FbnetBlock::Skip,
    ];

    pub fn name(self) -> &'static str {
        [
            "k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", "skip",
        ][self.index()]
    }

    pub fn index(self) -> usize {
        FbnetBlock::ALL
            .iter()
            .position(|&b| b == self)
            .expect("listed")
    }

    /// (kernel, expansion, pointwise groups), or None for `skip`.
    pub fn conv(self) -> Option<(usize, usize, usize)> {
        match self {
            FbnetBlock::K3E1 => Some((3, 1, 1)),
            FbnetBlock::K3E1G2 => Some((3, 1, 2)),
            FbnetBlock::K3E3 => Some((3, 3, 1)),
            FbnetBlock::K3E6 => Some((3, 6, 1)),
            FbnetBlock::K5E1 => Some((5, 1, 1)),
            FbnetBlock::K5E1G2 => Some((5, 1, 2)),
            FbnetBlock::K5E3 => Some((5, 3, 1)),
            FbnetBlock::K5E6 => Some((5, 6, 1)),
            FbnetBlock::Skip => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FbnetArch {
    pub blocks: [FbnetBlock; LAYERS],
}

/// (input channels, output channels, stride) of each of the 22 layers.
pub fn layer_plan() -> [(usize, usize, usize); LAYERS] {
    let mut plan = [(0, 0, 0); LAYERS];
    let (mut l, mut cin) = (0, STEM_CHANNELS);
    for s in 0..STAGE_LAYERS.len() {
        for i in 0..STAGE_LAYERS[s] {
            let stride = if i == 0 { STAGE_STRIDES[s] } else { 1 };
            plan[l] = (cin, STAGE_CHANNELS[s], stride);
            cin = STAGE_CHANNELS[s];
            l += 1;
        }
    }
    plan
}

impl FbnetArch {
    /// Accepts the 22 block names or `op_idx_list` digits, joined by `-` (or `|`, as the
    /// table's `ops` column writes them).
    pub fn parse(s: &str) -> Result<FbnetArch, NasError> {
        let err = |token: &str, reason: String| NasError::parse("fbnet", s, token, reason);
        let body = s.trim();
        let sep = if body.contains('|') { '|' } else { '-' };
        let tokens: Vec<&str> = body.split(sep).collect();
        if tokens.len() != LAYERS {
            return Err(err(
                body,
                format!("expected {LAYERS} layers, found {}", tokens.len()),
            ));
        }
        let mut blocks = [FbnetBlock::Skip; LAYERS];
        for (i, t) in tokens.iter().enumerate() {
            let t = t.trim();
            blocks[i] = match t.parse::<usize>() {
                Ok(k) if k < 9 => FbnetBlock::ALL[k],
                Ok(_) => return Err(err(t, format!("layer {i}: op index must be 0..8"))),
                Err(_) => FbnetBlock::ALL
                    .iter()
                    .copied()
                    .find(|b| b.name() == t)
                    .ok_or_else(|| {
                        let names: Vec<&str> = FbnetBlock::ALL.iter().map(|b| b.name()).collect();
                        err(
                            t,
                            format!(
                                "layer {i}: unknown block, expected one of {}",
                                names.join(", ")
                            ),
                        )
                    })?,
            };
        }
        Ok(FbnetArch { blocks })
    }

    /// `op_idx_list` form: the block indices joined by `-`.
    pub fn op_idx_list(&self) -> String {
        let idx: Vec<String> = self.blocks.iter().map(|b| b.index().to_string()).collect();
        idx.join("-")
    }

    pub fn sample(rng: &mut impl Rng) -> FbnetArch {
        let mut blocks = [FbnetBlock::Skip; LAYERS];
        blocks
            .iter_mut()
            .for_each(|b| *b = FbnetBlock::ALL[rng.random_range(0..9)]);
        FbnetArch { blocks }
    }

    /// Changes one random layer to a different block.
    pub fn mutate(&self, rng: &mut impl Rng) -> FbnetArch {
        let mut next = *self;
        let l = rng.random_range(0..LAYERS);
        next.blocks[l] = FbnetBlock::ALL[(self.blocks[l].index() + rng.random_range(1..9)) % 9];
        next
    }

    /// HELP's encoding: one-hot of the 9 choices per layer, 22 × 9 = 198 values.
    pub fn encode(&self) -> Vec<f32> {
        let mut v = vec![0.0; LAYERS * 9];
        for (l, b) in self.blocks.iter().enumerate() {
            v[l * 9 + b.index()] = 1.0;
        }
        v
    }

    pub fn build(&self) -> Network {
        build_network(self).expect("the FBNet skeleton is shape-consistent for every arch")
    }
}

/// One searchable layer: `block` on `x` (of `cin` channels) to `cout` channels with `stride`.
/// The whole network and each kernel ([`crate::kernels`]) are built by it, so a kernel is its
/// layer.
pub(crate) fn add_layer(
    net: &mut Network,
    x: ValueId,
    block: FbnetBlock,
    (cin, cout, stride): (usize, usize, usize),
) -> Result<ValueId, RuntimeError> {
    match block.conv() {
        Some((k, e, g)) => {
            inverted_residual(net, x, cout, cin * e, k, stride, g, Act::Relu, None, true)
        }
        None if cin == cout && stride == 1 => Ok(x),
        None => conv_bn(net, x, cout, 1, stride, 1, Some(Act::Relu)),
    }
}

fn build_network(arch: &FbnetArch) -> Result<Network, RuntimeError> {
    let mut net = Network::new(format!("fbnet:{arch}"), INPUT);
    let mut x = conv_bn(&mut net, 0, STEM_CHANNELS, 3, 1, 1, Some(Act::Relu))?;
    for (block, layer) in arch.blocks.iter().zip(layer_plan()) {
        x = add_layer(&mut net, x, *block, layer)?;
    }
    x = conv_bn(&mut net, x, HEAD_CHANNELS, 1, 1, 1, Some(Act::Relu))?;
    let pooled = net.add(Op::GlobalAvgPool, &[x])?;
    net.add(
        Op::Linear {
            out_features: NUM_CLASSES,
        },
        &[pooled],
    )?;
    Ok(net)
}

impl fmt::Display for FbnetArch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.blocks.iter().map(|b| b.name()).collect();
        f.write_str(&names.join("-"))
    }
}

impl std::str::FromStr for FbnetArch {
    type Err = NasError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FbnetArch::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_has_hw_nas_bench_strides_and_widths() {
        let plan = layer_plan();
        assert_eq!(plan[0], (16, 16, 1));
        assert_eq!(plan[1], (16, 24, 1));
        assert_eq!(plan[5], (24, 32, 2));
        assert_eq!(plan[9], (32, 64, 2));
        assert_eq!(plan[13], (64, 112, 1));
        assert_eq!(plan[17], (112, 184, 2));
        assert_eq!(plan[21], (184, 352, 1));
        assert_eq!(plan.iter().map(|p| p.2).product::<usize>(), 8);
    }

    #[test]
    fn parse_names_indices_and_errors() {
        let a = FbnetArch::parse("7-8-1-8-4-8-8-8-7-4-1-4-7-3-2-7-3-2-4-2-4-5").unwrap();
        assert_eq!(a.blocks[0], FbnetBlock::K5E6);
        assert_eq!(a.blocks[2], FbnetBlock::K3E1G2);
        assert_eq!(FbnetArch::parse(&a.to_string()).unwrap(), a);
        assert_eq!(
            a.op_idx_list(),
            "7-8-1-8-4-8-8-8-7-4-1-4-7-3-2-7-3-2-4-2-4-5"
        );
        let e = FbnetArch::parse("7-8-1").unwrap_err().to_string();
        assert!(e.contains("expected 22 layers, found 3"), "{e}");
        let e = FbnetArch::parse(&format!("k7_e1-{}skip", "k3_e1-".repeat(20)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("'k7_e1'"), "{e}");
        let e = FbnetArch::parse(&format!("{}9", "0-".repeat(21)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("op index must be 0..8"), "{e}");
    }
}
