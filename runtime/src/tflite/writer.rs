//! IR -> TensorFlow Lite flatbuffer (`.tflite`), with the same weights as the ONNX export.
//!
//! The weights are read from the ONNX model of the same network and seed, so tract and
//! TensorFlow Lite run one network with one set of weights and their outputs can be compared.
//! The graph is the executed network ([`Network::executed`]), written the way TensorFlow's
//! converter writes a PyTorch-style network: NHWC activations, OHWI filters, ReLU/ReLU6 fused
//! into the convolution or sum before them, an explicit PAD where PyTorch's symmetric padding
//! is not TensorFlow's SAME, a depthwise op for depthwise convolutions, SPLIT + convolutions +
//! CONCATENATION for grouped ones.
//!
//! At int8 ([`to_tflite_int8_bytes`]) it writes the full-integer model TensorFlow Lite's converter
//! writes: int8 weights, symmetric per output channel (per tensor for fully connected layers),
//! int32 biases at the input's scale times the weight's, int8 activations with one scale and
//! zero point per tensor from the range the fp32 network reaches on the seeded input
//! ([`crate::quantize::calibrate`]), QUANTIZE after the input and DEQUANTIZE before the output.
//! Operators that only move values (pooling, padding, reshapes, transposes, splits) keep their
//! input's scale, LOGISTIC's output is fixed at 1/256 as TensorFlow Lite requires, and a fused
//! ReLU or ReLU6 narrows its operator's output range.

use std::collections::HashMap;

use super::flatbuffer::{finish, Field, Obj, Table};
use crate::ir::{Network, Op, Shape};
use crate::{onnx, RuntimeError};

/// The TFLite schema's numbers this writer uses (tensorflow/lite/schema/schema.fbs).
mod schema {
    pub const ADD: i32 = 0;
    pub const AVERAGE_POOL_2D: i32 = 1;
    pub const CONCATENATION: i32 = 2;
    pub const CONV_2D: i32 = 3;
    pub const DEPTHWISE_CONV_2D: i32 = 4;
    pub const FULLY_CONNECTED: i32 = 9;
    pub const LOGISTIC: i32 = 14;
    pub const MAX_POOL_2D: i32 = 17;
    pub const MUL: i32 = 18;
    pub const RELU: i32 = 19;
    pub const RELU6: i32 = 21;
    pub const RESHAPE: i32 = 22;
    pub const PAD: i32 = 34;
    pub const TRANSPOSE: i32 = 39;
    pub const MEAN: i32 = 40;
    pub const SPLIT: i32 = 49;
    pub const HARD_SWISH: i32 = 117;
    pub const DEQUANTIZE: i32 = 6;
    pub const QUANTIZE: i32 = 114;

    // BuiltinOptions union members.
    pub const CONV_2D_OPTIONS: u8 = 1;
    pub const DEPTHWISE_CONV_2D_OPTIONS: u8 = 2;
    pub const POOL_2D_OPTIONS: u8 = 5;
    pub const FULLY_CONNECTED_OPTIONS: u8 = 8;
    pub const CONCATENATION_OPTIONS: u8 = 10;
    pub const ADD_OPTIONS: u8 = 11;
    pub const RESHAPE_OPTIONS: u8 = 17;
    pub const MUL_OPTIONS: u8 = 21;
    pub const REDUCER_OPTIONS: u8 = 27;
    pub const SPLIT_OPTIONS: u8 = 35;

    // TensorType, Padding, ActivationFunctionType.
    pub const FLOAT32: i8 = 0;
    pub const INT32: i8 = 2;
    pub const INT8: i8 = 9;
    pub const SAME: i8 = 0;
    pub const VALID: i8 = 1;
    pub const ACT_NONE: i8 = 0;
    pub const ACT_RELU: i8 = 1;
    pub const ACT_RELU6: i8 = 3;

    /// Model.version of the current schema.
    pub const VERSION: u32 = 3;
}

/// The `.tflite` bytes of `net`, with the weights of `onnx::to_model_proto(net, seed)`.
pub fn to_tflite_bytes(net: &Network, seed: u64) -> Result<Vec<u8>, RuntimeError> {
    write(net, seed, false)
}

/// The full-integer int8 `.tflite` bytes of `net`, quantised from the weights of
/// `onnx::to_model_proto(net, seed)` and calibrated on `seeded_input(_, seed)`.
pub fn to_tflite_int8_bytes(net: &Network, seed: u64) -> Result<Vec<u8>, RuntimeError> {
    write(net, seed, true)
}

