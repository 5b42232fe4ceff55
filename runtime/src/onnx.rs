//! IR -> ONNX `ModelProto`, with seeded random weights.
//!
//! The same proto feeds tract (without a file round-trip) and, encoded, is the `.onnx`
//! export, so what was timed is exactly what a user deploys. Standard ONNX ops (opset 14)
//! are a stabler interface than tract-core's internal op structs.

use prost::Message;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tract_onnx::pb::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto,
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

use crate::ir::{Network, Op, Shape, ValueId};

/// Opset of the exported models: 14 is the first with `HardSwish`.
pub const OPSET: i64 = 14;
pub const INPUT_NAME: &str = "input";
pub const OUTPUT_NAME: &str = "output";

/// Builds the ONNX model of `net`; weights are drawn from a generator seeded with `seed`.
/// Latency does not depend on weight values, but outputs must stay finite, so weights are
/// scaled by fan-in (variance-preserving) and BatchNorms stay close to identity.
pub fn to_model_proto(net: &Network, seed: u64) -> ModelProto {
    to_model_proto_with_taps(net, seed, &[])
}

/// Name of the `k`-th extra output (see [`to_model_proto_with_taps`]).
pub fn tap_name(k: usize) -> String {
    format!("tap_{k}")
}

/// Like [`to_model_proto`], with the values `taps` exposed as extra outputs after the main one
/// (for proxies that read activations, such as NASWOT's ReLU patterns).
///
/// What is emitted is the network the runtime executes ([`Network::executed`]): constant
/// branches and values that reach no output are left out, so what is timed, predicted and
/// exported is one and the same graph. Taps on values that are not executed are dropped.
pub fn to_model_proto_with_taps(net: &Network, seed: u64, taps: &[ValueId]) -> ModelProto {
    let executed = net.executed();
    let taps: Vec<ValueId> = taps
        .iter()
        .filter_map(|&v| executed.value_map.get(v).copied().flatten())
        .collect();
    let net = &executed.network;
    let mut b = GraphBuilder {
        graph: GraphProto {
            name: net.name.clone(),
            ..Default::default()
        },
        rng: ChaCha8Rng::seed_from_u64(seed),
        names: vec![INPUT_NAME.to_string()],
    };
    b.graph
        .input
        .push(value_info(INPUT_NAME, &net.input.dims()));
    for (i, node) in net.nodes.iter().enumerate() {
        let is_output = i + 1 == net.output;
        let name = b.node(net, i, &node.op, &node.inputs, is_output);
        b.names.push(name);
    }
    let out_name = b.names[net.output].clone();
    let out_shape = net.output_shape();
    let out_dims: Vec<usize> = if out_shape.h == 1 && out_shape.w == 1 && ends_in_linear(net) {
        vec![out_shape.n, out_shape.c]
    } else {
        out_shape.dims().to_vec()
    };
    // The output keeps a stable name whatever node produces it.
    b.push("Identity", &[&out_name], OUTPUT_NAME, vec![]);
    b.graph.output.push(value_info(OUTPUT_NAME, &out_dims));
    // Named by position: two taps may be one executed value (a repeated ReLU computed once),
    // and each still counts as its own output, as in the written network.
    for (k, &v) in taps.iter().enumerate() {
        let src = b.names[v].clone();
        b.push("Identity", &[&src], &tap_name(k), vec![]);
        b.graph
            .output
            .push(value_info(&tap_name(k), &net.shape(v).dims()));
    }
    ModelProto {
        ir_version: 7,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "edgenas".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(b.graph),
        metadata_props: vec![
            StringStringEntryProto {
                key: "edgenas.network".into(),
                value: net.name.clone(),
            },
            StringStringEntryProto {
                key: "edgenas.input_dependent".into(),
                value: executed.input_dependent.to_string(),
            },
            StringStringEntryProto {
                key: "edgenas.weight_seed".into(),
                value: seed.to_string(),
            },
        ],
        ..Default::default()
    }
}

/// The `.onnx` bytes of `net`.
pub fn to_onnx_bytes(net: &Network, seed: u64) -> Vec<u8> {
    to_model_proto(net, seed).encode_to_vec()
}

fn ends_in_linear(net: &Network) -> bool {
    net.output > 0 && matches!(net.nodes[net.output - 1].op, Op::Linear { .. })
}

struct GraphBuilder {
    graph: GraphProto,
    rng: ChaCha8Rng,
    /// ONNX tensor name of each IR value.
    names: Vec<String>,
}

