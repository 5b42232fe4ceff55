//! The distinct operators a space's networks are made of ("kernels"), each a small network that
//! can be timed alone: nn-Meter's idea made few-shot. A device's kernel figures, summed over the
//! layers an arch executes, are one cost figure that already says what this runtime makes of
//! each operator at each shape (tract's 5×5 depthwise convolutions, say, which MACs miss).
//!
//! FBNet has them: each of its 22 layers runs one of 9 blocks at a shape fixed by its position,
//! and layers of the same shape share a kernel, so 102 kernels cover the space. OFA's blocks sit
//! at 10 positions (a stage's first slot and its later ones) with 9 choices each, but their
//! shapes follow the input resolution (25 of them): its kernels (those 90 blocks, the stem and
//! the head) are timed at three resolutions, and an arch's layer at another resolution is
//! interpolated between the two around it, linearly in the layer's input pixels (a
//! convolution's work is). NB201's cells are already fitted within their test-retest by the
//! executed network's costs: it has none.
//!
//! A kernel alone is not what it costs inside a network: alone, its input arrives from outside
//! the runtime (ONNX Runtime reorders it into its blocked layout, and the output back) and its
//! input is not the output of a layer just run. So a kernel is timed after a lead: the
//! cheapest layer it can follow in the space's networks ([`Kernel::lead`]), and the lead is
//! timed alone in the same batch; the difference is the kernel's cost in a graph
//! ([`Kernel::after_lead`]). Summed over an arch's layers, the differences rank ONNX Runtime's
//! FBNet archs higher than the lone kernels' sum in every session compared, and tract's the
//! same (README, "Kernels in context"). OFA's stem runs first in every network: it has no
//! lead and is timed alone.

use edgenas_runtime::{Network, RuntimeError, Shape, ValueId};

use crate::fbnet::{add_layer, layer_plan, FbnetArch, FbnetBlock, INPUT};
use crate::ofa::{self, OfaArch};
use crate::{Arch, Space};

/// One kernel: a layer at its input shape, alone or after its lead.
#[derive(Debug, Clone, PartialEq)]
pub struct Kernel {
    /// Its identity, as the journal records it: `fbnet-kernel:CxHxW>C'/sS:block` or
    /// `ofa-kernel:CxHxW>C'/sS:kK_eE` (`…:stem`, `…:head`), with `@` and the lead's layer
    /// after it when it runs after its lead.
    pub id: String,
    input: Shape,
    layer: Layer,
    after_lead: bool,
}

/// What a kernel runs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Layer {
    /// An FBNet layer: a block to a width, with a stride.
    Fbnet {
        block: FbnetBlock,
        out_channels: usize,
        stride: usize,
    },
    /// OFA's stem: the strided 3×3 conv and the fixed depthwise block.
    OfaStem,
    /// An OFA block of stage `stage`, on its first slot (stride, width change) or a later one.
    OfaBlock {
        stage: usize,
        first: bool,
        ks: u8,
        e: u8,
    },
    /// OFA's head: the 1×1 convs, the pool and the classifier.
    OfaHead,
}

impl Layer {
    fn name(self) -> String {
        match self {
            Layer::Fbnet { block, .. } => block.name().into(),
            Layer::OfaStem => "stem".into(),
            Layer::OfaBlock { ks, e, .. } => format!("k{ks}_e{e}"),
            Layer::OfaHead => "head".into(),
        }
    }

    fn add(self, net: &mut Network, x: ValueId) -> Result<ValueId, RuntimeError> {
        match self {
            Layer::Fbnet {
                block,
                out_channels,
                stride,
            } => add_layer(net, x, block, (net.shape(x).c, out_channels, stride)),
            Layer::OfaStem => ofa::add_stem(net, x),
            Layer::OfaBlock {
                stage,
                first,
                ks,
                e,
            } => ofa::add_block(net, x, stage, first, ks, e),
            Layer::OfaHead => ofa::add_head(net, x),
        }
    }
}

/// FBNet's lead: the cheapest block that can keep any layer input's shape.
const LEAD: FbnetBlock = FbnetBlock::K3E1;

/// The resolutions OFA's kernels are timed at: the space's ends and its middle.
pub const OFA_KERNEL_RESOLUTIONS: [u16; 3] = [128, 176, 224];

