//! Building blocks shared by the MobileNet-style spaces (FBNet, OFA/MobileNetV3).

use edgenas_runtime::{Network, Op, RuntimeError, ValueId};

/// The activation of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    Relu,
    HardSwish,
}

impl Act {
    fn op(self) -> Op {
        match self {
            Act::Relu => Op::Relu,
            Act::HardSwish => Op::HardSwish,
        }
    }
}

/// Conv + folded BatchNorm (+ activation).
pub fn conv_bn(
    net: &mut Network,
    x: ValueId,
    out_channels: usize,
    kernel: usize,
    stride: usize,
    groups: usize,
    act: Option<Act>,
) -> Result<ValueId, RuntimeError> {
    let y = net.add(
        Op::Conv2d {
            out_channels,
            kernel,
            stride,
            padding: kernel / 2,
            groups,
            bias: true,
        },
        &[x],
    )?;
    match act {
        Some(a) => net.add(a.op(), &[y]),
        None => Ok(y),
    }
}

/// An inverted residual block: 1×1 expand (skipped when `expanded == in`, as MobileNetV3's
/// first block does), depthwise k×k with the stride, optional squeeze-and-excitation, 1×1
/// project without activation; a residual sum when the shapes allow it.
#[allow(clippy::too_many_arguments)]
pub fn inverted_residual(
    net: &mut Network,
    x: ValueId,
    out_channels: usize,
    expanded: usize,
    kernel: usize,
    stride: usize,
    pointwise_groups: usize,
    act: Act,
    se_channels: Option<usize>,
    expand_always: bool,
) -> Result<ValueId, RuntimeError> {
    let in_channels = net.shape(x).c;
    let mut y = x;
    if expand_always || expanded != in_channels {
        y = conv_bn(net, y, expanded, 1, 1, pointwise_groups, Some(act))?;
    }
    y = conv_bn(net, y, expanded, kernel, stride, expanded, Some(act))?;
    if let Some(mid) = se_channels {
        y = squeeze_excite(net, y, mid)?;
    }
    y = conv_bn(net, y, out_channels, 1, 1, pointwise_groups, None)?;
    if stride == 1 && in_channels == out_channels {
        y = net.add(Op::Add, &[x, y])?;
    }
    Ok(y)
}

/// MobileNetV3's SE: global pool, 1×1 reduce + ReLU, 1×1 expand + h-sigmoid, scale.
pub fn squeeze_excite(net: &mut Network, x: ValueId, mid: usize) -> Result<ValueId, RuntimeError> {
    let c = net.shape(x).c;
    let s = net.add(Op::GlobalAvgPool, &[x])?;
    // 1×1 convs with a bias (SE has no BatchNorm): conv_bn's shape exactly.
    let s = conv_bn(net, s, mid, 1, 1, 1, Some(Act::Relu))?;
    let s = conv_bn(net, s, c, 1, 1, 1, None)?;
    let s = net.add(Op::HardSigmoid, &[s])?;
    net.add(Op::Mul, &[x, s])
}

/// Rounds `v` to a multiple of `divisor`, never below 90% of `v` (the MobileNet rule).
pub fn make_divisible(v: f64, divisor: usize) -> usize {
    let d = divisor as f64;
    let mut new = ((v + d / 2.0) / d).floor() as usize * divisor;
    new = new.max(divisor);
    if (new as f64) < 0.9 * v {
        new += divisor;
    }
    new
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn make_divisible_matches_mobilenet() {
        assert_eq!(make_divisible(16.0 * 6.0, 8), 96);
        assert_eq!(make_divisible(24.0 * 3.0, 8), 72);
        assert_eq!(make_divisible(40.0 * 4.0 / 4.0, 8), 40);
        assert_eq!(make_divisible(10.0, 8), 16);
        assert_eq!(make_divisible(120.0 / 4.0, 8), 32);
    }
}
