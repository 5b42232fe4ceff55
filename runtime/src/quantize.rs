//! fp32 ONNX -> int8 ONNX in QDQ form, from the same seeded weights.
//!
//! The form is what ONNX Runtime's `quantize_static` writes and what its graph optimizer fuses
//! into int8 kernels; in [`QdqStyle::TensorRt`] activations are signed with zero point 0 and
//! biases stay float, as TensorRT's explicit quantisation (`trtexec --int8`) takes them:
//! - **weights**: convolutions per output channel, symmetric (zero point 0, values in
//!   [-127, 127]); fully connected layers per tensor; int32 biases at the input's scale times
//!   the weight's, all behind DequantizeLinear;
//! - **activations**: 8 bits, one scale and zero point per tensor (unsigned, as `quantize_static`
//!   writes by default: ONNX Runtime's x86 kernels fuse signed activations only where a
//!   quantised tensor has a single reader, and two convolutions of one ReLU then stay in
//!   float, measured), from the range the fp32 network
//!   reaches on the seeded input (run by tract once with every tensor as an output), so that
//!   outputs are meaningful rather than saturated. Each tensor is followed by QuantizeLinear, and
//!   each of its readers reads its own DequantizeLinear;
//! - a tensor only a ReLU or ReLU6 reads is left in float: the activation's output is quantised
//!   instead, so the runtime folds the activation into the convolution or sum before it, as
//!   TensorFlow Lite's converter does;
//! - operators that only move values (max pooling, flatten, reshape, identity) keep their
//!   input's scale and zero point, so the runtime drops the Q/DQ pair around them;
//! - the input is quantised after it enters and the output dequantised before it leaves, so the
//!   file takes and returns fp32 as the fp32 one does.

use std::collections::HashMap;

use tract_onnx::pb::{
    tensor_proto::DataType, ModelProto, NodeProto, StringStringEntryProto, TensorProto, TypeProto,
    ValueInfoProto,
};

use crate::ir::Network;
use crate::onnx::{self, f32_tensor, int, node, INPUT_NAME, OUTPUT_NAME};
use crate::tract_backend::{TractModel, TractOptions};
use crate::RuntimeError;

/// Who reads the QDQ file, which decides how its activations and biases are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QdqStyle {
    /// As onnxruntime's `quantize_static` writes it by default: unsigned asymmetric
    /// activations, int32 biases (ONNX Runtime, tract).
    #[default]
    OnnxRuntime,
    /// As TensorRT's explicit quantisation takes it: signed symmetric activations (zero point
    /// 0), float biases that it quantises itself (`trtexec --int8`, timing programs).
    TensorRt,
}

impl QdqStyle {
    pub const NAMES: [&'static str; 2] = ["onnxruntime", "tensorrt"];

    pub fn name(self) -> &'static str {
        match self {
            QdqStyle::OnnxRuntime => "onnxruntime",
            QdqStyle::TensorRt => "tensorrt",
        }
    }

    /// The style the file a runtime reads is written in: TensorRT's for a timing program (the
    /// one edgenas is run with on a Jetson), ONNX Runtime's otherwise.
    pub fn for_runtime(runtime: crate::Runtime) -> QdqStyle {
        match runtime {
            crate::Runtime::Exec(_) => QdqStyle::TensorRt,
            _ => QdqStyle::OnnxRuntime,
        }
    }

    fn params(self, lo: f32, hi: f32) -> QuantParams {
        match self {
            QdqStyle::OnnxRuntime => QuantParams::covering(lo, hi),
            QdqStyle::TensorRt => QuantParams::symmetric(lo, hi),
        }
    }
}

impl std::str::FromStr for QdqStyle {
    type Err = RuntimeError;

    fn from_str(s: &str) -> Result<QdqStyle, RuntimeError> {
        match s {
            "onnxruntime" => Ok(QdqStyle::OnnxRuntime),
            "tensorrt" => Ok(QdqStyle::TensorRt),
            other => Err(RuntimeError::Unsupported(format!(
                "unknown QDQ style '{other}' (styles: onnxruntime, tensorrt)"
            ))),
        }
    }
}

/// An activation's scale and zero point (`real = scale * (q - zero_point)`): unsigned 8 bits,
/// or signed with zero point 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantParams {
    pub scale: f32,
    pub zero_point: u8,
    /// Signed and symmetric (TensorRT's form): `zero_point` is then 0.
    pub signed: bool,
}

