//! NAS-Bench-201: the cell search space and its CIFAR macro network.
//!
//! A cell is a DAG of 4 nodes; each of the 6 edges `j -> i` (j < i) carries one of 5 ops.
//! Node `i` is the sum of its incoming edges. The arch string is NAS-Bench-201's notation:
//! `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|` (node 1, node 2, node 3; `~j` names the source).
//!
//! The macro network is NAS-Bench-201's for CIFAR (input 1x3x32x32):
//! stem 3x3 conv (16) + BN; 5 cells at C=16; residual reduction block 16->32 (stride 2);
//! 5 cells at C=32; reduction 32->64; 5 cells at C=64; BN + ReLU; global average pool;
//! linear to 10 classes. BatchNorms after convolutions are folded into the conv's bias.

use std::fmt;

use edgenas_runtime::{Network, Op, Shape, ValueId};
use rand::{Rng, RngExt};

use crate::NasError;

/// The five cell operations, in NAS-Bench-201's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Nb201Op {
    None,
    SkipConnect,
    NorConv1x1,
    NorConv3x3,
    AvgPool3x3,
}

impl Nb201Op {
    pub const ALL: [Nb201Op; 5] = [
        Nb201Op::None,
        Nb201Op::SkipConnect,
        Nb201Op::NorConv1x1,
        Nb201Op::NorConv3x3,
        Nb201Op::AvgPool3x3,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Nb201Op::None => "none",
            Nb201Op::SkipConnect => "skip_connect",
            Nb201Op::NorConv1x1 => "nor_conv_1x1",
            Nb201Op::NorConv3x3 => "nor_conv_3x3",
            Nb201Op::AvgPool3x3 => "avg_pool_3x3",
        }
    }

    pub fn from_name(s: &str) -> Option<Nb201Op> {
        Nb201Op::ALL.into_iter().find(|op| op.name() == s)
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Edges in string order: (target node, source node).
pub const EDGES: [(usize, usize); 6] = [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)];

/// Cells per stage and stage widths of the CIFAR network.
pub const CELLS_PER_STAGE: usize = 5;
pub const STAGE_CHANNELS: [usize; 3] = [16, 32, 64];
pub const NUM_CLASSES: usize = 10;
pub const INPUT: Shape = Shape {
    n: 1,
    c: 3,
    h: 32,
    w: 32,
};

/// One NAS-Bench-201 cell: the op of each edge in [`EDGES`] order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nb201Arch {
    pub ops: [Nb201Op; 6],
}

impl Nb201Arch {
    pub const COUNT: usize = 15_625;

    pub fn uniform(op: Nb201Op) -> Nb201Arch {
        Nb201Arch { ops: [op; 6] }
    }

    /// All 15,625 cells; `all()[k]` has edge `e`'s op = digit `e` of `k` in base 5 (edge 0 most significant).
    pub fn all() -> Vec<Nb201Arch> {
        (0..Self::COUNT).map(Self::from_ordinal).collect()
    }

    pub fn from_ordinal(mut k: usize) -> Nb201Arch {
        let mut ops = [Nb201Op::None; 6];
        for slot in ops.iter_mut().rev() {
            *slot = Nb201Op::ALL[k % 5];
            k /= 5;
        }
        Nb201Arch { ops }
    }

    pub fn ordinal(&self) -> usize {
        self.ops.iter().fold(0, |k, op| k * 5 + op.index())
    }

    pub fn parse(s: &str) -> Result<Nb201Arch, NasError> {
        let err = |token: &str, reason: String| NasError::parse("nb201", s, token, reason);
        let body = s.trim();
        let groups: Vec<&str> = body.split('+').collect();
        if groups.len() != 3 {
            return Err(err(
                body,
                format!("expected 3 nodes separated by '+', found {}", groups.len()),
            ));
        }
        let mut ops = [Nb201Op::None; 6];
        let mut e = 0;
        for (node_ix, group) in groups.iter().enumerate() {
            let node = node_ix + 1;
            let inner = group
                .strip_prefix('|')
                .and_then(|g| g.strip_suffix('|'))
                .ok_or_else(|| err(group, format!("node {node} must be written '|op~0|...|'")))?;
            let tokens: Vec<&str> = inner.split('|').collect();
            if tokens.len() != node {
                return Err(err(
                    group,
                    format!(
                        "node {node} needs {node} incoming edge(s), found {}",
                        tokens.len()
                    ),
                ));
            }
            for (src, token) in tokens.iter().enumerate() {
                let (name, from) = token
                    .split_once('~')
                    .ok_or_else(|| err(token, "an edge is written 'op~source'".into()))?;
                let op = Nb201Op::from_name(name).ok_or_else(|| {
                    let names: Vec<&str> = Nb201Op::ALL.iter().map(|o| o.name()).collect();
                    err(
                        token,
                        format!("unknown op '{name}', expected one of {}", names.join(", ")),
                    )
                })?;
                if from != src.to_string() {
                    return Err(err(
                        token,
                        format!("edge {} of node {node} must come from node {src}", src + 1),
                    ));
                }
                ops[e] = op;
                e += 1;
            }
        }
        Ok(Nb201Arch { ops })
    }

