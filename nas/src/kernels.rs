//! The distinct operators a space's networks are made of ("kernels"), each a small network that
//! can be timed alone: nn-Meter's idea made few-shot. A device's kernel figures, summed over the
//! layers an arch executes, are one cost figure that already says what this runtime makes of
//! each operator at each shape (tract's 5×5 depthwise convolutions, say, which MACs miss).
//!
//! FBNet has them: each of its 22 layers runs one of 9 blocks at a shape fixed by its position,
//! and layers of the same shape share a kernel, so 102 kernels cover the space. NB201's cells
//! are already fitted within their test-retest by the executed network's costs, and OFA's
//! kernels depend on the input resolution as well (hundreds of them): neither has any here.
//!
//! A kernel alone is not what it costs inside a network: alone, its input arrives from outside
//! the runtime (ONNX Runtime reorders it into its blocked layout, and the output back) and its
//! input is not the output of a layer just run. So a kernel is timed after a lead: a `k3_e1`
//! layer that keeps the kernel's input shape ([`Kernel::lead`]), and the lead is timed alone in
//! the same batch; the difference is the kernel's cost in a graph ([`Kernel::after_lead`]).
//! Summed over an arch's layers, the differences rank ONNX Runtime's FBNet archs higher than the
//! lone kernels' sum in every session compared, and tract's the same (README, "Kernels in
//! context").

use edgenas_runtime::{Network, Shape};

use crate::fbnet::{add_layer, layer_plan, FbnetArch, FbnetBlock, INPUT};
use crate::{Arch, Space};

/// One kernel: a block at the input shape, width and stride of a layer position, alone or
/// after its lead.
#[derive(Debug, Clone, PartialEq)]
pub struct Kernel {
    /// Its identity, as the journal records it: `fbnet-kernel:CxHxW>C'/sS:block`, with
    /// `@k3_e1` after it when it runs after its lead.
    pub id: String,
    input: Shape,
    out_channels: usize,
    stride: usize,
    block: FbnetBlock,
    after_lead: bool,
}

/// The lead's block: the cheapest block that can keep any layer input's shape.
const LEAD: FbnetBlock = FbnetBlock::K3E1;

/// The prefix of every kernel's id: no arch string starts with it.
pub const KERNEL_PREFIX: &str = "fbnet-kernel:";

impl Kernel {
    fn fbnet(
        input: Shape,
        out_channels: usize,
        stride: usize,
        block: FbnetBlock,
    ) -> Option<Kernel> {
        // An identity skip runs nothing.
        if block == FbnetBlock::Skip && input.c == out_channels && stride == 1 {
            return None;
        }
        Some(Kernel {
            id: format!(
                "{KERNEL_PREFIX}{}x{}x{}>{}/s{}:{}",
                input.c,
                input.h,
                input.w,
                out_channels,
                stride,
                block.name()
            ),
            input,
            out_channels,
            stride,
            block,
            after_lead: false,
        })
    }

    /// The layer that leads this kernel when it is timed in context: `k3_e1` from the
    /// kernel's input shape to itself, a kernel of the space in its own right (alone).
    pub fn lead(&self) -> Kernel {
        Kernel::fbnet(self.input, self.input.c, 1, LEAD)
            .expect("a k3_e1 layer is never an identity")
    }

    /// This kernel run after its lead: the network whose time, less the lead's, is the
    /// kernel's cost inside a graph.
    pub fn after_lead(&self) -> Kernel {
        Kernel {
            id: format!("{}@{}", self.id, LEAD.name()),
            after_lead: true,
            ..self.clone()
        }
    }

    /// The kernel as a network of its own (input the layer's input shape), after its lead
    /// where it is [`Kernel::after_lead`].
    pub fn build(&self) -> Network {
        let mut net = Network::new(self.id.clone(), self.input);
        let mut x = 0;
        let consistent = "a kernel is one layer of the FBNet skeleton, shape-consistent";
        if self.after_lead {
            let c = self.input.c;
            x = add_layer(&mut net, x, LEAD, (c, c, 1)).expect(consistent);
        }
        let layer = (self.input.c, self.out_channels, self.stride);
        add_layer(&mut net, x, self.block, layer).expect(consistent);
        net
    }
}