fn write(net: &Network, seed: u64, int8: bool) -> Result<Vec<u8>, RuntimeError> {
    let proto = onnx::to_model_proto(net, seed);
    let int8 = if int8 {
        Some(crate::quantize::calibrate(&proto, seed)?)
    } else {
        None
    };
    let graph = proto.graph.as_ref().expect("the exporter writes a graph");
    let weights: HashMap<&str, &[f32]> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), t.float_data.as_slice()))
        .collect();
    let executed = net.executed();
    let net = &executed.network;
    let mut b = Builder {
        weights,
        tensors: Vec::new(),
        shapes: Vec::new(),
        quant: Vec::new(),
        ranges: int8,
        constants: HashMap::new(),
        buffers: vec![Table::new()],
        codes: Vec::new(),
        operators: Vec::new(),
    };
    // The model takes and returns fp32; at int8 it quantises the input first.
    let float_input = b.tensor(
        "input".into(),
        &nhwc(net.input),
        schema::FLOAT32,
        None,
        None,
    );
    let input = if b.ranges.is_some() {
        let q = b.activation("input.q".into(), &nhwc(net.input));
        b.op(schema::QUANTIZE, &[float_input], &[q], None);
        q
    } else {
        float_input
    };
    let (fused, absorbed) = fusions(net);
    let mut vals: Vec<i32> = vec![input];
    for (i, node) in net.nodes.iter().enumerate() {
        let ins: Vec<i32> = node.inputs.iter().map(|&v| vals[v]).collect();
        let out = if absorbed[i] {
            ins[0]
        } else {
            b.node(net, i, &ins, fused[i])?
        };
        vals.push(out);
    }
    let mut output = vals[net.output];
    if output == input {
        return Err(RuntimeError::InvalidGraph(
            "the network has no operation between its input and its output".into(),
        ));
    }
    if b.ranges.is_some() {
        let shape = b.shapes[output as usize].clone();
        let float = b.tensor("output".into(), &shape, schema::FLOAT32, None, None);
        b.op(schema::DEQUANTIZE, &[output], &[float], None);
        output = float;
    }
    Ok(b.finish(&net.name, float_input, output))
}

/// An int8 tensor's quantisation: one scale and zero point, or one per channel along `dim`.
#[derive(Debug, Clone, PartialEq)]
struct Quant {
    scales: Vec<f32>,
    zero_points: Vec<i64>,
    dim: i32,
}

impl Quant {
    /// The activation parameters covering `[lo, hi]` (and zero), as int8.
    fn covering(lo: f32, hi: f32) -> Quant {
        Quant::covering_at_least(lo, hi, 0.0)
    }

    /// The same, with a scale of `min_scale` at least.
    fn covering_at_least(lo: f32, hi: f32, min_scale: f32) -> Quant {
        let p = crate::quantize::QuantParams::covering(lo, hi);
        let scale = p.scale.max(min_scale);
        let zp = (-lo.min(0.0) / scale).round().clamp(0.0, 255.0) as i64 - 128;
        Quant {
            scales: vec![scale],
            zero_points: vec![zp],
            dim: 0,
        }
    }

    fn scale(&self) -> f32 {
        self.scales[0]
    }

    /// The real range the int8 values stand for.
    fn range(&self) -> (f32, f32) {
        let (s, z) = (self.scales[0], self.zero_points[0] as f32);
        (s * (-128.0 - z), s * (127.0 - z))
    }

    fn table(&self) -> Table {
        Table::new()
            .obj(2, Obj::Floats(self.scales.clone()))
            .obj(3, Obj::Longs(self.zero_points.clone()))
            .i32(6, self.dim)
    }
}

/// A convolution's geometry: kernel, input and output channels per group, stride, TFLite
/// padding and the fused activation.
struct ConvSpec {
    k: usize,
    ig: usize,
    og: usize,
    stride: i32,
    padding: i8,
    act: i8,
}

impl ConvSpec {
    fn options(&self) -> (u8, Table) {
        let t = Table::new()
            .with(0, Field::I8(self.padding))
            .i32(1, self.stride)
            .i32(2, self.stride)
            .with(3, Field::I8(self.act))
            .i32(4, 1)
            .i32(5, 1);
        (schema::CONV_2D_OPTIONS, t)
    }

    fn depthwise_options(&self) -> (u8, Table) {
        let t = Table::new()
            .with(0, Field::I8(self.padding))
            .i32(1, self.stride)
            .i32(2, self.stride)
            .i32(3, self.og as i32)
            .with(4, Field::I8(self.act))
            .i32(5, 1)
            .i32(6, 1);
        (schema::DEPTHWISE_CONV_2D_OPTIONS, t)
    }
}

/// ONNX convolution weights [O, I/g, k, k] (row-major) of the output channels `outs`, in
/// TFLite's [O, k, k, I/g] order.
fn ohwi(w: &[f32], outs: std::ops::Range<usize>, ig: usize, k: usize) -> Vec<f32> {
    let mut f = Vec::with_capacity(outs.len() * k * k * ig);
    for o in outs {
        for kh in 0..k {
            for kw in 0..k {
                f.extend((0..ig).map(|c| w[((o * ig + c) * k + kh) * k + kw]));
            }
        }
    }
    f
}

fn nhwc(s: Shape) -> [usize; 4] {
    [s.n, s.h, s.w, s.c]
}

#[derive(Debug, Clone, Copy)]
struct Window {
    kernel: usize,
    stride: usize,
    padding: usize,
}

/// How PyTorch's symmetric padding is written in TFLite.
enum Padding {
    Valid,
    /// TensorFlow's SAME pads exactly as PyTorch does here.
    Same,
    /// Only an explicit PAD gives PyTorch's result (stride 2 on even sizes: SAME pads 0 before).
    Explicit(usize),
}

