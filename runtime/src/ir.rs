//! The network IR: a small typed graph of the operators the search spaces need.
//!
//! Values are numbered: value 0 is the network input, value `i + 1` is the output of
//! node `i`. Nodes are stored in topological order (a node may only read earlier values),
//! so building a graph is appending and every pass is a single forward walk.

use crate::RuntimeError;

/// Index of a value in a [`Network`]: 0 is the input, `i + 1` the output of node `i`.
pub type ValueId = usize;

/// NCHW shape of a value (batch is always the network's batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
}

impl Shape {
    pub fn nchw(n: usize, c: usize, h: usize, w: usize) -> Shape {
        Shape { n, c, h, w }
    }

    pub fn elements(&self) -> usize {
        self.n * self.c * self.h * self.w
    }

    pub fn dims(&self) -> [usize; 4] {
        [self.n, self.c, self.h, self.w]
    }
}

/// One operator. Convolutions carry their folded BatchNorm as a bias.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// 2-D convolution, square kernel, symmetric padding.
    Conv2d {
        out_channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        groups: usize,
        /// A folded BatchNorm (or a real bias).
        bias: bool,
    },
    /// A BatchNorm that cannot be folded into a preceding conv: per-channel scale and shift.
    BatchNorm,
    Relu,
    Relu6,
    HardSwish,
    HardSigmoid,
    Sigmoid,
    /// Average pooling; padded cells are not counted in the mean (PyTorch `count_include_pad=False`).
    AvgPool {
        kernel: usize,
        stride: usize,
        padding: usize,
    },
    MaxPool {
        kernel: usize,
        stride: usize,
        padding: usize,
    },
    /// Element-wise sum of two or more values of the same shape.
    Add,
    /// Element-wise product; the second input may be `Nx C x1x1` (squeeze-and-excitation).
    Mul,
    /// Concatenation along channels.
    Concat,
    /// Global average pooling to `N x C x 1 x 1`.
    GlobalAvgPool,
    /// Fully connected layer on a flattened input, with bias. Output `N x out x 1 x 1`.
    Linear {
        out_features: usize,
    },
    /// A tensor of zeros shaped like its input (NAS-Bench-201's `none` edge).
    Zero,
    Identity,
    /// Flatten to `N x (C*H*W) x 1 x 1`.
    Flatten,
}

impl Op {
    /// Whether the operator carries its own parameters (two of them on one input differ).
    pub fn has_weights(&self) -> bool {
        matches!(self, Op::Conv2d { .. } | Op::BatchNorm | Op::Linear { .. })
    }

    /// A short name for messages and summaries.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Conv2d { .. } => "Conv2d",
            Op::BatchNorm => "BatchNorm",
            Op::Relu => "Relu",
            Op::Relu6 => "Relu6",
            Op::HardSwish => "HardSwish",
            Op::HardSigmoid => "HardSigmoid",
            Op::Sigmoid => "Sigmoid",
            Op::AvgPool { .. } => "AvgPool",
            Op::MaxPool { .. } => "MaxPool",
            Op::Add => "Add",
            Op::Mul => "Mul",
            Op::Concat => "Concat",
            Op::GlobalAvgPool => "GlobalAvgPool",
            Op::Linear { .. } => "Linear",
            Op::Zero => "Zero",
            Op::Identity => "Identity",
            Op::Flatten => "Flatten",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub op: Op,
    pub inputs: Vec<ValueId>,
    /// Output shape, inferred when the node is added.
    pub shape: Shape,
}

/// A network: one NCHW input, nodes in topological order, one output.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    pub name: String,
    pub input: Shape,
    pub nodes: Vec<Node>,
    pub output: ValueId,
}

/// Cost figures computed from the IR alone (no runtime involved).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct NetworkCost {
    /// Trainable parameters as the IR holds them (conv biases are folded BatchNorms).
    pub params: u64,
    /// Multiply-accumulates of convolutions and linear layers.
    pub macs: u64,
    /// Bytes of activations written by all nodes (f32), a proxy for memory traffic.
    pub activation_bytes: u64,
}