impl QuantParams {
    /// Asymmetric 8 bits covering `[lo, hi]` and zero (so that padding and ReLU's floor are
    /// exact).
    pub fn covering(lo: f32, hi: f32) -> QuantParams {
        let (lo, hi) = (lo.min(0.0), hi.max(0.0));
        let span = hi - lo;
        // A tensor that is all zeros (NB201's `none` edge) still needs a valid scale.
        let scale = if span > 0.0 && span.is_finite() {
            span / 255.0
        } else {
            1.0
        };
        let zp = (-lo / scale).round().clamp(0.0, 255.0) as u8;
        QuantParams {
            scale,
            zero_point: zp,
            signed: false,
        }
    }

    /// Signed 8 bits with zero point 0 covering `[-m, m]`, `m` the larger magnitude.
    pub fn symmetric(lo: f32, hi: f32) -> QuantParams {
        let m = lo.abs().max(hi.abs());
        QuantParams {
            scale: if m > 0.0 && m.is_finite() {
                m / 127.0
            } else {
                1.0
            },
            zero_point: 0,
            signed: true,
        }
    }
}

/// The int8 QDQ model of `net` in `style`, with the weights of `onnx::to_model_proto(net,
/// seed)`, calibrated on `seeded_input(_, seed)`.
pub fn to_qdq_model_proto(
    net: &Network,
    seed: u64,
    style: QdqStyle,
) -> Result<ModelProto, RuntimeError> {
    let fp32 = onnx::to_model_proto(net, seed);
    let ranges = calibrate(&fp32, seed)?;
    Ok(qdq(fp32, &ranges, style))
}

/// The int8 `.onnx` bytes of `net` (see [`to_qdq_model_proto`]).
pub fn to_qdq_onnx_bytes(
    net: &Network,
    seed: u64,
    style: QdqStyle,
) -> Result<Vec<u8>, RuntimeError> {
    use prost::Message;
    Ok(to_qdq_model_proto(net, seed, style)?.encode_to_vec())
}

/// The range (min, max) of every tensor a node writes, on the seeded input.
pub fn calibrate(
    fp32: &ModelProto,
    seed: u64,
) -> Result<HashMap<String, (f32, f32)>, RuntimeError> {
    let mut probe = fp32.clone();
    let graph = probe.graph.as_mut().expect("the exporter writes a graph");
    let names: Vec<String> = graph
        .node
        .iter()
        .flat_map(|n| n.output.clone())
        .filter(|n| n != OUTPUT_NAME)
        .collect();
    // Shapes are left for tract to infer.
    graph.output = names.iter().map(|n| float_output(n)).collect();
    let mut model = TractModel::from_proto(&probe, TractOptions { threads: 1, seed })?;
    let data = crate::seeded_input(model.input_shape().iter().product(), seed);
    let outputs = model.run_on(&data)?;
    let range = |values: &[f32]| {
        let lo = values.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        (lo, hi)
    };
    let mut ranges: HashMap<String, (f32, f32)> = names
        .into_iter()
        .zip(outputs)
        .map(|(name, values)| (name, range(&values)))
        .collect();
    ranges.insert(INPUT_NAME.to_string(), range(&data));
    Ok(ranges)
}