/// The prefix of every FBNet kernel's id: no arch string starts with it.
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
            layer: Layer::Fbnet {
                block,
                out_channels,
                stride,
            },
            after_lead: false,
        })
    }

    fn ofa(input: Shape, layer: Layer) -> Kernel {
        let shape = format!("{}x{}x{}", input.c, input.h, input.w);
        let id = match layer {
            Layer::OfaBlock { stage, first, .. } => {
                let stride = if first { ofa::STAGE_STRIDES[stage] } else { 1 };
                let out = ofa::STAGE_CHANNELS[stage];
                format!("ofa-kernel:{shape}>{out}/s{stride}:{}", layer.name())
            }
            _ => format!("ofa-kernel:{shape}:{}", layer.name()),
        };
        Kernel {
            id,
            input,
            layer,
            after_lead: false,
        }
    }

    /// OFA's kernel of stage `s` at resolution `r`: its first slot or a later one.
    fn ofa_block(r: usize, s: usize, first: bool, ks: u8, e: u8) -> Kernel {
        let (first_side, later_side) = ofa::stage_sides(r, s);
        let (c, side) = if first {
            (ofa::stage_input_channels(s), first_side)
        } else {
            (ofa::STAGE_CHANNELS[s], later_side)
        };
        Kernel::ofa(
            Shape::nchw(1, c, side, side),
            Layer::OfaBlock {
                stage: s,
                first,
                ks,
                e,
            },
        )
    }

    fn ofa_stem(r: usize) -> Kernel {
        Kernel::ofa(Shape::nchw(1, 3, r, r), Layer::OfaStem)
    }

    fn ofa_head(r: usize) -> Kernel {
        let side = ofa::stage_sides(r, ofa::STAGES - 1).1;
        let c = ofa::STAGE_CHANNELS[ofa::STAGES - 1];
        Kernel::ofa(Shape::nchw(1, c, side, side), Layer::OfaHead)
    }

    /// The layer that leads this kernel when it is timed in context, the cheapest it can
    /// follow in the space's networks, itself a kernel of the space (alone): FBNet's `k3_e1`
    /// from the kernel's input shape to itself; OFA's `k3_e3` later block of the stage the
    /// input comes from, or the stem before the first stage. OFA's stem has none.
    pub fn lead(&self) -> Option<Kernel> {
        let later = |stage| Layer::OfaBlock {
            stage,
            first: false,
            ks: 3,
            e: 3,
        };
        match self.layer {
            Layer::Fbnet { .. } => Kernel::fbnet(self.input, self.input.c, 1, LEAD),
            Layer::OfaStem => None,
            // The stem halves the resolution, a multiple of 4.
            Layer::OfaBlock {
                stage: 0,
                first: true,
                ..
            } => Some(Kernel::ofa_stem(self.input.h * 2)),
            Layer::OfaBlock {
                stage, first: true, ..
            } => Some(Kernel::ofa(self.input, later(stage - 1))),
            Layer::OfaBlock { stage, .. } => Some(Kernel::ofa(self.input, later(stage))),
            Layer::OfaHead => Some(Kernel::ofa(self.input, later(ofa::STAGES - 1))),
        }
    }

    /// This kernel run after its lead: the network whose time, less the lead's, is the
    /// kernel's cost inside a graph (None for a kernel without a lead).
    pub fn after_lead(&self) -> Option<Kernel> {
        let lead = self.lead()?;
        Some(Kernel {
            id: format!("{}@{}", self.id, lead.layer.name()),
            after_lead: true,
            ..self.clone()
        })
    }

    /// Whether this is a kernel after its lead, whose figure is a difference.
    pub fn is_after_lead(&self) -> bool {
        self.after_lead
    }

    /// The kernel as a network of its own (input the layer's input shape), after its lead
    /// where it is [`Kernel::after_lead`] (input the lead's).
    pub fn build(&self) -> Network {
        let lead = self.lead().filter(|_| self.after_lead);
        let input = lead.as_ref().map_or(self.input, |l| l.input);
        let mut net = Network::new(self.id.clone(), input);
        let consistent = "a kernel is one layer of its space's skeleton, shape-consistent";
        let mut x = 0;
        if let Some(l) = lead {
            x = l.layer.add(&mut net, x).expect(consistent);
        }
        self.layer.add(&mut net, x).expect(consistent);
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

/// The kernels an OFA arch's layers would run at resolution `r`, in order.
fn ofa_layers(arch: &OfaArch, r: usize) -> Vec<Kernel> {
    let mut out = vec![Kernel::ofa_stem(r)];
    for s in 0..ofa::STAGES {
        for slot in 0..arch.d[s] as usize {
            let i = s * ofa::SLOTS + slot;
            out.push(Kernel::ofa_block(r, s, slot == 0, arch.ks[i], arch.e[i]));
        }
    }
    out.push(Kernel::ofa_head(r));
    out
}

/// An OFA arch's kernel terms: each layer's kernel at the timed resolutions around the
/// arch's, weighted by where its input's pixels fall between theirs.
fn ofa_terms(arch: &OfaArch) -> Vec<(String, f64)> {
    let r = arch.r;
    let hi = OFA_KERNEL_RESOLUTIONS
        .iter()
        .position(|&a| a >= r)
        .unwrap_or(OFA_KERNEL_RESOLUTIONS.len() - 1)
        .max(1);
    let (r0, r1) = (OFA_KERNEL_RESOLUTIONS[hi - 1], OFA_KERNEL_RESOLUTIONS[hi]);
    let pixels = |k: &Kernel| (k.input.h * k.input.w) as f64;
    let own = ofa_layers(arch, r as usize);
    let low = ofa_layers(arch, r0 as usize);
    let high = ofa_layers(arch, r1 as usize);
    let mut terms = Vec::with_capacity(2 * own.len());
    for ((k, k0), k1) in own.iter().zip(low).zip(high) {
        let t = ((pixels(k) - pixels(&k0)) / (pixels(&k1) - pixels(&k0))).clamp(0.0, 1.0);
        terms.push((k0.id, 1.0 - t));
        terms.push((k1.id, t));
    }
    terms
}

impl Space {
    /// The space's distinct kernels, in layer order (empty for a space without them).
    pub fn kernels(self) -> Vec<Kernel> {
        match self {
            Space::Nb201 => Vec::new(),
            Space::Fbnet => {
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
            Space::Ofa => {
                let mut out = Vec::new();
                for r in OFA_KERNEL_RESOLUTIONS.map(usize::from) {
                    out.push(Kernel::ofa_stem(r));
                    for s in 0..ofa::STAGES {
                        for first in [true, false] {
                            for ks in ofa::KERNELS {
                                for e in ofa::EXPANDS {
                                    out.push(Kernel::ofa_block(r, s, first, ks, e));
                                }
                            }
                        }
                    }
                    out.push(Kernel::ofa_head(r));
                }
                out
            }
        }
    }
}

impl Arch {
    /// The kernels this arch runs, each with its weight in the arch's kernel sum: one per
    /// FBNet layer that runs one (weight 1); two per OFA layer, the timed resolutions around
    /// the arch's (weights summing to 1). Empty for a space without kernels.
    pub fn kernel_terms(&self) -> Vec<(String, f64)> {
        match self {
            Arch::Fbnet(a) => fbnet_layers(a)
                .into_iter()
                .flatten()
                .map(|k| (k.id, 1.0))
                .collect(),
            Arch::Ofa(a) => ofa_terms(a),
            Arch::Nb201(_) => Vec::new(),
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
        assert!(Space::Nb201.kernels().is_empty());
    }

    #[test]
    fn an_arch_runs_known_kernels_whose_shapes_chain() {
        let ids: HashSet<String> = Space::Fbnet.kernels().into_iter().map(|k| k.id).collect();
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(5);
        for _ in 0..20 {
            let a = Space::Fbnet.sample(&mut rng);
            let used = a.kernel_terms();
            assert!(
                used.iter().all(|(k, w)| ids.contains(k) && *w == 1.0),
                "{a}"
            );
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
        let paired = k.after_lead().unwrap();
        assert_eq!(paired.id, "fbnet-kernel:24x32x32>32/s2:k5_e6@k3_e1");
        assert_eq!(paired.build().output_shape(), k.build().output_shape());
        let lead = k.lead().unwrap();
        let macs = |k: &Kernel| k.build().cost().macs;
        assert_eq!(macs(&paired), macs(&lead) + macs(&k));
        assert_eq!(lead.id, "fbnet-kernel:24x32x32>24/s1:k3_e1");
        assert!(ids.contains(&lead.id) && lead.after_lead().unwrap().lead() == Some(lead));
        assert!(
            Arch::parse("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
                .unwrap()
                .kernel_terms()
                .is_empty()
        );
    }

    #[test]
    fn ofa_has_its_blocks_stem_and_head_at_three_resolutions() {
        let kernels = Space::Ofa.kernels();
        // 5 stages × (first slot, later slots) × 3 kernel sizes × 3 expansions, a stem and a
        // head, at each timed resolution.
        assert_eq!(kernels.len(), 3 * (5 * 2 * 9 + 2));
        let ids: HashSet<&str> = kernels.iter().map(|k| k.id.as_str()).collect();
        assert_eq!(ids.len(), kernels.len());
        for k in &kernels {
            match k.lead() {
                // Only the stem runs first: its input is the network's.
                None => assert!(k.id.ends_with(":stem") && k.input.c == 3, "{}", k.id),
                Some(lead) => {
                    // The lead is a kernel of the space whose output is this kernel's input,
                    // and the pair runs both.
                    assert!(ids.contains(lead.id.as_str()), "{}", lead.id);
                    assert_eq!(lead.build().output_shape(), k.input, "{}", k.id);
                    let paired = k.after_lead().unwrap();
                    let macs = |k: &Kernel| k.build().cost().macs;
                    assert_eq!(macs(&paired), macs(&lead) + macs(k), "{}", k.id);
                    assert_eq!(paired.build().output_shape(), k.build().output_shape());
                }
            }
        }
        let lead = |id: &str| {
            kernels
                .iter()
                .find(|k| k.id == id)
                .unwrap()
                .lead()
                .unwrap()
                .id
        };
        assert_eq!(
            lead("ofa-kernel:16x64x64>24/s2:k7_e6"),
            "ofa-kernel:3x128x128:stem"
        );
        assert_eq!(
            lead("ofa-kernel:40x28x28>80/s2:k5_e4"),
            "ofa-kernel:40x28x28>40/s1:k3_e3"
        );
        assert_eq!(
            lead("ofa-kernel:160x7x7:head"),
            "ofa-kernel:160x7x7>160/s1:k3_e3"
        );
    }

    #[test]
    fn an_ofa_arch_is_its_kernels_at_a_timed_resolution_and_between_them_elsewhere() {
        let ids: HashSet<String> = Space::Ofa.kernels().into_iter().map(|k| k.id).collect();
        let by_id: std::collections::HashMap<String, Kernel> = Space::Ofa
            .kernels()
            .into_iter()
            .map(|k| (k.id.clone(), k))
            .collect();
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(3);
        for i in 0..12 {
            let Arch::Ofa(mut a) = Space::Ofa.sample(&mut rng) else {
                unreachable!()
            };
            // The first archs at each timed resolution, the rest anywhere.
            if let Some(&r) = OFA_KERNEL_RESOLUTIONS.get(i) {
                a.r = r;
            }
            let arch = Arch::Ofa(a);
            let terms = arch.kernel_terms();
            assert!(terms.iter().all(|(k, _)| ids.contains(k)), "{arch}");
            // Two terms a layer (stem, active blocks, head), weights in [0, 1] summing to 1.
            let layers = 2 + a.d.iter().map(|&d| d as usize).sum::<usize>();
            assert_eq!(terms.len(), 2 * layers);
            for pair in terms.chunks(2) {
                assert!(pair.iter().all(|(_, w)| (0.0..=1.0).contains(w)));
                assert!((pair[0].1 + pair[1].1 - 1.0).abs() < 1e-12);
            }
            // The kernels' MACs, weighted, are the network's: exactly at a timed resolution,
            // and within 3 % between them (strided layers round their output up).
            let macs: f64 = terms
                .iter()
                .map(|(k, w)| w * by_id[k].build().cost().macs as f64)
                .sum();
            let whole = arch.build().cost().macs as f64;
            if OFA_KERNEL_RESOLUTIONS.contains(&a.r) {
                assert_eq!(macs, whole, "{arch}");
                let layers_at_r: Vec<&String> = terms
                    .iter()
                    .filter(|(_, w)| *w == 1.0)
                    .map(|(k, _)| k)
                    .collect();
                assert_eq!(layers_at_r.len(), layers, "{arch}");
            } else {
                assert!((macs / whole - 1.0).abs() < 0.03, "{arch}: {macs} {whole}");
            }
        }
    }
}
