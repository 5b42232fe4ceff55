//! edgenas-nas: search spaces (parse, format, enumerate, sample, mutate, encode, build) and search.
//!
//! Must not: measure, predict or read latency tables: a search takes its latency and objective
//! as closures, so the same code runs on predictions, measurements or an oracle.

pub mod blocks;
pub mod fbnet;
pub mod kernels;
pub mod nb201;
pub mod ofa;
pub mod search;
mod short_id;

pub use fbnet::{FbnetArch, FbnetBlock};
pub use kernels::{Kernel, KERNEL_PREFIX};
pub use nb201::{Nb201Arch, Nb201Op};
pub use ofa::OfaArch;
pub use short_id::short_id;

use edgenas_runtime::Network;
use rand::Rng;

#[derive(Debug, thiserror::Error)]
pub enum NasError {
    /// A malformed arch string; `token` is the part that is wrong.
    #[error("bad {space} arch at '{token}': {reason}")]
    Parse {
        space: &'static str,
        input: String,
        token: String,
        reason: String,
    },
    #[error("unknown search space '{0}' (known: nb201, fbnet, ofa)")]
    UnknownSpace(String),
    /// A string that is not an arch of any space (empty, a placeholder such as `ARCH`).
    #[error("{0}")]
    NotAnArch(String),
}

impl NasError {
    /// A parse error of `input` in `space`, naming the wrong `token`.
    pub(crate) fn parse(space: &'static str, input: &str, token: &str, reason: String) -> NasError {
        NasError::Parse {
            space,
            input: input.to_string(),
            token: token.to_string(),
            reason,
        }
    }
}

/// The search spaces edgenas knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Space {
    Nb201,
    Fbnet,
    Ofa,
}

/// How a space's archs are encoded for the latency predictor.
#[derive(Debug, Clone, PartialEq)]
pub enum EncodingSpec {
    /// Node features of a DAG shared by all archs; `adjacency[i * nodes + j] = 1` when node `i`
    /// reads node `j`.
    Graph {
        nodes: usize,
        features: usize,
        adjacency: Vec<f32>,
    },
    /// A flat one-hot vector.
    Flat { len: usize },
}

impl Space {
    pub const ALL: [Space; 3] = [Space::Nb201, Space::Fbnet, Space::Ofa];

    pub fn name(self) -> &'static str {
        match self {
            Space::Nb201 => "nb201",
            Space::Fbnet => "fbnet",
            Space::Ofa => "ofa",
        }
    }

    pub fn from_name(s: &str) -> Result<Space, NasError> {
        match s {
            "nb201" | "nasbench201" => Ok(Space::Nb201),
            "fbnet" => Ok(Space::Fbnet),
            "ofa" => Ok(Space::Ofa),
            other => Err(NasError::UnknownSpace(other.to_string())),
        }
    }

    /// The columns of HELP's latency tables that hold the arch, in [`Space::arch_from_columns`]
    /// order.
    pub fn table_columns(self) -> &'static [&'static str] {
        match self {
            Space::Nb201 => &["arch_str"],
            Space::Fbnet => &["op_idx_list"],
            Space::Ofa => &["ks", "e", "d", "r"],
        }
    }

    /// The arch of a table row, from the values of [`Space::table_columns`].
    pub fn arch_from_columns(self, values: &[&str]) -> Result<Arch, NasError> {
        match (self, values) {
            (Space::Nb201, [s]) => Nb201Arch::parse(s).map(Arch::Nb201),
            (Space::Fbnet, [s]) => FbnetArch::parse(s).map(Arch::Fbnet),
            (Space::Ofa, [ks, e, d, r]) => OfaArch::from_columns(ks, e, d, r).map(Arch::Ofa),
            _ => panic!("arch_from_columns needs the values of table_columns()"),
        }
    }

    pub fn parse(self, s: &str) -> Result<Arch, NasError> {
        match self {
            Space::Nb201 => Nb201Arch::parse(s).map(Arch::Nb201),
            Space::Fbnet => FbnetArch::parse(s).map(Arch::Fbnet),
            Space::Ofa => OfaArch::parse(s).map(Arch::Ofa),
        }
    }

    pub fn encoding(self) -> EncodingSpec {
        match self {
            Space::Nb201 => {
                let g = Nb201Arch::uniform(Nb201Op::None).op_graph();
                let n = nb201::OP_GRAPH_NODES;
                let mut adjacency = vec![0.0; n * n];
                for (a, row) in g.adjacency.iter().enumerate() {
                    for (b, &v) in row.iter().enumerate() {
                        // op_graph: adjacency[a][b] = 1 when b reads a.
                        adjacency[b * n + a] = v;
                    }
                }
                EncodingSpec::Graph {
                    nodes: n,
                    features: nb201::OP_GRAPH_FEATURES,
                    adjacency,
                }
            }
            Space::Fbnet => EncodingSpec::Flat {
                len: fbnet::LAYERS * 9,
            },
            Space::Ofa => EncodingSpec::Flat {
                len: ofa::BLOCKS * 6 + 25,
            },
        }
    }

    /// HELP's 10 reference archs of the space, in hardware-embedding order.
    pub fn references(self) -> Vec<Arch> {
        let key = match self {
            Space::Nb201 => "nasbench201",
            Space::Fbnet => "fbnet",
            Space::Ofa => "ofa",
        };
        REFERENCES_CSV
            .lines()
            .skip(1)
            .filter_map(|line| {
                let (space, rest) = line.split_once(',')?;
                let (_position, rest) = rest.split_once(',')?;
                let (_index, arch) = rest.split_once(',')?;
                (space == key).then(|| arch.trim_matches('"').replace("\"\"", "\""))
            })
            .map(|s| {
                self.parse(&s)
                    .expect("the compiled-in reference archs parse")
            })
            .collect()
    }

    pub fn sample(self, rng: &mut impl Rng) -> Arch {
        match self {
            Space::Nb201 => Arch::Nb201(Nb201Arch::sample(rng)),
            Space::Fbnet => Arch::Fbnet(FbnetArch::sample(rng)),
            Space::Ofa => Arch::Ofa(OfaArch::sample(rng)),
        }
    }
}