/// Rewrites the fp32 model into QDQ form with activation ranges `ranges` (module docs).
fn qdq(mut model: ModelProto, ranges: &HashMap<String, (f32, f32)>, style: QdqStyle) -> ModelProto {
    let graph = model.graph.as_mut().expect("the exporter writes a graph");
    let nodes = std::mem::take(&mut graph.node);
    let mut init: HashMap<String, TensorProto> = std::mem::take(&mut graph.initializer)
        .into_iter()
        .map(|t| (t.name.clone(), t))
        .collect();
    let mut readers: HashMap<String, Vec<String>> = HashMap::new();
    for n in &nodes {
        for i in &n.input {
            readers
                .entry(i.clone())
                .or_default()
                .push(n.op_type.clone());
        }
    }
    let only_activations_read = |t: &str| {
        readers
            .get(t)
            .is_some_and(|r| r.iter().all(|op| matches!(op.as_str(), "Relu" | "Clip")))
    };
    let mut w = Rewrite::default();
    let (lo, hi) = ranges[INPUT_NAME];
    w.quantise(INPUT_NAME, style.params(lo, hi));
    for mut n in nodes {
        // What this node reads: the dequantised copies of quantised tensors.
        let x = n.input.first().cloned().unwrap_or_default();
        let x_params = w.params.get(&x).copied();
        for (k, i) in n.input.iter_mut().enumerate() {
            if w.params.contains_key(i.as_str()) {
                *i = w.dequantise(i, &format!("{}.{k}", n.output[0]));
            }
        }
        // The weights' DequantizeLinear nodes are constant-fed: they go just before their reader.
        let per_channel = match n.op_type.as_str() {
            "Conv" => Some(true),
            "Gemm" => Some(false),
            _ => None,
        };
        if let (Some(per_channel), Some(xp)) = (per_channel, x_params) {
            let dq = quantise_weights(&mut n, &mut init, &mut w.extra, xp, per_channel, style);
            w.out.extend(dq);
        }
        let op = n.op_type.clone();
        let y = n.output[0].clone();
        w.out.push(n);
        if y == OUTPUT_NAME || only_activations_read(&y) {
            continue;
        }
        let p = match (op.as_str(), x_params) {
            ("MaxPool" | "Flatten" | "Reshape" | "Identity", Some(xp)) => xp,
            _ => {
                let (lo, hi) = ranges.get(&y).copied().unwrap_or((0.0, 0.0));
                style.params(lo, hi)
            }
        };
        w.quantise(&y, p);
    }
    let out = w.out;
    let extra = w.extra;
    graph.node = out;
    let mut initializers: Vec<TensorProto> = init.into_values().collect();
    initializers.sort_by(|a, b| a.name.cmp(&b.name));
    initializers.extend(extra);
    graph.initializer = initializers;
    model.metadata_props.push(StringStringEntryProto {
        key: "edgenas.precision".into(),
        value: "int8".into(),
    });
    model
}

/// The rewritten graph as it grows.
#[derive(Default)]
struct Rewrite {
    out: Vec<NodeProto>,
    /// Initializers the rewrite adds (int8 weights, scales, zero points).
    extra: Vec<TensorProto>,
    params: HashMap<String, QuantParams>,
}

impl Rewrite {
    /// Follows tensor `t` with QuantizeLinear at `p`.
    fn quantise(&mut self, t: &str, p: QuantParams) {
        let scale = format!("{t}.q_scale");
        let zp = format!("{t}.q_zero");
        self.extra.push(f32_tensor(&scale, &[], vec![p.scale]));
        let data_type = if p.signed {
            DataType::Int8
        } else {
            DataType::Uint8
        };
        self.extra.push(TensorProto {
            data_type: data_type as i32,
            name: zp.clone(),
            raw_data: vec![p.zero_point],
            ..Default::default()
        });
        self.out.push(node(
            "QuantizeLinear",
            &[t, &scale, &zp],
            &format!("{t}.q"),
            vec![],
        ));
        self.params.insert(t.to_string(), p);
    }

    /// A DequantizeLinear of quantised tensor `t` for one input of one node (`reader`: the
    /// node's output and the input's position): each reader has its own, as ONNX Runtime's
    /// fusions expect of a node group, and a sum of one tensor with itself reads two.
    fn dequantise(&mut self, t: &str, reader: &str) -> String {
        let dq = format!("{t}.dq.{reader}");
        self.out.push(node(
            "DequantizeLinear",
            &[
                &format!("{t}.q"),
                &format!("{t}.q_scale"),
                &format!("{t}.q_zero"),
            ],
            &dq,
            vec![],
        ));
        dq
    }
}