impl GraphBuilder {
    fn push(&mut self, op_type: &str, inputs: &[&str], output: &str, attrs: Vec<AttributeProto>) {
        self.graph.node.push(node(op_type, inputs, output, attrs));
    }

    fn init(&mut self, name: String, dims: &[usize], data: Vec<f32>) -> String {
        debug_assert_eq!(dims.iter().product::<usize>(), data.len());
        self.graph.initializer.push(f32_tensor(&name, dims, data));
        name
    }

    fn uniform(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.rng.random_range(lo..hi)).collect()
    }

    /// Emits the ONNX nodes of IR node `i`; returns the name of its output tensor.
    fn node(
        &mut self,
        net: &Network,
        i: usize,
        op: &Op,
        inputs: &[ValueId],
        is_output: bool,
    ) -> String {
        let out = format!("n{i}");
        let ins: Vec<String> = inputs.iter().map(|&v| self.names[v].clone()).collect();
        let x = net.shape(inputs[0]);
        let x0 = ins[0].as_str();
        match *op {
            Op::Conv2d { .. } => self.conv(op, &out, x0, x),
            Op::BatchNorm => self.batch_norm(&out, x0, x.c),
            Op::Relu => self.push("Relu", &[x0], &out, vec![]),
            Op::Relu6 => {
                let lo = self.init(format!("{out}.min"), &[], vec![0.0]);
                let hi = self.init(format!("{out}.max"), &[], vec![6.0]);
                self.push("Clip", &[x0, &lo, &hi], &out, vec![]);
            }
            Op::HardSwish => self.push("HardSwish", &[x0], &out, vec![]),
            // PyTorch's Hardsigmoid is relu6(x + 3) / 6: alpha 1/6, beta 0.5.
            Op::HardSigmoid => {
                let attrs = vec![float("alpha", 1.0 / 6.0), float("beta", 0.5)];
                self.push("HardSigmoid", &[x0], &out, attrs)
            }
            Op::Sigmoid => self.push("Sigmoid", &[x0], &out, vec![]),
            Op::AvgPool {
                kernel,
                stride,
                padding,
            } => {
                let mut attrs = pool_attrs(kernel, stride, padding);
                attrs.push(int("count_include_pad", 0));
                self.push("AveragePool", &[x0], &out, attrs);
            }
            Op::MaxPool {
                kernel,
                stride,
                padding,
            } => self.push("MaxPool", &[x0], &out, pool_attrs(kernel, stride, padding)),
            Op::Add => self.add_chain(&out, &ins),
            Op::Mul => self.push("Mul", &[x0, &ins[1]], &out, vec![]),
            Op::Concat => {
                let args: Vec<&str> = ins.iter().map(|s| s.as_str()).collect();
                self.push("Concat", &args, &out, vec![int("axis", 1)]);
            }
            Op::GlobalAvgPool => self.push("GlobalAveragePool", &[x0], &out, vec![]),
            Op::Linear { out_features } => self.linear(&out, x0, x, out_features, is_output),
            Op::Zero => {
                let zero = self.init(format!("{out}.zero"), &[], vec![0.0]);
                self.push("Mul", &[x0, &zero], &out, vec![]);
            }
            Op::Identity => self.push("Identity", &[x0], &out, vec![]),
            Op::Flatten => self.reshape4(x0, &out, [x.n, x.c * x.h * x.w, 1, 1]),
        }
        out
    }

    /// A convolution with He-uniform weights (and a bias when the op has one).
    fn conv(&mut self, op: &Op, out: &str, x0: &str, x: Shape) {
        let Op::Conv2d {
            out_channels,
            kernel,
            stride,
            padding,
            groups,
            bias,
        } = *op
        else {
            unreachable!("called for convolutions");
        };
        let fan_in = x.c / groups * kernel * kernel;
        let bound = (3.0 / fan_in as f32).sqrt();
        let w = self.uniform(out_channels * fan_in, -bound, bound);
        let shape = [out_channels, x.c / groups, kernel, kernel];
        let w = self.init(format!("{out}.w"), &shape, w);
        let mut args = vec![x0, w.as_str()];
        let b;
        if bias {
            let data = self.uniform(out_channels, -0.1, 0.1);
            b = self.init(format!("{out}.b"), &[out_channels], data);
            args.push(b.as_str());
        }
        let k = kernel as i64;
        let (s, p) = (stride as i64, padding as i64);
        let attrs = vec![
            ints("kernel_shape", &[k, k]),
            ints("strides", &[s, s]),
            ints("pads", &[p, p, p, p]),
            int("group", groups as i64),
        ];
        self.push("Conv", &args, out, attrs);
    }

    /// BatchNormalization with a seeded scale and shift over `c` channels (mean 0, var 1).
    fn batch_norm(&mut self, out: &str, x0: &str, c: usize) {
        let scale = self.uniform(c, 0.8, 1.2);
        let scale = self.init(format!("{out}.scale"), &[c], scale);
        let shift = self.uniform(c, -0.1, 0.1);
        let shift = self.init(format!("{out}.shift"), &[c], shift);
        let mean = self.init(format!("{out}.mean"), &[c], vec![0.0; c]);
        let var = self.init(format!("{out}.var"), &[c], vec![1.0; c]);
        let args = [x0, &scale, &shift, &mean, &var];
        let eps = vec![float("epsilon", 1e-5)];
        self.push("BatchNormalization", &args, out, eps);
    }

    /// A chain of binary Adds: the form every runtime fuses best.
    fn add_chain(&mut self, out: &str, ins: &[String]) {
        let mut acc = ins[0].clone();
        for (j, other) in ins.iter().enumerate().skip(1) {
            let name = if j + 1 == ins.len() {
                out.to_string()
            } else {
                format!("{out}.sum{j}")
            };
            self.push("Add", &[&acc, other], &name, vec![]);
            acc = name;
        }
    }

    /// Flatten + Gemm, reshaped back to [N, C, 1, 1] unless it is the network's output.
    fn linear(&mut self, out: &str, x0: &str, x: Shape, out_features: usize, is_output: bool) {
        let fan_in = x.c * x.h * x.w;
        let flat = format!("{out}.flat");
        self.push("Flatten", &[x0], &flat, vec![int("axis", 1)]);
        let bound = (3.0 / fan_in as f32).sqrt();
        let w = self.uniform(out_features * fan_in, -bound, bound);
        let w = self.init(format!("{out}.w"), &[out_features, fan_in], w);
        let bias = self.uniform(out_features, -0.1, 0.1);
        let bias = self.init(format!("{out}.b"), &[out_features], bias);
        let trans_b = vec![int("transB", 1)];
        if is_output {
            self.push("Gemm", &[&flat, &w, &bias], out, trans_b);
        } else {
            let gemm = format!("{out}.gemm");
            self.push("Gemm", &[&flat, &w, &bias], &gemm, trans_b);
            self.reshape4(&gemm, out, [x.n, out_features, 1, 1]);
        }
    }

    fn reshape4(&mut self, input: &str, out: &str, dims: [usize; 4]) {
        let shape = format!("{out}.shape");
        self.graph.initializer.push(TensorProto {
            dims: vec![4],
            data_type: DataType::Int64 as i32,
            name: shape.clone(),
            int64_data: dims.iter().map(|&d| d as i64).collect(),
            ..Default::default()
        });
        self.push("Reshape", &[input, &shape], out, vec![]);
    }
}