/// How many values [`Arch::cost_features`] returns.
pub const COST_FEATURES: usize = edgenas_runtime::CostFeatures::NAMES.len() + 1;

/// HELP's hardware-embedding reference archs (`help_hw_embedding_reference_archs.csv`).
const REFERENCES_CSV: &str = include_str!("references.csv");

/// A candidate of any space. Its string form is its identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Arch {
    Nb201(Nb201Arch),
    Fbnet(FbnetArch),
    Ofa(OfaArch),
}

impl Arch {
    /// Parses an arch string, recognising its space from its form: NB201 strings start with
    /// `|`, OFA strings name `ks=` (or are HELP's JSON), anything else is read as FBNet.
    pub fn parse(s: &str) -> Result<Arch, NasError> {
        let t = s.trim_start();
        if t.starts_with('|') {
            Space::Nb201.parse(s)
        } else if t.starts_with('{') || t.starts_with("ks=") {
            Space::Ofa.parse(s)
        } else if t.contains('-') {
            Space::Fbnet.parse(s)
        } else {
            // Not the shape of any space's strings: say what the shapes are, rather than
            // report it as a malformed FBNet list.
            let what = if t.trim().is_empty() {
                "an empty arch string".to_string()
            } else {
                format!("'{}' is not an arch string", t.trim())
            };
            Err(NasError::NotAnArch(format!(
                "{what}: give an NB201 cell (|nor_conv_3x3~0|+|...|), an FBNet list of 22 \
                 blocks (k3_e1-skip-... or op indices 7-8-1-...), an OFA config \
                 (ks=...;e=...;d=...;r=224), or a model file (.onnx, .tflite)"
            )))
        }
    }

    pub fn space(&self) -> Space {
        match self {
            Arch::Nb201(_) => Space::Nb201,
            Arch::Fbnet(_) => Space::Fbnet,
            Arch::Ofa(_) => Space::Ofa,
        }
    }

    pub fn build(&self) -> Network {
        match self {
            Arch::Nb201(a) => a.build(),
            Arch::Fbnet(a) => a.build(),
            Arch::Ofa(a) => a.build(),
        }
    }

    /// The predictor's input for this arch (see [`Space::encoding`]).
    pub fn encode(&self) -> Vec<f32> {
        match self {
            Arch::Nb201(a) => a.op_graph().features.iter().flatten().copied().collect(),
            Arch::Fbnet(a) => a.encode(),
            Arch::Ofa(a) => a.encode(),
        }
    }

    /// The cost figures of the network the runtime executes (dead edges removed, constant
    /// paths folded: [`edgenas_runtime::executed`]), then 1 when its output depends on its
    /// input at all: the features the latency model starts from. Derived from the IR, so it is
    /// the same for every space.
    pub fn cost_features(&self) -> Vec<f64> {
        let executed = self.build().executed();
        let mut f = executed.network.cost_features().to_vec();
        f.push(if executed.input_dependent { 1.0 } else { 0.0 });
        f
    }

    pub fn mutate(&self, rng: &mut impl Rng) -> Arch {
        match self {
            Arch::Nb201(a) => Arch::Nb201(a.mutate(rng)),
            Arch::Fbnet(a) => Arch::Fbnet(a.mutate(rng)),
            Arch::Ofa(a) => Arch::Ofa(a.mutate(rng)),
        }
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Arch::Nb201(a) => a.fmt(f),
            Arch::Fbnet(a) => a.fmt(f),
            Arch::Ofa(a) => a.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_space_has_ten_references_that_encode_to_its_length() {
        for space in Space::ALL {
            let refs = space.references();
            assert_eq!(refs.len(), 10, "{space:?}");
            let len = match space.encoding() {
                EncodingSpec::Graph {
                    nodes, features, ..
                } => nodes * features,
                EncodingSpec::Flat { len } => len,
            };
            assert!(refs
                .iter()
                .all(|a| a.encode().len() == len && a.space() == space));
        }
    }

    #[test]
    fn arch_parse_recognises_the_space() {
        for space in Space::ALL {
            for a in space.references() {
                assert_eq!(Arch::parse(&a.to_string()).unwrap(), a);
            }
        }
    }
}