fn padding_for(x: Shape, win: Window) -> Padding {
    let Window {
        kernel: k,
        stride: s,
        padding: p,
    } = win;
    if p == 0 {
        return Padding::Valid;
    }
    let same = |n: usize| {
        let out = n.div_ceil(s);
        let total = ((out - 1) * s + k).saturating_sub(n);
        total / 2 == p && total - total / 2 == p && out == (n + 2 * p - k) / s + 1
    };
    if same(x.h) && same(x.w) {
        Padding::Same
    } else {
        Padding::Explicit(p)
    }
}

/// Which ReLU/ReLU6 nodes fold into the convolution or sum before them (their only reader):
/// the activation per node, and the nodes absorbed.
fn fusions(net: &Network) -> (Vec<i8>, Vec<bool>) {
    let mut readers = vec![0usize; net.nodes.len() + 1];
    for node in &net.nodes {
        for &v in &node.inputs {
            readers[v] += 1;
        }
    }
    readers[net.output] += 1;
    let mut fused = vec![schema::ACT_NONE; net.nodes.len()];
    let mut absorbed = vec![false; net.nodes.len()];
    for (j, node) in net.nodes.iter().enumerate() {
        let act = match node.op {
            Op::Relu => schema::ACT_RELU,
            Op::Relu6 => schema::ACT_RELU6,
            _ => continue,
        };
        let v = node.inputs[0];
        if v == 0 || readers[v] != 1 || fused[v - 1] != schema::ACT_NONE {
            continue;
        }
        if matches!(net.nodes[v - 1].op, Op::Conv2d { .. } | Op::Add) {
            fused[v - 1] = act;
            absorbed[j] = true;
        }
    }
    (fused, absorbed)
}

fn add_options(act: i8) -> (u8, Table) {
    (schema::ADD_OPTIONS, Table::new().with(0, Field::I8(act)))
}

fn mul_options() -> (u8, Table) {
    (
        schema::MUL_OPTIONS,
        Table::new().with(0, Field::I8(schema::ACT_NONE)),
    )
}

fn concat_options(act: i8) -> (u8, Table) {
    (
        schema::CONCATENATION_OPTIONS,
        Table::new().i32(0, 3).with(1, Field::I8(act)),
    )
}

fn ints(v: &[usize]) -> Obj {
    Obj::Ints(v.iter().map(|&d| d as i32).collect())
}

struct Builder<'a> {
    weights: HashMap<&'a str, &'a [f32]>,
    tensors: Vec<Table>,
    /// Each tensor's shape and, at int8, its quantisation.
    shapes: Vec<Vec<usize>>,
    quant: Vec<Option<Quant>>,
    /// At int8: the range of every ONNX tensor on the seeded input (None: fp32).
    ranges: Option<HashMap<String, (f32, f32)>>,
    /// The values of the int8 element-wise constants, by tensor (to quantise one again).
    constants: HashMap<i32, (String, Vec<f32>)>,
    /// Buffer 0 is the empty buffer of every tensor without data.
    buffers: Vec<Table>,
    /// Builtin code of each operator code index.
    codes: Vec<i32>,
    operators: Vec<Table>,
}