    pub fn sample(rng: &mut impl Rng) -> Nb201Arch {
        Self::from_ordinal(rng.random_range(0..Self::COUNT))
    }

    /// Changes the op of one random edge to a different op.
    pub fn mutate(&self, rng: &mut impl Rng) -> Nb201Arch {
        let mut next = *self;
        let e = rng.random_range(0..6);
        let shift = rng.random_range(1..5);
        next.ops[e] = Nb201Op::ALL[(self.ops[e].index() + shift) % 5];
        next
    }

    /// The op on edge `source -> target`.
    pub fn edge(&self, target: usize, source: usize) -> Nb201Op {
        let e = EDGES
            .iter()
            .position(|&edge| edge == (target, source))
            .expect("edge of the 4-node cell");
        self.ops[e]
    }

    /// The CIFAR network of this cell.
    pub fn build(&self) -> Network {
        build_network(self).expect("the NB201 skeleton is shape-consistent for every cell")
    }

    /// Cell as an operation-on-node graph, the form HELP's GCN reads: node 0 is the cell
    /// input, nodes 1..=6 the edges in [`EDGES`] order, node 7 the cell output. Features are
    /// one-hot over [input, output, none, skip_connect, nor_conv_1x1, nor_conv_3x3,
    /// avg_pool_3x3]. `adjacency[a][b] = 1` when node b reads node a's value.
    pub fn op_graph(&self) -> OpGraph {
        let mut g = OpGraph {
            adjacency: [[0.0; OP_GRAPH_NODES]; OP_GRAPH_NODES],
            features: [[0.0; OP_GRAPH_FEATURES]; OP_GRAPH_NODES],
        };
        g.features[0][0] = 1.0;
        g.features[OP_GRAPH_NODES - 1][1] = 1.0;
        for (e, &(target, source)) in EDGES.iter().enumerate() {
            let node = e + 1;
            g.features[node][2 + self.ops[e].index()] = 1.0;
            if source == 0 {
                g.adjacency[0][node] = 1.0;
            } else {
                // The edge reads the value of cell node `source`: the sum of its in-edges.
                for (e2, &(t2, _)) in EDGES.iter().enumerate() {
                    if t2 == source {
                        g.adjacency[e2 + 1][node] = 1.0;
                    }
                }
            }
            if target == 3 {
                g.adjacency[node][OP_GRAPH_NODES - 1] = 1.0;
            }
        }
        g
    }
}

pub const OP_GRAPH_NODES: usize = 8;
pub const OP_GRAPH_FEATURES: usize = 7;

/// A cell as a small graph with one-hot node features (see [`Nb201Arch::op_graph`]).
#[derive(Debug, Clone, PartialEq)]
pub struct OpGraph {
    pub adjacency: [[f32; OP_GRAPH_NODES]; OP_GRAPH_NODES],
    pub features: [[f32; OP_GRAPH_FEATURES]; OP_GRAPH_NODES],
}