/// Each layer's kernel of an FBNet arch (None: an identity skip).
fn fbnet_layers(arch: &FbnetArch) -> Vec<Option<Kernel>> {
    let mut h = INPUT.h;
    let mut out = Vec::with_capacity(arch.blocks.len());
    for (block, (cin, cout, stride)) in arch.blocks.iter().zip(layer_plan()) {
        out.push(Kernel::fbnet(
            Shape::nchw(1, cin, h, h),
            cout,
            stride,
            *block,
        ));
        h /= stride;
    }
    out
}

impl Space {
    /// The space's distinct kernels, in layer order (empty for a space without them).
    pub fn kernels(self) -> Vec<Kernel> {
        if self != Space::Fbnet {
            return Vec::new();
        }
        let mut out: Vec<Kernel> = Vec::new();
        for block in FbnetBlock::ALL {
            let every = FbnetArch {
                blocks: [block; crate::fbnet::LAYERS],
            };
            for k in fbnet_layers(&every).into_iter().flatten() {
                if !out.contains(&k) {
                    out.push(k);
                }
            }
        }
        out
    }
}

impl Arch {
    /// The ids of the kernels this arch runs, one per layer that runs one (empty for a space
    /// without kernels).
    pub fn kernel_ids(&self) -> Vec<String> {
        match self {
            Arch::Fbnet(a) => fbnet_layers(a)
                .into_iter()
                .flatten()
                .map(|k| k.id)
                .collect(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn fbnet_has_one_kernel_per_distinct_layer_shape_and_block() {
        let kernels = Space::Fbnet.kernels();
        // 12 distinct layer shapes × 8 blocks, and a 1×1 skip at the 6 layers that change
        // width or resolution (layer 0 keeps both: its skip is the identity).
        assert_eq!(kernels.len(), 12 * 8 + 6);
        let ids: HashSet<&str> = kernels.iter().map(|k| k.id.as_str()).collect();
        assert_eq!(ids.len(), kernels.len());
        assert!(Space::Nb201.kernels().is_empty() && Space::Ofa.kernels().is_empty());
    }

    #[test]
    fn an_arch_runs_known_kernels_whose_shapes_chain() {
        let ids: HashSet<String> = Space::Fbnet.kernels().into_iter().map(|k| k.id).collect();
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(5);
        for _ in 0..20 {
            let a = Space::Fbnet.sample(&mut rng);
            let used = a.kernel_ids();
            assert!(used.iter().all(|k| ids.contains(k)), "{a}");
            let Arch::Fbnet(f) = &a else { unreachable!() };
            let identities = f
                .blocks
                .iter()
                .zip(layer_plan())
                .filter(|(b, (i, o, s))| **b == FbnetBlock::Skip && i == o && *s == 1)
                .count();
            assert_eq!(used.len() + identities, 22);
        }
        // A kernel's network is its layer of the full one: same output shape as the layer.
        let k = Space::Fbnet
            .kernels()
            .into_iter()
            .find(|k| k.id == "fbnet-kernel:24x32x32>32/s2:k5_e6")
            .expect("layer 5's k5_e6");
        assert_eq!(k.build().output_shape(), Shape::nchw(1, 32, 16, 16));
        // After its lead: one more layer in front, the same output, and the lead keeps the
        // input's shape and is itself a kernel of the space, alone.
        let paired = k.after_lead();
        assert_eq!(paired.id, "fbnet-kernel:24x32x32>32/s2:k5_e6@k3_e1");
        assert_eq!(paired.build().output_shape(), k.build().output_shape());
        let lead = k.lead();
        let macs = |k: &Kernel| k.build().cost().macs;
        assert_eq!(macs(&paired), macs(&lead) + macs(&k));
        assert_eq!(lead.id, "fbnet-kernel:24x32x32>24/s1:k3_e1");
        assert!(ids.contains(&lead.id) && lead.after_lead().lead() == lead);
        assert!(
            Arch::parse("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
                .unwrap()
                .kernel_ids()
                .is_empty()
        );
    }
}