impl Network {
    pub fn new(name: impl Into<String>, input: Shape) -> Network {
        Network {
            name: name.into(),
            input,
            nodes: Vec::new(),
            output: 0,
        }
    }

    pub fn shape(&self, v: ValueId) -> Shape {
        if v == 0 {
            self.input
        } else {
            self.nodes[v - 1].shape
        }
    }

    /// Appends a node after checking its inputs and inferring its shape; returns its value.
    pub fn add(&mut self, op: Op, inputs: &[ValueId]) -> Result<ValueId, RuntimeError> {
        let next = self.nodes.len() + 1;
        if let Some(&bad) = inputs.iter().find(|&&v| v >= next) {
            return Err(self.invalid(&op, format!("reads value {bad}, which is not defined yet")));
        }
        let shape = self.infer(&op, inputs)?;
        self.nodes.push(Node {
            op,
            inputs: inputs.to_vec(),
            shape,
        });
        self.output = next;
        Ok(next)
    }

    /// Marks which value is the network's output (by default the last node).
    pub fn set_output(&mut self, v: ValueId) {
        self.output = v;
    }

    pub fn output_shape(&self) -> Shape {
        self.shape(self.output)
    }

    fn invalid(&self, op: &Op, why: String) -> RuntimeError {
        RuntimeError::InvalidGraph(format!("node {} ({}) {why}", self.nodes.len(), op.name()))
    }

    fn infer(&self, op: &Op, inputs: &[ValueId]) -> Result<Shape, RuntimeError> {
        let arity = match op {
            Op::Add | Op::Concat => inputs.len().max(2),
            Op::Mul => 2,
            _ => 1,
        };
        if inputs.len() != arity {
            return Err(self.invalid(op, format!("takes {arity} input(s), got {}", inputs.len())));
        }
        let x = self.shape(inputs[0]);
        let window = |k: usize, s: usize, p: usize| self.window(op, x, (k, s, p));
        match *op {
            Op::Conv2d {
                out_channels,
                kernel,
                stride,
                padding,
                groups,
                ..
            } => {
                if groups == 0 || !x.c.is_multiple_of(groups) || out_channels % groups != 0 {
                    return Err(self.invalid(
                        op,
                        format!(
                            "groups {groups} do not divide {} -> {out_channels} channels",
                            x.c
                        ),
                    ));
                }
                let s = window(kernel, stride, padding)?;
                Ok(Shape {
                    c: out_channels,
                    ..s
                })
            }
            Op::AvgPool {
                kernel,
                stride,
                padding,
            }
            | Op::MaxPool {
                kernel,
                stride,
                padding,
            } => window(kernel, stride, padding),
            Op::Add | Op::Mul | Op::Concat => self.merged(op, inputs, x),
            Op::GlobalAvgPool => Ok(Shape::nchw(x.n, x.c, 1, 1)),
            Op::Linear { out_features } => Ok(Shape::nchw(x.n, out_features, 1, 1)),
            Op::Flatten => Ok(Shape::nchw(x.n, x.c * x.h * x.w, 1, 1)),
            Op::BatchNorm
            | Op::Relu
            | Op::Relu6
            | Op::HardSwish
            | Op::HardSigmoid
            | Op::Sigmoid
            | Op::Zero
            | Op::Identity => Ok(x),
        }
    }

    /// The output of a kernel-`k`, stride-`s`, padding-`p` window over `x`.
    fn window(
        &self,
        op: &Op,
        x: Shape,
        (k, s, p): (usize, usize, usize),
    ) -> Result<Shape, RuntimeError> {
        if k == 0 || s == 0 || x.h + 2 * p < k || x.w + 2 * p < k {
            return Err(self.invalid(
                op,
                format!("window {k} stride {s} pad {p} does not fit {x:?}"),
            ));
        }
        Ok(Shape::nchw(
            x.n,
            x.c,
            (x.h + 2 * p - k) / s + 1,
            (x.w + 2 * p - k) / s + 1,
        ))
    }

