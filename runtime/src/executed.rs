//! The network the runtime really executes.
//!
//! A search space writes a network as its paper does; an optimizing runtime does not run all
//! of it. tract drops values that reach no output, folds every path whose values do not depend
//! on the input (an NB201 edge fed by an all-`none` node) into a constant, and a sum with such
//! a constant branch costs about what the sum without it costs. A latency predictor that sees
//! the written network charges for work that never happens; one that sees this pass's result
//! does not. Emitting the executed network also keeps tract's constant folder away from the
//! shapes it cannot fold (a conv of a constant input), so every arch builds.
//!
//! The pass is derived from the IR alone, so it serves every search space the same way:
//! 1. a value depends on the input when one of its inputs does (`Zero` never does);
//! 2. a sum keeps only its input-dependent terms (a constant term is the folded part);
//! 3. identities are aliases; nodes that no longer reach the output are dropped;
//! 4. a weight-free operator that repeats another on the same inputs is that one (common
//!    subexpression elimination, as tract's and ONNX Runtime's optimizers do): NB201's edges
//!    each start with their own ReLU, and two pools of one node are one pool. Without it, an
//!    arch with two pools of its input is charged twice what it costs (measured on tract:
//!    one pool per cell ≈ 5.0 ms over the skip-only net, two of the same input ≈ the same).
//!
//! When the output does not depend on the input at all, the runtime computes a constant: the
//! executed network is then the cheapest stand-in of the same output shape (a global pooling
//! of the input and a linear layer), and [`Executed::input_dependent`] is false.

use crate::ir::{Network, Op, ValueId};

/// The executed form of a network.
#[derive(Debug, Clone, PartialEq)]
pub struct Executed {
    pub network: Network,
    /// Whether the written network's output depends on its input.
    pub input_dependent: bool,
    /// For each value of the written network, its value in the executed one (when it is kept).
    pub value_map: Vec<Option<ValueId>>,
}

impl Network {
    /// The network the runtime executes (see the module documentation).
    pub fn executed(&self) -> Executed {
        let values = self.nodes.len() + 1;
        let mut depends = vec![false; values];
        depends[0] = true;
        for (i, node) in self.nodes.iter().enumerate() {
            depends[i + 1] = match node.op {
                Op::Zero => false,
                Op::Add => node.inputs.iter().any(|&v| depends[v]),
                // A product or concatenation needs all its inputs; it depends on the input
                // when any of them does (its constant inputs are then materialised).
                _ => node.inputs.iter().any(|&v| depends[v]),
            };
        }
        if !depends[self.output] {
            return self.constant_stand_in();
        }
        // What each kept node reads once constant terms leave sums and identities are aliases.
        let mut alias: Vec<ValueId> = (0..values).collect();
        let mut inputs: Vec<Vec<ValueId>> = vec![Vec::new(); self.nodes.len()];
        for (i, node) in self.nodes.iter().enumerate() {
            let v = i + 1;
            let reads: Vec<ValueId> = match node.op {
                Op::Add if depends[v] => node
                    .inputs
                    .iter()
                    .filter(|&&u| depends[u])
                    .map(|&u| alias[u])
                    .collect(),
                _ => node.inputs.iter().map(|&u| alias[u]).collect(),
            };
            let passes_through = matches!(node.op, Op::Identity)
                || (matches!(node.op, Op::Add) && reads.len() == 1 && depends[v]);
            if passes_through && v != self.output {
                alias[v] = reads[0];
            }
            inputs[i] = reads;
        }
        // Backwards from the output: which nodes are needed.
        let out = alias[self.output];
        let mut needed = vec![false; values];
        needed[out] = true;
        for i in (0..self.nodes.len()).rev() {
            if needed[i + 1] {
                for &u in &inputs[i] {
                    needed[u] = true;
                }
            }
        }
        let mut network = Network::new(self.name.clone(), self.input);
        let mut map: Vec<Option<ValueId>> = vec![None; values];
        map[0] = Some(0);
        // Weight-free nodes already emitted, by what they compute.
        let mut computed: std::collections::HashMap<(String, Vec<ValueId>), ValueId> =
            std::collections::HashMap::new();
        for (i, node) in self.nodes.iter().enumerate() {
            let v = i + 1;
            if !needed[v] || alias[v] != v {
                continue;
            }
            let mut ins: Vec<ValueId> = inputs[i]
                .iter()
                .map(|&u| map[u].expect("inputs come before their readers"))
                .collect();
            let op = match (&node.op, ins.len()) {
                (Op::Add, 1) => Op::Identity, // the output itself was a sum with one live term
                (op, _) => op.clone(),
            };
            let key = if op.has_weights() {
                None
            } else {
                if matches!(op, Op::Add) {
                    ins.sort_unstable(); // a sum's terms commute
                }
                Some((format!("{op:?}"), ins.clone()))
            };
            if let Some(&same) = key.as_ref().and_then(|k| computed.get(k)) {
                map[v] = Some(same);
                continue;
            }
            let id = network
                .add(op, &ins)
                .expect("removing terms and aliases keeps every shape");
            if let Some(k) = key {
                computed.insert(k, id);
            }
            map[v] = Some(id);
        }
        for v in 0..values {
            if map[v].is_none() && needed[alias[v]] {
                map[v] = map[alias[v]];
            }
        }
        network.set_output(map[out].expect("the output is needed"));
        Executed {
            network,
            input_dependent: true,
            value_map: map,
        }
    }