/// Replaces a Conv's (per output channel) or Gemm's (per tensor) float weight with int8 behind
/// DequantizeLinear, and its bias with int32 at the input's scale times the weight's; returns
/// the DequantizeLinear nodes.
fn quantise_weights(
    n: &mut NodeProto,
    init: &mut HashMap<String, TensorProto>,
    extra: &mut Vec<TensorProto>,
    x: QuantParams,
    per_channel: bool,
    style: QdqStyle,
) -> Vec<NodeProto> {
    let w_name = n.input[1].clone();
    let Some(w) = init.remove(&w_name) else {
        return Vec::new();
    };
    let outs = w.dims[0] as usize;
    let per = w.float_data.len() / outs;
    let (q, scales) = if per_channel {
        symmetric_int8(&w.float_data, outs, |i| i / per)
    } else {
        symmetric_int8(&w.float_data, 1, |_| 0)
    };
    let dims: Vec<usize> = w.dims.iter().map(|&d| d as usize).collect();
    let sdims: &[usize] = if per_channel { &[outs] } else { &[] };
    let axis = if per_channel {
        vec![int("axis", 0)]
    } else {
        vec![]
    };
    extra.push(i8_tensor(&format!("{w_name}.q"), &dims, q));
    extra.push(f32_tensor(
        &format!("{w_name}.q_scale"),
        sdims,
        scales.clone(),
    ));
    extra.push(i8_tensor(
        &format!("{w_name}.q_zero"),
        sdims,
        vec![0; scales.len()],
    ));
    let mut dq_nodes = vec![node(
        "DequantizeLinear",
        &[
            &format!("{w_name}.q"),
            &format!("{w_name}.q_scale"),
            &format!("{w_name}.q_zero"),
        ],
        &format!("{w_name}.dq"),
        axis.clone(),
    )];
    n.input[1] = format!("{w_name}.dq");
    // TensorRT quantises the (float) bias itself.
    let bias = n
        .input
        .get(2)
        .filter(|_| style == QdqStyle::OnnxRuntime)
        .cloned();
    if let Some(b_name) = bias {
        if let Some(b) = init.remove(&b_name) {
            let b_scales: Vec<f32> = scales.iter().map(|s| s * x.scale).collect();
            let q: Vec<i32> = b
                .float_data
                .iter()
                .enumerate()
                .map(|(o, v)| {
                    let s = b_scales[if per_channel { o } else { 0 }];
                    (v / s).round().clamp(i32::MIN as f32, i32::MAX as f32) as i32
                })
                .collect();
            let bdims = [b.float_data.len()];
            extra.push(TensorProto {
                dims: bdims.iter().map(|&d| d as i64).collect(),
                data_type: DataType::Int32 as i32,
                name: format!("{b_name}.q"),
                int32_data: q,
                ..Default::default()
            });
            extra.push(f32_tensor(
                &format!("{b_name}.q_scale"),
                sdims,
                b_scales.clone(),
            ));
            extra.push(TensorProto {
                dims: sdims.iter().map(|&d| d as i64).collect(),
                data_type: DataType::Int32 as i32,
                name: format!("{b_name}.q_zero"),
                int32_data: vec![0; b_scales.len()],
                ..Default::default()
            });
            dq_nodes.push(node(
                "DequantizeLinear",
                &[
                    &format!("{b_name}.q"),
                    &format!("{b_name}.q_scale"),
                    &format!("{b_name}.q_zero"),
                ],
                &format!("{b_name}.dq"),
                axis,
            ));
            n.input[2] = format!("{b_name}.dq");
        }
    }
    dq_nodes
}

/// Symmetric int8 values of `values` (zero point 0, ±127), one scale per channel: element `i`
/// belongs to channel `channel(i)` of `channels`. Returns the values and the scales. Both the
/// QDQ ONNX and the int8 `.tflite` quantise their weights with it.
pub(crate) fn symmetric_int8(
    values: &[f32],
    channels: usize,
    channel: impl Fn(usize) -> usize,
) -> (Vec<i8>, Vec<f32>) {
    let mut max = vec![0f32; channels];
    for (i, v) in values.iter().enumerate() {
        let c = channel(i);
        max[c] = max[c].max(v.abs());
    }
    let scales: Vec<f32> = max
        .iter()
        .map(|&m| if m > 0.0 { m / 127.0 } else { 1.0 })
        .collect();
    let q = values
        .iter()
        .enumerate()
        .map(|(i, v)| (v / scales[channel(i)]).round().clamp(-127.0, 127.0) as i8)
        .collect();
    (q, scales)
}

/// int8 values as raw bytes: a byte a weight on disk, where `int32_data` would take four.
fn i8_tensor(name: &str, dims: &[usize], data: Vec<i8>) -> TensorProto {
    TensorProto {
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: DataType::Int8 as i32,
        name: name.into(),
        raw_data: data.into_iter().map(|v| v as u8).collect(),
        ..Default::default()
    }
}