impl fmt::Display for Nb201Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut e = 0;
        for node in 1..=3 {
            if node > 1 {
                write!(f, "+")?;
            }
            write!(f, "|")?;
            for src in 0..node {
                write!(f, "{}~{src}|", self.ops[e].name())?;
                e += 1;
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for Nb201Arch {
    type Err = NasError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Nb201Arch::parse(s)
    }
}

fn relu_conv(
    net: &mut Network,
    x: ValueId,
    c: usize,
    k: usize,
    stride: usize,
) -> Result<ValueId, edgenas_runtime::RuntimeError> {
    let r = net.add(Op::Relu, &[x])?;
    net.add(
        Op::Conv2d {
            out_channels: c,
            kernel: k,
            stride,
            padding: (k - 1) / 2,
            groups: 1,
            bias: true, // the folded BatchNorm of ReLU-Conv-BN
        },
        &[r],
    )
}

fn build_cell(
    net: &mut Network,
    arch: &Nb201Arch,
    x: ValueId,
    c: usize,
) -> Result<ValueId, edgenas_runtime::RuntimeError> {
    let mut nodes = vec![x];
    for target in 1..=3 {
        let mut terms = Vec::new();
        for (source, &input) in nodes.iter().enumerate().take(target) {
            let term = match arch.edge(target, source) {
                Nb201Op::None => continue, // adds nothing to the sum
                Nb201Op::SkipConnect => input,
                Nb201Op::NorConv1x1 => relu_conv(net, input, c, 1, 1)?,
                Nb201Op::NorConv3x3 => relu_conv(net, input, c, 3, 1)?,
                Nb201Op::AvgPool3x3 => net.add(
                    Op::AvgPool {
                        kernel: 3,
                        stride: 1,
                        padding: 1,
                    },
                    &[input],
                )?,
            };
            terms.push(term);
        }
        let value = match terms.len() {
            0 => net.add(Op::Zero, &[x])?,
            1 => terms[0],
            _ => net.add(Op::Add, &terms)?,
        };
        nodes.push(value);
    }
    Ok(nodes[3])
}

/// NAS-Bench-201's ResNet basic block with stride 2: two ReLU-Conv-BN 3x3 and a shortcut
/// of 2x2 average pooling then a 1x1 conv without BN.
fn build_reduction(
    net: &mut Network,
    x: ValueId,
    c: usize,
) -> Result<ValueId, edgenas_runtime::RuntimeError> {
    let a = relu_conv(net, x, c, 3, 2)?;
    let b = relu_conv(net, a, c, 3, 1)?;
    let pooled = net.add(
        Op::AvgPool {
            kernel: 2,
            stride: 2,
            padding: 0,
        },
        &[x],
    )?;
    let shortcut = net.add(
        Op::Conv2d {
            out_channels: c,
            kernel: 1,
            stride: 1,
            padding: 0,
            groups: 1,
            bias: false,
        },
        &[pooled],
    )?;
    net.add(Op::Add, &[shortcut, b])
}

fn build_network(arch: &Nb201Arch) -> Result<Network, edgenas_runtime::RuntimeError> {
    let mut net = Network::new(format!("nb201:{arch}"), INPUT);
    let mut x = net.add(
        Op::Conv2d {
            out_channels: STAGE_CHANNELS[0],
            kernel: 3,
            stride: 1,
            padding: 1,
            groups: 1,
            bias: true, // folded stem BatchNorm
        },
        &[0],
    )?;
    for (stage, &c) in STAGE_CHANNELS.iter().enumerate() {
        if stage > 0 {
            x = build_reduction(&mut net, x, c)?;
        }
        for _ in 0..CELLS_PER_STAGE {
            x = build_cell(&mut net, arch, x, c)?;
        }
    }
    let bn = net.add(Op::BatchNorm, &[x])?;
    let act = net.add(Op::Relu, &[bn])?;
    let pooled = net.add(Op::GlobalAvgPool, &[act])?;
    net.add(
        Op::Linear {
            out_features: NUM_CLASSES,
        },
        &[pooled],
    )?;
    Ok(net)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn ordinal_round_trips_and_enumeration_is_complete() {
        let all = Nb201Arch::all();
        let set: std::collections::HashSet<_> = all.iter().collect();
        assert_eq!(set.len(), 15_625);
        for (k, a) in all.iter().enumerate() {
            assert_eq!(a.ordinal(), k);
        }
    }

    #[test]
    fn malformed_strings_name_the_bad_token() {
        let cases = [
            (
                "|nor_conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                "nor_conv_5x5~0",
            ),
            ("|none~0|+|none~0|none~2|+|none~0|none~1|none~2|", "none~2"),
            ("|none~0|+|none~0|+|none~0|none~1|none~2|", "|none~0|"),
            ("|none~0|+|none~0|none~1|", "|none~0|+|none~0|none~1|"),
            ("|none~0|+|none~0|none1|+|none~0|none~1|none~2|", "none1"),
            ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "none~0|"),
        ];
        for (input, token) in cases {
            let err = Nb201Arch::parse(input).unwrap_err();
            match &err {
                NasError::Parse { token: t, .. } => assert_eq!(t, token, "{err}"),
                other => panic!("unexpected {other}"),
            }
            assert!(err.to_string().contains(token), "{err}");
        }
    }

    #[test]
    fn mutation_changes_exactly_one_edge() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let a = Nb201Arch::sample(&mut rng);
        for _ in 0..100 {
            let b = a.mutate(&mut rng);
            let diff = a
                .ops
                .iter()
                .zip(b.ops.iter())
                .filter(|(x, y)| x != y)
                .count();
            assert_eq!(diff, 1);
        }
    }

    #[test]
    fn sampling_is_seeded() {
        let draw = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..20)
                .map(|_| Nb201Arch::sample(&mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
    }

    #[test]
    fn op_graph_wires_edges_through_cell_nodes() {
        let g = Nb201Arch::uniform(Nb201Op::NorConv3x3).op_graph();
        // Edge 2->... : edge index 2 is (2,1): it reads node 1 = edge 0 (1,0).
        assert_eq!(g.adjacency[1][3], 1.0);
        // Edge (3,2) (node 6) reads node 2 = edges (2,0) and (2,1) (nodes 2 and 3).
        assert_eq!(g.adjacency[2][6], 1.0);
        assert_eq!(g.adjacency[3][6], 1.0);
        // Only the three edges into node 3 feed the output.
        let into_out: f32 = (0..8).map(|a| g.adjacency[a][7]).sum();
        assert_eq!(into_out, 3.0);
        // Every op node has exactly one op one-hot set.
        for n in 1..=6 {
            assert_eq!(g.features[n][5], 1.0);
            assert_eq!(g.features[n].iter().sum::<f32>(), 1.0);
        }
    }
}