    fn constant_stand_in(&self) -> Executed {
        let out = self.output_shape();
        let mut network = Network::new(self.name.clone(), self.input);
        let pooled = network
            .add(Op::GlobalAvgPool, &[0])
            .expect("pooling fits any input");
        network
            .add(
                Op::Linear {
                    out_features: out.c * out.h * out.w,
                },
                &[pooled],
            )
            .expect("a linear layer fits a pooled value");
        let mut value_map = vec![None; self.nodes.len() + 1];
        value_map[0] = Some(0);
        Executed {
            network,
            input_dependent: false,
            value_map,
        }
    }

    /// The cost figures a latency model starts from, of this network as it stands (call it on
    /// [`Network::executed`]'s result): see [`CostFeatures`].
    pub fn cost_features(&self) -> CostFeatures {
        let mut f = CostFeatures::default();
        for node in &self.nodes {
            let x = self.shape(node.inputs[0]);
            let y = node.shape;
            let bytes = 4.0 * y.elements() as f64;
            f.ops += 1.0;
            match node.op {
                Op::Conv2d { kernel, groups, .. } => {
                    let macs = (x.c / groups * kernel * kernel) as f64 * y.elements() as f64;
                    if groups > 1 {
                        f.depthwise_macs += macs;
                    } else if kernel == 1 {
                        f.pointwise_macs += macs;
                    } else {
                        f.spatial_macs += macs;
                    }
                    f.conv_bytes += bytes;
                }
                Op::Linear { out_features } => {
                    f.pointwise_macs += (x.c * x.h * x.w * out_features * x.n) as f64;
                    f.conv_bytes += bytes;
                }
                // Window ops: each output reads kernel² inputs.
                Op::AvgPool { kernel, .. } | Op::MaxPool { kernel, .. } => {
                    f.pool_work += (y.elements() * kernel * kernel) as f64;
                }
                _ => {
                    let read: usize = node.inputs.iter().map(|&v| self.shape(v).elements()).sum();
                    f.elementwise_bytes += bytes + 4.0 * read as f64;
                }
            }
        }
        f
    }
}

/// Cost figures of the live operators of a network.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CostFeatures {
    /// Multiply-accumulates of dense convolutions with a spatial kernel (3x3, 5x5, ...).
    pub spatial_macs: f64,
    /// Multiply-accumulates of 1x1 convolutions and linear layers (GEMMs).
    pub pointwise_macs: f64,
    /// Multiply-accumulates of grouped and depthwise convolutions (memory-bound on CPUs).
    pub depthwise_macs: f64,
    /// Bytes written by convolutions and linear layers.
    pub conv_bytes: f64,
    /// Inputs read by pooling windows (output elements × kernel²).
    pub pool_work: f64,
    /// Bytes read and written by the other operators (sums, activations, products, ...).
    pub elementwise_bytes: f64,
    /// Operators executed (each one costs a dispatch and a pass over memory).
    pub ops: f64,
}

impl CostFeatures {
    pub const NAMES: [&'static str; 7] = [
        "spatial_macs",
        "pointwise_macs",
        "depthwise_macs",
        "conv_bytes",
        "pool_work",
        "elementwise_bytes",
        "ops",
    ];