    /// The output of an op over several inputs (Add, Mul, Concat), whose first is `x`.
    fn merged(&self, op: &Op, inputs: &[ValueId], x: Shape) -> Result<Shape, RuntimeError> {
        match op {
            Op::Mul => {
                let y = self.shape(inputs[1]);
                let gate = y.n == x.n && y.c == x.c && y.h == 1 && y.w == 1;
                if y != x && !gate {
                    return Err(self.invalid(op, format!("multiplies {x:?} by {y:?}")));
                }
                Ok(x)
            }
            Op::Concat => {
                let mut c = x.c;
                for &v in &inputs[1..] {
                    let y = self.shape(v);
                    if (y.n, y.h, y.w) != (x.n, x.h, x.w) {
                        return Err(self.invalid(op, format!("concatenates {y:?} to {x:?}")));
                    }
                    c += y.c;
                }
                Ok(Shape { c, ..x })
            }
            _ => {
                for &v in &inputs[1..] {
                    if self.shape(v) != x {
                        return Err(self.invalid(op, format!("adds {:?} to {x:?}", self.shape(v))));
                    }
                }
                Ok(x)
            }
        }
    }

    /// Parameters, MACs and activation bytes, from shapes alone.
    pub fn cost(&self) -> NetworkCost {
        let mut cost = NetworkCost::default();
        for node in &self.nodes {
            let x = self.shape(node.inputs[0]);
            let y = node.shape;
            cost.activation_bytes += 4 * y.elements() as u64;
            match node.op {
                Op::Conv2d {
                    kernel,
                    groups,
                    bias,
                    ..
                } => {
                    let per_out = (x.c / groups * kernel * kernel) as u64;
                    cost.params += per_out * y.c as u64 + if bias { y.c as u64 } else { 0 };
                    cost.macs += per_out * y.elements() as u64;
                }
                Op::BatchNorm => cost.params += 2 * x.c as u64,
                Op::Linear { out_features } => {
                    let fan_in = (x.c * x.h * x.w) as u64;
                    cost.params += fan_in * out_features as u64 + out_features as u64;
                    cost.macs += fan_in * out_features as u64 * x.n as u64;
                }
                _ => {}
            }
        }
        cost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_inferred_and_bad_graphs_refused() {
        let mut net = Network::new("t", Shape::nchw(1, 3, 32, 32));
        let conv = Op::Conv2d {
            out_channels: 8,
            kernel: 3,
            stride: 2,
            padding: 1,
            groups: 1,
            bias: true,
        };
        let a = net.add(conv, &[0]).unwrap();
        assert_eq!(net.shape(a), Shape::nchw(1, 8, 16, 16));
        let dw = Op::Conv2d {
            out_channels: 8,
            kernel: 5,
            stride: 1,
            padding: 2,
            groups: 8,
            bias: true,
        };
        let b = net.add(dw, &[a]).unwrap();
        assert_eq!(net.shape(b), Shape::nchw(1, 8, 16, 16));
        // Adding values of different shapes is refused with the node named.
        let err = net.add(Op::Add, &[0, b]).unwrap_err().to_string();
        assert!(err.contains("Add"), "{err}");
        // Reading a value that does not exist yet is refused.
        assert!(net.add(Op::Relu, &[99]).is_err());
        // Groups must divide the channels.
        let bad = Op::Conv2d {
            out_channels: 8,
            kernel: 1,
            stride: 1,
            padding: 0,
            groups: 3,
            bias: false,
        };
        assert!(net.add(bad, &[b]).is_err());
        let g = net.add(Op::GlobalAvgPool, &[b]).unwrap();
        let se = net.add(Op::Mul, &[b, g]).unwrap();
        assert_eq!(net.shape(se), net.shape(b));
        // params: 3*8*9 + 8 bias, then depthwise 8*25 + 8.
        assert_eq!(net.cost().params, 3 * 8 * 9 + 8 + 8 * 25 + 8);
        // MACs: 3*9 per output of 8x16x16, then 25 per output of 8x16x16.
        assert_eq!(net.cost().macs, 27 * 8 * 256 + 25 * 8 * 256);
    }
}