impl<'a> Builder<'a> {
    fn weight(&self, name: &str) -> Result<&'a [f32], RuntimeError> {
        self.weights.get(name).copied().ok_or_else(|| {
            RuntimeError::InvalidGraph(format!("the ONNX model has no weight {name}"))
        })
    }

    fn tensor(
        &mut self,
        name: String,
        shape: &[usize],
        ty: i8,
        data: Option<Vec<u8>>,
        quant: Option<Quant>,
    ) -> i32 {
        let buffer = match data {
            None => 0,
            Some(data) => {
                self.buffers
                    .push(Table::new().obj(0, Obj::Bytes { data, align: 16 }));
                self.buffers.len() - 1
            }
        };
        let mut t = Table::new()
            .obj(0, ints(shape))
            .with(1, Field::I8(ty))
            .with(2, Field::U32(buffer as u32))
            .obj(3, Obj::Str(name));
        if let Some(q) = &quant {
            t = t.obj(4, Obj::Table(q.table()));
        }
        self.tensors.push(t);
        self.shapes.push(shape.to_vec());
        self.quant.push(quant);
        (self.tensors.len() - 1) as i32
    }

    /// An activation tensor: fp32, or at int8 quantised over the range its ONNX namesake
    /// reaches.
    fn activation(&mut self, name: String, shape: &[usize]) -> i32 {
        self.output(name, shape, schema::ACT_NONE)
    }

    /// An operator's output with `act` fused into it (a ReLU's floor, a ReLU6's ceiling).
    fn output(&mut self, name: String, shape: &[usize], act: i8) -> i32 {
        match self.calibrated(&name, act) {
            Some(q) => self.int8_activation(name, shape, q),
            None => self.tensor(name, shape, schema::FLOAT32, None, None),
        }
    }

    /// At int8, the quantisation of the tensor `name` from its calibrated range, `act` applied.
    fn calibrated(&self, name: &str, act: i8) -> Option<Quant> {
        let ranges = self.ranges.as_ref()?;
        // The writer's names are the ONNX model's but for the Gemm (`.fc` there, `.gemm` in
        // ONNX) and the quantised input (`input.q`, the ONNX `input`).
        let key = if let Some(base) = name.strip_suffix(".fc") {
            format!("{base}.gemm")
        } else {
            name.strip_suffix(".q").unwrap_or(name).to_string()
        };
        let (mut lo, mut hi) = ranges.get(&key).copied().unwrap_or((-1.0, 1.0));
        debug_assert!(ranges.contains_key(&key), "no range for {key}");
        match act {
            schema::ACT_RELU => lo = lo.max(0.0),
            schema::ACT_RELU6 => (lo, hi) = (lo.max(0.0), hi.min(6.0)),
            _ => {}
        }
        Some(Quant::covering(lo, hi))
    }

    fn int8_activation(&mut self, name: String, shape: &[usize], q: Quant) -> i32 {
        self.tensor(name, shape, schema::INT8, None, Some(q))
    }

    /// An activation with the quantisation of tensor `like` (operators that only move values).
    fn activation_like(&mut self, name: String, shape: &[usize], like: i32) -> i32 {
        match self.quant[like as usize].clone() {
            Some(q) => self.int8_activation(name, shape, q),
            None => self.tensor(name, shape, schema::FLOAT32, None, None),
        }
    }

    fn is_int8(&self) -> bool {
        self.ranges.is_some()
    }

    /// An element-wise constant: fp32, or at int8 quantised over its own values.
    fn constant(&mut self, name: String, shape: &[usize], values: &[f32]) -> i32 {
        if !self.is_int8() {
            return self.constant_f32(name, shape, values);
        }
        self.int8_constant(name, shape, values, 0.0)
    }

    /// An int8 constant over its own values, at a scale of `min_scale` at least.
    fn int8_constant(
        &mut self,
        name: String,
        shape: &[usize],
        values: &[f32],
        min_scale: f32,
    ) -> i32 {
        let lo = values.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let q = Quant::covering_at_least(lo, hi, min_scale);
        let (s, z) = (q.scale(), q.zero_points[0] as f32);
        let data = values
            .iter()
            .map(|v| (v / s + z).round().clamp(-128.0, 127.0) as i8 as u8)
            .collect();
        let t = self.tensor(name.clone(), shape, schema::INT8, Some(data), Some(q));
        self.constants.insert(t, (name, values.to_vec()));
        t
    }

    /// Filter and bias of a convolution or fully connected layer reading `x`: fp32, or at int8
    /// the filter symmetric per channel along `dim` (per tensor when `dim` is None) and the
    /// bias int32 at the input's scale times the filter's.
    fn filter(
        &mut self,
        (w_name, shape, w): (String, &[usize], &[f32]),
        (b_name, bias): (String, &[f32]),
        dim: Option<usize>,
        x: i32,
    ) -> (i32, i32) {
        let Some(xq) = self.quant[x as usize].clone() else {
            let f = self.constant_f32(w_name, shape, w);
            let b = self.constant_f32(b_name, &[bias.len()], bias);
            return (f, b);
        };
        let (channels, channel): (usize, Box<dyn Fn(usize) -> usize>) = match dim {
            Some(0) => {
                let per = w.len() / shape[0];
                (shape[0], Box::new(move |i| i / per))
            }
            Some(d) => {
                let c = shape[d];
                (c, Box::new(move |i| i % c))
            }
            None => (1, Box::new(|_| 0)),
        };
        let (q, scales) = crate::quantize::symmetric_int8(w, channels, channel);
        let q: Vec<u8> = q.into_iter().map(|v| v as u8).collect();
        let wq = Quant {
            zero_points: vec![0; scales.len()],
            scales: scales.clone(),
            dim: dim.unwrap_or(0) as i32,
        };
        let f = self.tensor(w_name, shape, schema::INT8, Some(q), Some(wq));
        let b_scales: Vec<f32> = scales.iter().map(|s| s * xq.scale()).collect();
        let data = bias
            .iter()
            .enumerate()
            .flat_map(|(o, v)| {
                let s = b_scales[if channels == 1 { 0 } else { o }];
                ((v / s).round() as i32).to_le_bytes()
            })
            .collect();
        let bq = Quant {
            zero_points: vec![0; b_scales.len()],
            scales: b_scales,
            dim: 0,
        };
        let b = self.tensor(b_name, &[bias.len()], schema::INT32, Some(data), Some(bq));
        (f, b)
    }

    fn constant_f32(&mut self, name: String, shape: &[usize], values: &[f32]) -> i32 {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.tensor(name, shape, schema::FLOAT32, Some(data), None)
    }

    fn constant_i32(&mut self, name: String, shape: &[usize], values: &[i32]) -> i32 {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.tensor(name, shape, schema::INT32, Some(data), None)
    }

    fn op(&mut self, code: i32, inputs: &[i32], outputs: &[i32], options: Option<(u8, Table)>) {
        let index = match self.codes.iter().position(|&c| c == code) {
            Some(i) => i,
            None => {
                self.codes.push(code);
                self.codes.len() - 1
            }
        };
        let mut t = Table::new()
            .with(0, Field::U32(index as u32))
            .obj(1, Obj::Ints(inputs.to_vec()))
            .obj(2, Obj::Ints(outputs.to_vec()));
        if let Some((kind, options)) = options {
            t = t.with(3, Field::U8(kind)).obj(4, Obj::Table(options));
        }
        self.operators.push(t);
    }

    /// Node `i` of `net` over its inputs' tensors `ins`, with the activation `act` fused into
    /// it; its output tensor. One arm per op: the writer's table.
    fn node(&mut self, net: &Network, i: usize, ins: &[i32], act: i8) -> Result<i32, RuntimeError> {
        let node = &net.nodes[i];
        let x = net.shape(node.inputs[0]);
        let name = format!("n{i}");
        let is_output = i + 1 == net.output;
        Ok(match node.op {
            Op::Identity => ins[0],
            Op::Conv2d {
                kernel,
                stride,
                padding,
                groups,
                bias,
                ..
            } => self.conv(
                &name,
                ins[0],
                x,
                node.shape,
                Window {
                    kernel,
                    stride,
                    padding,
                },
                groups,
                bias,
                act,
            )?,
            Op::BatchNorm => self.batch_norm(&name, ins[0], x, act)?,
            Op::Relu => self.unary(schema::RELU, &name, ins[0], node.shape),
            Op::Relu6 => self.unary(schema::RELU6, &name, ins[0], node.shape),
            Op::HardSwish => self.unary(schema::HARD_SWISH, &name, ins[0], node.shape),
            Op::Sigmoid => self.logistic(&name, ins[0], node.shape),
            Op::HardSigmoid => self.hard_sigmoid(&name, ins[0], x),
            Op::AvgPool {
                kernel,
                stride,
                padding,
            }
            | Op::MaxPool {
                kernel,
                stride,
                padding,
            } => {
                let code = if matches!(node.op, Op::AvgPool { .. }) {
                    schema::AVERAGE_POOL_2D
                } else {
                    schema::MAX_POOL_2D
                };
                let win = Window {
                    kernel,
                    stride,
                    padding,
                };
                self.pool(code, &name, ins[0], x, node.shape, win)?
            }
            Op::Add => self.add_chain(&name, ins, x, act),
            Op::Mul => {
                let out = self.activation(name.clone(), &nhwc(x));
                self.op(schema::MUL, &[ins[0], ins[1]], &[out], Some(mul_options()));
                out
            }
            Op::Zero => {
                let zero = self.constant(format!("{name}.zero"), &[1], &[0.0]);
                let out = self.activation(name.clone(), &nhwc(x));
                self.op(schema::MUL, &[ins[0], zero], &[out], Some(mul_options()));
                out
            }
            Op::Concat => self.concat(&name, ins, node),
            Op::GlobalAvgPool => self.global_avg_pool(&name, ins[0], node.shape),
            Op::Flatten => {
                if x.h * x.w == 1 {
                    // [N, 1, 1, C] is already the flattened order.
                    ins[0]
                } else {
                    let nchw = self.transpose_to_nchw(&name, ins[0], x);
                    self.reshape(&name, nchw, &nhwc(node.shape))
                }
            }
            Op::Linear { out_features } => {
                self.linear(&name, ins[0], x, (out_features, node.shape), is_output)?
            }
        })
    }

    /// Folded BatchNorm: y = scale * (x - 0) / sqrt(1 + eps) + shift, as the exporter writes it.
    fn batch_norm(&mut self, name: &str, x: i32, s: Shape, act: i8) -> Result<i32, RuntimeError> {
        let scale = self.weight(&format!("{name}.scale"))?;
        let shift = self.weight(&format!("{name}.shift"))?.to_vec();
        let norm = (1.0f32 + 1e-5).sqrt();
        let scale: Vec<f32> = scale.iter().map(|v| v / norm).collect();
        let k = self.constant(format!("{name}.scale"), &[s.c], &scale);
        let t = self.constant(format!("{name}.shift"), &[s.c], &shift);
        let scaled = match self.quant[x as usize].clone() {
            // The product's range: the input's times the extreme scales.
            Some(q) => {
                let (lo, hi) = q.range();
                let (kl, kh) = scale
                    .iter()
                    .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                        (a.min(v), b.max(v))
                    });
                let ends = [lo * kl, lo * kh, hi * kl, hi * kh];
                let lo = ends.iter().copied().fold(f32::INFINITY, f32::min);
                let hi = ends.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                self.int8_activation(format!("{name}.scaled"), &nhwc(s), Quant::covering(lo, hi))
            }
            None => self.activation(format!("{name}.scaled"), &nhwc(s)),
        };
        self.op(schema::MUL, &[x, k], &[scaled], Some(mul_options()));
        let (inputs, out) = match self.calibrated(name, act) {
            Some(q) => self.int8_add(name, [scaled, t], q, &nhwc(s)),
            None => ([scaled, t], self.output(name.to_string(), &nhwc(s), act)),
        };
        self.op(schema::ADD, &inputs, &[out], Some(add_options(act)));
        Ok(out)
    }

    /// PyTorch's hardsigmoid: relu6(x + 3) / 6.
    fn hard_sigmoid(&mut self, name: &str, x: i32, s: Shape) -> i32 {
        let three = self.constant(format!("{name}.three"), &[1], &[3.0]);
        let sixth = self.constant(format!("{name}.sixth"), &[1], &[1.0 / 6.0]);
        let label = format!("{name}.shifted");
        let (inputs, shifted) = if self.is_int8() {
            // relu6(x + 3): [0, 6] whatever x.
            self.int8_add(&label, [x, three], Quant::covering(0.0, 6.0), &nhwc(s))
        } else {
            ([x, three], self.activation(label, &nhwc(s)))
        };
        let relu6 = Some(add_options(schema::ACT_RELU6));
        self.op(schema::ADD, &inputs, &[shifted], relu6);
        let out = self.activation(name.to_string(), &nhwc(s));
        self.op(schema::MUL, &[shifted, sixth], &[out], Some(mul_options()));
        out
    }

    /// A sum of several inputs as a chain of ADDs, the activation fused into the last.
    fn add_chain(&mut self, name: &str, ins: &[i32], s: Shape, act: i8) -> i32 {
        let mut acc = ins[0];
        for (j, &other) in ins.iter().enumerate().skip(1) {
            let last = j + 1 == ins.len();
            let label = if last {
                name.to_string()
            } else {
                format!("{name}.sum{j}")
            };
            let act = if last { act } else { schema::ACT_NONE };
            let (inputs, sum) = match self.calibrated(&label, act) {
                Some(q) => self.int8_add(&label, [acc, other], q, &nhwc(s)),
                None => ([acc, other], self.activation(label, &nhwc(s))),
            };
            self.op(schema::ADD, &inputs, &[sum], Some(add_options(act)));
            acc = sum;
        }
        acc
    }

    /// An int8 sum's output tensor (calibrated at `q`) and inputs, kept within the input-to-
    /// output scale ratios XNNPACK's int8 ADD takes, [2^-10, 2^8): the output is widened to a
    /// 256th of the larger input's scale at least, and an input too fine for it is requantised
    /// to a 1024th of the output's (it adds less than a quarter of one output step; NB201's deep
    /// cells sum such terms). TensorFlow Lite's own kernels take any ratio, XNNPACK 2.9 refuses
    /// the whole model.
    fn int8_add(
        &mut self,
        name: &str,
        ins: [i32; 2],
        mut q: Quant,
        shape: &[usize],
    ) -> ([i32; 2], i32) {
        let in_scale = |b: &Self, t: i32| b.quant[t as usize].as_ref().map_or(0.0, Quant::scale);
        let widest = in_scale(self, ins[0]).max(in_scale(self, ins[1]));
        if widest / q.scale() >= 255.0 {
            q.scales[0] = widest / 255.0;
        }
        let out = self.int8_activation(name.to_string(), shape, q.clone());
        let mut inputs = ins;
        for (j, t) in inputs.iter_mut().enumerate() {
            let Some(tq) = self.quant[*t as usize].clone() else {
                continue;
            };
            let floor = q.scale() / 1024.0 * 1.001;
            if tq.scale() >= floor {
                continue;
            }
            let shape = self.shapes[*t as usize].clone();
            if let Some((cname, values)) = self.constants.get(t).cloned() {
                // A constant (a BatchNorm's shift) is written at the coarser scale instead.
                *t = self.int8_constant(format!("{cname}.coarse"), &shape, &values, floor);
                continue;
            }
            let wider = Quant {
                scales: vec![floor],
                ..tq
            };
            let r = self.int8_activation(format!("{name}.requant{j}"), &shape, wider);
            self.op(schema::QUANTIZE, &[*t], &[r], None);
            *t = r;
        }
        (inputs, out)
    }

    /// MEAN over H and W, the dimensions kept.
    fn global_avg_pool(&mut self, name: &str, x: i32, out_shape: Shape) -> i32 {
        let axes = self.constant_i32(format!("{name}.axes"), &[2], &[1, 2]);
        let out = self.activation(name.to_string(), &nhwc(out_shape));
        let options = Table::new().with(0, Field::Bool(true));
        let options = Some((schema::REDUCER_OPTIONS, options));
        self.op(schema::MEAN, &[x, axes], &[out], options);
        out
    }

    /// FULLY_CONNECTED over the row-major flattening of NCHW (as the ONNX model does),
    /// reshaped back to the IR's shape unless it is the network's output.
    fn linear(
        &mut self,
        name: &str,
        x: i32,
        s: Shape,
        (out_features, out_shape): (usize, Shape),
        is_output: bool,
    ) -> Result<i32, RuntimeError> {
        let flat = if s.h * s.w == 1 {
            x
        } else {
            self.transpose_to_nchw(name, x, s)
        };
        let fan_in = s.c * s.h * s.w;
        let w = self.weight(&format!("{name}.w"))?.to_vec();
        let bias = self.weight(&format!("{name}.b"))?.to_vec();
        let (w, bias) = self.filter(
            (format!("{name}.w"), &[out_features, fan_in], &w),
            (format!("{name}.b"), &bias),
            None,
            flat,
        );
        let label = if is_output {
            name.to_string()
        } else {
            format!("{name}.fc")
        };
        let fc = self.activation(label, &[s.n, out_features]);
        let options = Table::new()
            .with(0, Field::I8(schema::ACT_NONE))
            .with(2, Field::Bool(false));
        let options = Some((schema::FULLY_CONNECTED_OPTIONS, options));
        self.op(schema::FULLY_CONNECTED, &[flat, w, bias], &[fc], options);
        Ok(if is_output {
            fc
        } else {
            self.reshape(name, fc, &nhwc(out_shape))
        })
    }

    /// CONCATENATION along channels. At int8 TensorFlow Lite wants every input at the output's
    /// scale: the output covers all the inputs' ranges, and an input at another scale is
    /// requantised to it first (QUANTIZE int8 to int8), as the converter does.
    fn concat(&mut self, name: &str, ins: &[i32], node: &crate::ir::Node) -> i32 {
        let quants: Option<Vec<Quant>> = ins
            .iter()
            .map(|&t| self.quant[t as usize].clone())
            .collect();
        let (out, ins) = match quants {
            Some(quants) => {
                let (lo, hi) = quants
                    .iter()
                    .map(Quant::range)
                    .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), (lo, hi)| {
                        (a.min(lo), b.max(hi))
                    });
                let q = Quant::covering(lo, hi);
                let out = self.int8_activation(name.to_string(), &nhwc(node.shape), q.clone());
                let mut inputs = Vec::with_capacity(ins.len());
                for (j, (&t, tq)) in ins.iter().zip(&quants).enumerate() {
                    if *tq == q {
                        inputs.push(t);
                        continue;
                    }
                    let shape = self.shapes[t as usize].clone();
                    let r = self.int8_activation(format!("{name}.in{j}"), &shape, q.clone());
                    self.op(schema::QUANTIZE, &[t], &[r], None);
                    inputs.push(r);
                }
                (out, inputs)
            }
            None => (
                self.activation(name.to_string(), &nhwc(node.shape)),
                ins.to_vec(),
            ),
        };
        let options = Some(concat_options(schema::ACT_NONE));
        self.op(schema::CONCATENATION, &ins, &[out], options);
        out
    }

    /// LOGISTIC; at int8 its output is fixed at scale 1/256, zero point -128, as TensorFlow
    /// Lite requires.
    fn logistic(&mut self, name: &str, x: i32, shape: Shape) -> i32 {
        if !self.is_int8() {
            return self.unary(schema::LOGISTIC, name, x, shape);
        }
        let q = Quant {
            scales: vec![1.0 / 256.0],
            zero_points: vec![-128],
            dim: 0,
        };
        let out = self.int8_activation(name.to_string(), &nhwc(shape), q);
        self.op(schema::LOGISTIC, &[x], &[out], None);
        out
    }

    fn unary(&mut self, code: i32, name: &str, x: i32, shape: Shape) -> i32 {
        let out = self.activation(name.to_string(), &nhwc(shape));
        self.op(code, &[x], &[out], None);
        out
    }

    fn reshape(&mut self, name: &str, x: i32, shape: &[usize]) -> i32 {
        let dims: Vec<i32> = shape.iter().map(|&d| d as i32).collect();
        let target = self.constant_i32(format!("{name}.shape"), &[dims.len()], &dims);
        let out = self.activation_like(name.to_string(), shape, x);
        let options = Table::new().obj(0, Obj::Ints(dims));
        self.op(
            schema::RESHAPE,
            &[x, target],
            &[out],
            Some((schema::RESHAPE_OPTIONS, options)),
        );
        out
    }

    fn transpose_to_nchw(&mut self, name: &str, x: i32, s: Shape) -> i32 {
        let perm = self.constant_i32(format!("{name}.perm"), &[4], &[0, 3, 1, 2]);
        let out = self.activation_like(format!("{name}.nchw"), &s.dims(), x);
        self.op(schema::TRANSPOSE, &[x, perm], &[out], None);
        out
    }

    /// Applies `padding` zeros on each side of H and W; returns the padded tensor and shape.
    fn pad(&mut self, name: &str, x: i32, s: Shape, p: usize) -> (i32, Shape) {
        let p = p as i32;
        let pads = self.constant_i32(format!("{name}.pads"), &[4, 2], &[0, 0, p, p, p, p, 0, 0]);
        let padded = Shape::nchw(s.n, s.c, s.h + 2 * p as usize, s.w + 2 * p as usize);
        let out = self.activation_like(format!("{name}.padded"), &nhwc(padded), x);
        self.op(schema::PAD, &[x, pads], &[out], None);
        (out, padded)
    }

    fn pool(
        &mut self,
        code: i32,
        name: &str,
        x: i32,
        xs: Shape,
        ys: Shape,
        win: Window,
    ) -> Result<i32, RuntimeError> {
        let padding = match padding_for(xs, win) {
            Padding::Valid => schema::VALID,
            Padding::Same => schema::SAME,
            // Zeros would enter the max or the mean; no space needs this.
            Padding::Explicit(p) => {
                return Err(RuntimeError::InvalidGraph(format!(
                    "{name}: a {k}x{k} pool with stride {s} and padding {p} on {h}x{w} has no TFLite form",
                    k = win.kernel,
                    s = win.stride,
                    h = xs.h,
                    w = xs.w
                )))
            }
        };
        // Pools keep their input's scale, as the converter writes them.
        let out = self.activation_like(name.to_string(), &nhwc(ys), x);
        let (s, k) = (win.stride as i32, win.kernel as i32);
        let options = Table::new()
            .with(0, Field::I8(padding))
            .i32(1, s)
            .i32(2, s)
            .i32(3, k)
            .i32(4, k)
            .with(5, Field::I8(schema::ACT_NONE));
        self.op(code, &[x], &[out], Some((schema::POOL_2D_OPTIONS, options)));
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn conv(
        &mut self,
        name: &str,
        x: i32,
        xs: Shape,
        ys: Shape,
        win: Window,
        groups: usize,
        has_bias: bool,
        act: i8,
    ) -> Result<i32, RuntimeError> {
        let w = self.weight(&format!("{name}.w"))?;
        let bias: Vec<f32> = if has_bias {
            self.weight(&format!("{name}.b"))?.to_vec()
        } else {
            vec![0.0; ys.c]
        };
        let (mut input, mut xs_in, mut padding) = (x, xs, schema::VALID);
        match padding_for(xs, win) {
            Padding::Valid => {}
            Padding::Same => padding = schema::SAME,
            Padding::Explicit(p) => (input, xs_in) = self.pad(name, x, xs, p),
        }
        let spec = ConvSpec {
            k: win.kernel,
            ig: xs.c / groups,
            og: ys.c / groups,
            stride: win.stride as i32,
            padding,
            act,
        };
        let out = self.output(name.to_string(), &nhwc(ys), act);
        let (k, ig) = (spec.k, spec.ig);
        if groups == 1 {
            let f = ohwi(w, 0..ys.c, ig, k);
            let (f, b) = self.filter(
                (format!("{name}.w"), &[ys.c, k, k, ig], &f),
                (format!("{name}.b"), &bias),
                Some(0),
                input,
            );
            self.op(
                schema::CONV_2D,
                &[input, f, b],
                &[out],
                Some(spec.options()),
            );
        } else if ig == 1 {
            // Depthwise: output channel o reads input channel o / multiplier in both formats.
            let mut f = Vec::with_capacity(w.len());
            for kh in 0..k {
                for kw in 0..k {
                    f.extend((0..ys.c).map(|o| w[(o * k + kh) * k + kw]));
                }
            }
            let (f, b) = self.filter(
                (format!("{name}.w"), &[1, k, k, ys.c], &f),
                (format!("{name}.b"), &bias),
                Some(3),
                input,
            );
            let options = Some(spec.depthwise_options());
            self.op(schema::DEPTHWISE_CONV_2D, &[input, f, b], &[out], options);
        } else {
            let part = Shape { c: ig, ..xs_in };
            self.grouped_conv(name, (input, part), (w, &bias), (ys, out), groups, &spec);
        }
        Ok(out)
    }

    /// A grouped convolution: the channels split, one convolution per group, concatenated
    /// into `out`.
    fn grouped_conv(
        &mut self,
        name: &str,
        (input, part): (i32, Shape),
        (w, bias): (&[f32], &[f32]),
        (ys, out): (Shape, i32),
        groups: usize,
        spec: &ConvSpec,
    ) {
        let (k, ig, og) = (spec.k, spec.ig, spec.og);
        let axis = self.constant_i32(format!("{name}.axis"), &[], &[3]);
        let parts: Vec<i32> = (0..groups)
            .map(|g| self.activation_like(format!("{name}.in{g}"), &nhwc(part), input))
            .collect();
        let split = Some((schema::SPLIT_OPTIONS, Table::new().i32(0, groups as i32)));
        self.op(schema::SPLIT, &[axis, input], &parts, split);
        let mut outs = Vec::with_capacity(groups);
        for (g, &part_t) in parts.iter().enumerate() {
            let f = ohwi(w, g * og..(g + 1) * og, ig, k);
            let (f, b) = self.filter(
                (format!("{name}.w{g}"), &[og, k, k, ig], &f),
                (format!("{name}.b{g}"), &bias[g * og..(g + 1) * og]),
                Some(0),
                part_t,
            );
            // The parts share the concatenation's scale, so it only moves values.
            let y =
                self.activation_like(format!("{name}.out{g}"), &nhwc(Shape { c: og, ..ys }), out);
            self.op(schema::CONV_2D, &[part_t, f, b], &[y], Some(spec.options()));
            outs.push(y);
        }
        let concat = Some(concat_options(schema::ACT_NONE));
        self.op(schema::CONCATENATION, &outs, &[out], concat);
    }

    fn finish(self, name: &str, input: i32, output: i32) -> Vec<u8> {
        let codes = self
            .codes
            .iter()
            .map(|&c| {
                Table::new()
                    .with(0, Field::I8(c.min(127) as i8))
                    .i32(2, 1)
                    .i32(3, c)
            })
            .collect();
        let subgraph = Table::new()
            .obj(0, Obj::Tables(self.tensors))
            .obj(1, Obj::Ints(vec![input]))
            .obj(2, Obj::Ints(vec![output]))
            .obj(3, Obj::Tables(self.operators))
            .obj(4, Obj::Str(name.to_string()));
        let model = Table::new()
            .with(0, Field::U32(schema::VERSION))
            .obj(1, Obj::Tables(codes))
            .obj(2, Obj::Tables(vec![subgraph]))
            .obj(
                3,
                Obj::Str(format!("edgenas {}", env!("CARGO_PKG_VERSION"))),
            )
            .obj(4, Obj::Tables(self.buffers));
        finish(&model, b"TFL3")
    }
}