fn pool_attrs(kernel: usize, stride: usize, padding: usize) -> Vec<AttributeProto> {
    let (k, s, p) = (kernel as i64, stride as i64, padding as i64);
    vec![
        ints("kernel_shape", &[k, k]),
        ints("strides", &[s, s]),
        ints("pads", &[p, p, p, p]),
    ]
}

/// A node named after its one output (the quantizer writes its nodes with it too).
pub(crate) fn node(
    op_type: &str,
    inputs: &[&str],
    output: &str,
    attribute: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.to_string()],
        name: output.to_string(),
        op_type: op_type.to_string(),
        attribute,
        ..Default::default()
    }
}

/// A float tensor (initializer) of `dims`.
pub(crate) fn f32_tensor(name: &str, dims: &[usize], data: Vec<f32>) -> TensorProto {
    TensorProto {
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: DataType::Float as i32,
        name: name.into(),
        float_data: data,
        ..Default::default()
    }
}

pub(crate) fn int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i,
        ..Default::default()
    }
}

fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..Default::default()
    }
}

fn float(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Float as i32,
        f,
        ..Default::default()
    }
}

fn value_info(name: &str, dims: &[usize]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|&d| tensor_shape_proto::Dimension {
            denotation: String::new(),
            value: Some(tensor_shape_proto::dimension::Value::DimValue(d as i64)),
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            denotation: String::new(),
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
        }),
        doc_string: String::new(),
    }
}