    pub fn to_vec(&self) -> Vec<f64> {
        vec![
            self.spatial_macs,
            self.pointwise_macs,
            self.depthwise_macs,
            self.conv_bytes,
            self.pool_work,
            self.elementwise_bytes,
            self.ops,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Shape;

    fn conv(c: usize, k: usize) -> Op {
        Op::Conv2d {
            out_channels: c,
            kernel: k,
            stride: 1,
            padding: k / 2,
            groups: 1,
            bias: true,
        }
    }

    #[test]
    fn constant_terms_leave_sums_and_dead_nodes_go() {
        let mut net = Network::new("t", Shape::nchw(1, 4, 8, 8));
        let zero = net.add(Op::Zero, &[0]).unwrap(); // 1
        let r = net.add(Op::Relu, &[zero]).unwrap(); // 2: constant
        let c = net.add(conv(4, 3), &[r]).unwrap(); // 3: a conv of a constant
        let live = net.add(conv(4, 1), &[0]).unwrap(); // 4
        let _dead = net.add(conv(4, 3), &[0]).unwrap(); // 5: reaches no output
        let sum = net.add(Op::Add, &[c, live]).unwrap(); // 6
        let pooled = net.add(Op::GlobalAvgPool, &[sum]).unwrap();
        net.add(Op::Linear { out_features: 3 }, &[pooled]).unwrap();
        let e = net.executed();
        assert!(e.input_dependent);
        let ops: Vec<&str> = e.network.nodes.iter().map(|n| n.op.name()).collect();
        assert_eq!(ops, ["Conv2d", "GlobalAvgPool", "Linear"]);
        assert_eq!(e.network.output_shape(), net.output_shape());
        // The kept conv is the 1x1 one; the sum is an alias of it.
        assert_eq!(e.value_map[live], Some(1));
        assert_eq!(e.value_map[sum], Some(1));
        assert_eq!(e.value_map[c], None);
        let f = e.network.cost_features();
        assert_eq!(f.spatial_macs, 0.0);
        assert_eq!(f.pointwise_macs, (4 * 4 * 64 + 4 * 3) as f64);
        assert_eq!(f.ops, 3.0);
    }

    #[test]
    fn an_output_that_ignores_the_input_becomes_a_cheap_constant_stand_in() {
        let mut net = Network::new("t", Shape::nchw(1, 3, 8, 8));
        let zero = net.add(Op::Zero, &[0]).unwrap();
        let c = net.add(conv(16, 3), &[zero]).unwrap();
        let p = net.add(Op::GlobalAvgPool, &[c]).unwrap();
        net.add(Op::Linear { out_features: 10 }, &[p]).unwrap();
        let e = net.executed();
        assert!(!e.input_dependent);
        assert_eq!(e.network.output_shape(), net.output_shape());
        assert!(e.network.cost_features().spatial_macs == 0.0);
    }

    #[test]
    fn a_network_without_constants_is_unchanged() {
        let mut net = Network::new("t", Shape::nchw(1, 3, 8, 8));
        let a = net.add(conv(8, 3), &[0]).unwrap();
        let b = net.add(Op::Relu, &[a]).unwrap();
        let s = net.add(Op::Add, &[a, b]).unwrap();
        net.add(Op::GlobalAvgPool, &[s]).unwrap();
        let e = net.executed();
        assert_eq!(e.network.nodes, net.nodes);
        assert_eq!(e.network.output, net.output);
    }

    #[test]
    fn a_repeated_weight_free_operator_is_computed_once() {
        let mut net = Network::new("t", Shape::nchw(1, 4, 8, 8));
        let pool = Op::AvgPool {
            kernel: 3,
            stride: 1,
            padding: 1,
        };
        let r1 = net.add(Op::Relu, &[0]).unwrap(); // 1
        let r2 = net.add(Op::Relu, &[0]).unwrap(); // 2: the same ReLU
        let c1 = net.add(conv(4, 3), &[r1]).unwrap(); // 3
        let c2 = net.add(conv(4, 3), &[r2]).unwrap(); // 4: its own weights, kept
        let p1 = net.add(pool.clone(), &[0]).unwrap(); // 5
        let id = net.add(Op::Identity, &[0]).unwrap(); // 6: an alias of the input
        let p2 = net.add(pool, &[id]).unwrap(); // 7: the same pool
        let s1 = net.add(Op::Add, &[c1, p1]).unwrap(); // 8
        let s2 = net.add(Op::Add, &[p2, c1]).unwrap(); // 9: the same sum, terms swapped
        let s3 = net.add(Op::Add, &[s1, s2, c2]).unwrap();
        net.add(Op::GlobalAvgPool, &[s3]).unwrap();
        let e = net.executed();
        let count = |name: &str| {
            e.network
                .nodes
                .iter()
                .filter(|n| n.op.name() == name)
                .count()
        };
        assert_eq!(count("Relu"), 1);
        assert_eq!(count("Conv2d"), 2);
        assert_eq!(count("AvgPool"), 1);
        assert_eq!(count("Add"), 2);
        assert_eq!(e.value_map[r2], e.value_map[r1]);
        assert_eq!(e.value_map[p2], e.value_map[p1]);
        assert_eq!(e.value_map[s2], e.value_map[s1]);
        assert_ne!(e.value_map[c2], e.value_map[c1]);
        assert_eq!(e.network.output_shape(), net.output_shape());
    }
}