/// A graph output of float elements, shape left to the runtime (calibration only).
fn float_output(name: &str) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            denotation: String::new(),
            value: Some(tract_onnx::pb::type_proto::Value::TensorType(
                tract_onnx::pb::type_proto::Tensor {
                    elem_type: DataType::Float as i32,
                    shape: None,
                },
            )),
        }),
        doc_string: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Op, Shape};

    fn conv(out_channels: usize, kernel: usize, padding: usize, groups: usize) -> Op {
        Op::Conv2d {
            out_channels,
            kernel,
            stride: 1,
            padding,
            groups,
            bias: true,
        }
    }

    /// Conv, a ReLU read by two convolutions (the case signed activations failed to fuse),
    /// a max pool, a depthwise conv, a sum reading one tensor twice and a classifier.
    fn net() -> Network {
        let mut n = Network::new("qdq", Shape::nchw(1, 3, 16, 16));
        let a = n.add(conv(8, 3, 1, 1), &[0]).unwrap();
        let r = n.add(Op::Relu, &[a]).unwrap();
        let b = n.add(conv(8, 3, 1, 1), &[r]).unwrap();
        let c = n.add(conv(8, 1, 0, 1), &[r]).unwrap();
        let d = n.add(conv(8, 3, 1, 8), &[c]).unwrap();
        let m = n
            .add(
                Op::MaxPool {
                    kernel: 3,
                    stride: 1,
                    padding: 1,
                },
                &[b],
            )
            .unwrap();
        // A sum of one tensor with itself (two NB201 edges of one node, after CSE).
        let s = n.add(Op::Add, &[m, d, d]).unwrap();
        let g = n.add(Op::GlobalAvgPool, &[s]).unwrap();
        let o = n.add(Op::Linear { out_features: 10 }, &[g]).unwrap();
        n.set_output(o);
        n
    }

    fn init<'a>(m: &'a ModelProto, name: &str) -> &'a TensorProto {
        let g = m.graph.as_ref().unwrap();
        g.initializer
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no initializer {name}"))
    }

    #[test]
    fn zero_is_exact_and_a_relu_range_starts_at_the_bottom() {
        for (lo, hi) in [
            (-1.0, 1.0),
            (-0.3, 7.9),
            (0.0, 6.0),
            (-5.0, -1.0),
            (0.0, 0.0),
        ] {
            let p = QuantParams::covering(lo, hi);
            assert!(p.scale > 0.0, "{lo}..{hi}");
            let top = p.scale * (255.0 - p.zero_point as f32);
            let bottom = p.scale * (0.0 - p.zero_point as f32);
            assert!(top >= hi.max(0.0) - p.scale, "{lo}..{hi}: top {top}");
            assert!(
                bottom <= lo.min(0.0) + p.scale,
                "{lo}..{hi}: bottom {bottom}"
            );
        }
        assert_eq!(QuantParams::covering(0.0, 6.0).zero_point, 0);
    }

    #[test]
    fn weights_are_int8_per_channel_within_half_a_step_of_the_fp32_ones() {
        let net = net();
        let fp32 = onnx::to_model_proto(&net, 3);
        let q = to_qdq_model_proto(&net, 3, QdqStyle::OnnxRuntime).unwrap();
        let g = q.graph.as_ref().unwrap();
        let mut convs = 0;
        for n in g
            .node
            .iter()
            .filter(|n| matches!(n.op_type.as_str(), "Conv" | "Gemm"))
        {
            let w = n.input[1]
                .strip_suffix(".dq")
                .expect("weights behind DequantizeLinear");
            let float = init(&fp32, w);
            let ints = init(&q, &format!("{w}.q"));
            assert_eq!(ints.data_type, DataType::Int8 as i32);
            assert_eq!(ints.dims, float.dims);
            let scales = &init(&q, &format!("{w}.q_scale")).float_data;
            let outs = float.dims[0] as usize;
            let per_channel = n.op_type == "Conv";
            assert_eq!(scales.len(), if per_channel { outs } else { 1 }, "{w}");
            let per = float.float_data.len() / outs;
            for (i, (&f, &b)) in float.float_data.iter().zip(&ints.raw_data).enumerate() {
                let v = b as i8;
                assert!(v >= -127, "symmetric: -128 is never used");
                let s = scales[if per_channel { i / per } else { 0 }];
                assert!((v as f32 * s - f).abs() <= s / 2.0 + 1e-7, "{w}[{i}]");
            }
            let b = n.input[2]
                .strip_suffix(".dq")
                .expect("bias behind DequantizeLinear");
            assert_eq!(
                init(&q, &format!("{b}.q")).data_type,
                DataType::Int32 as i32
            );
            convs += usize::from(per_channel);
        }
        assert_eq!(convs, 4);
        // No float weight is left: every float initializer is a scale or a shape.
        for t in &g.initializer {
            if t.data_type == DataType::Float as i32 {
                assert!(t.name.ends_with(".q_scale"), "{}", t.name);
            }
        }
    }

    #[test]
    fn activations_follow_the_converter_rules() {
        let q = to_qdq_model_proto(&net(), 0, QdqStyle::OnnxRuntime).unwrap();
        let g = q.graph.as_ref().unwrap();
        let quantised: Vec<&str> = g
            .node
            .iter()
            .filter(|n| n.op_type == "QuantizeLinear")
            .map(|n| n.input[0].as_str())
            .collect();
        let producer = |t: &str| g.node.iter().find(|n| n.output[0] == t).unwrap();
        // The first conv's output is read by its ReLU alone: left in float, the ReLU's output
        // quantised (and starting at the bottom of its range).
        let relu = g.node.iter().find(|n| n.op_type == "Relu").unwrap();
        assert!(!quantised.contains(&relu.input[0].as_str()));
        assert!(quantised.contains(&relu.output[0].as_str()));
        let zp = init(&q, &format!("{}.q_zero", relu.output[0]));
        assert_eq!(zp.data_type, DataType::Uint8 as i32);
        assert_eq!(zp.raw_data, vec![0]);
        // The max pool keeps its input's scale and zero point.
        let pool = g.node.iter().find(|n| n.op_type == "MaxPool").unwrap();
        let src = producer(&pool.input[0]).input[0].clone();
        let src = src.strip_suffix(".q").unwrap();
        for k in ["q_scale", "q_zero"] {
            let a = init(&q, &format!("{}.{k}", pool.output[0]));
            let b = init(&q, &format!("{src}.{k}"));
            assert_eq!((&a.float_data, &a.raw_data), (&b.float_data, &b.raw_data));
        }
        // Each reader has its own DequantizeLinear; the ReLU's two convolutions included.
        let dqs: Vec<&NodeProto> = g
            .node
            .iter()
            .filter(|n| n.op_type == "DequantizeLinear")
            .collect();
        for dq in &dqs {
            let readers = g.node.iter().filter(|n| n.input.contains(&dq.output[0]));
            assert_eq!(readers.count(), 1, "{}", dq.output[0]);
        }
        // Node names are unique (ONNX Runtime refuses a model otherwise).
        let names: std::collections::HashSet<&str> =
            g.node.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names.len(), g.node.len());
        // The model takes and returns fp32, the input quantised first.
        assert_eq!(g.node[0].op_type, "QuantizeLinear");
        assert_eq!(g.node[0].input[0], INPUT_NAME);
        let last = g.node.last().unwrap();
        assert_eq!(last.output[0], OUTPUT_NAME);
        assert_eq!(producer(&last.input[0]).op_type, "DequantizeLinear");
    }

    /// TensorRT's form: every activation signed with zero point 0, biases left in float,
    /// weights as in ONNX Runtime's form.
    #[test]
    fn the_tensorrt_form_is_symmetric_with_float_biases() {
        let q = to_qdq_model_proto(&net(), 0, QdqStyle::TensorRt).unwrap();
        let g = q.graph.as_ref().unwrap();
        let mut quantised = 0;
        for n in g.node.iter().filter(|n| n.op_type == "QuantizeLinear") {
            let zp = init(&q, &n.input[2]);
            assert_eq!(zp.data_type, DataType::Int8 as i32, "{}", n.input[0]);
            assert_eq!(zp.raw_data, vec![0]);
            quantised += 1;
        }
        assert!(quantised >= 6, "{quantised}");
        for n in g
            .node
            .iter()
            .filter(|n| matches!(n.op_type.as_str(), "Conv" | "Gemm"))
        {
            assert!(n.input[1].ends_with(".dq"), "int8 weights");
            let b = init(&q, &n.input[2]);
            assert_eq!(b.data_type, DataType::Float as i32, "float bias");
        }
    }

    /// tract runs the QDQ model: its output is the fp32 one's within 5 % (relative L2).
    #[test]
    fn the_int8_model_computes_what_the_fp32_one_does() {
        let net = net();
        let opts = TractOptions {
            threads: 1,
            seed: 5,
        };
        let (shape, want) = TractModel::from_network(&net, opts).unwrap().run().unwrap();
        for style in [QdqStyle::OnnxRuntime, QdqStyle::TensorRt] {
            let proto = to_qdq_model_proto(&net, 5, style).unwrap();
            let (shape8, got) = TractModel::from_proto(&proto, opts).unwrap().run().unwrap();
            assert_eq!(shape, shape8);
            let err: f32 = want.iter().zip(&got).map(|(a, b)| (a - b).powi(2)).sum();
            let norm: f32 = want.iter().map(|a| a * a).sum();
            let rel = (err / norm).sqrt();
            assert!(rel <= 0.05, "{style:?}: relative error {rel}");
            assert_ne!(want, got, "the int8 model rounds");
        }
    }
}
