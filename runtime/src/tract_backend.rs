//! The tract backend: ONNX proto -> tract model -> optimized -> runnable plan.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message;
use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::runtime::RunOptions;

use crate::{ir::Network, onnx, RuntimeError};

/// The tract version this binary was built with (checked against Cargo.lock by a test).
pub const TRACT_VERSION: &str = "0.23.9";

/// Name and version of this runtime, recorded in every Fingerprint: a tract upgrade can
/// change latency, so it is part of a measurement's conditions.
pub const RUNTIME: (&str, &str) = ("tract", TRACT_VERSION);

/// How to prepare a model.
#[derive(Debug, Clone, Copy)]
pub struct TractOptions {
    /// Inference threads. 1 runs on the calling thread; more uses a private rayon pool of
    /// that size for tract's matrix products (tract-linalg's `multithread-mm`).
    pub threads: usize,
    /// Seed of the weights (IR models) and of the input tensor.
    pub seed: u64,
}

impl Default for TractOptions {
    fn default() -> Self {
        TractOptions {
            threads: 1,
            seed: 0,
        }
    }
}

/// A model ready to run one inference at a time on a fixed, seeded input.
pub struct TractModel {
    state: TypedSimpleState,
    input: TValue,
    input_shape: Vec<usize>,
    threads: usize,
    /// Time to translate, optimize and plan the model (reported apart from latency).
    pub init_time: Duration,
}

impl std::fmt::Debug for TractModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TractModel")
            .field("input_shape", &self.input_shape)
            .field("threads", &self.threads)
            .field("init_time", &self.init_time)
            .finish()
    }
}

fn tract_err(stage: &'static str) -> impl FnOnce(TractError) -> RuntimeError {
    move |e| RuntimeError::Tract {
        stage,
        // `{:#}` joins the context chain on one line.
        message: format!("{e:#}").replace('\n', " "),
    }
}

impl TractModel {
    /// Prepares an IR network (weights seeded by `opts.seed`).
    pub fn from_network(net: &Network, opts: TractOptions) -> Result<TractModel, RuntimeError> {
        let proto = onnx::to_model_proto(net, opts.seed);
        Self::from_proto(&proto, opts)
    }

    /// Prepares a model from `.onnx` bytes; anything that is not a loadable model is refused.
    pub fn from_onnx_bytes(bytes: &[u8], opts: TractOptions) -> Result<TractModel, RuntimeError> {
        let proto =
            ModelProto::decode(bytes).map_err(|e| RuntimeError::InvalidOnnx(e.to_string()))?;
        let Some(graph) = &proto.graph else {
            return Err(RuntimeError::InvalidOnnx("the model has no graph".into()));
        };
        check_window_attributes(graph)?;
        Self::from_proto(&proto, opts)
    }

    /// (See [`check_window_attributes`].)
    pub fn from_onnx_file(
        path: &std::path::Path,
        opts: TractOptions,
    ) -> Result<TractModel, RuntimeError> {
        let bytes = std::fs::read(path).map_err(|source| RuntimeError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_onnx_bytes(&bytes, opts)
    }

    pub fn from_proto(proto: &ModelProto, opts: TractOptions) -> Result<TractModel, RuntimeError> {
        if opts.threads == 0 {
            return Err(RuntimeError::Threads {
                threads: 0,
                message: "at least one thread is needed".into(),
            });
        }
        let start = Instant::now();
        let model = tract_onnx::onnx()
            .model_for_proto_model(proto)
            .map_err(tract_err("translate the ONNX graph"))?;
        let model = model
            .into_optimized()
            .map_err(tract_err("optimize the model"))?;
        if model.outputs.is_empty() {
            return Err(RuntimeError::InvalidOnnx("the model has no output".into()));
        }
        if model.inputs.len() != 1 {
            return Err(RuntimeError::InvalidOnnx(format!(
                "the model has {} inputs; edgenas times models with exactly one",
                model.inputs.len()
            )));
        }
        let fact = model
            .input_fact(0)
            .map_err(tract_err("find the model input"))?;
        let input_shape: Vec<usize> = fact
            .shape
            .as_concrete()
            .ok_or_else(|| {
                RuntimeError::InvalidOnnx(format!(
                    "input shape {:?} is not fully known; export the model with a fixed input shape",
                    fact.shape
                ))
            })?
            .to_vec();
        if fact.datum_type != f32::datum_type() {
            return Err(RuntimeError::InvalidOnnx(format!(
                "input type {:?} is not supported (f32 only)",
                fact.datum_type
            )));
        }
        let executor = if opts.threads > 1 {
            let pool = rayon_pool(opts.threads)?;
            Some(tract_linalg::multithread::Executor::MultiThread(Arc::new(
                pool,
            )))
        } else {
            None
        };
        let run_opts = RunOptions {
            executor,
            ..Default::default()
        };
        let plan = model
            .into_runnable_with_options(&run_opts)
            .map_err(tract_err("plan the model"))?;
        let state = TypedSimpleState::new(&plan).map_err(tract_err("allocate the model state"))?;
        let data = crate::seeded_input(input_shape.iter().product(), opts.seed);
        let input = Tensor::from_shape(&input_shape, &data)
            .map_err(tract_err("build the input tensor"))?
            .into_tvalue();
        Ok(TractModel {
            state,
            input,
            input_shape,
            threads: opts.threads,
            init_time: start.elapsed(),
        })
    }

    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// Threads this model really runs with.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs one inference; returns the first output's shape and values.
    pub fn run(&mut self) -> Result<(Vec<usize>, Vec<f32>), RuntimeError> {
        let out = self
            .state
            .run(tvec!(self.input.clone()))
            .map_err(tract_err("run the model"))?;
        let t = out
            .first()
            .ok_or_else(|| RuntimeError::InvalidOnnx("the model produced no output".into()))?
            .to_plain_array_view::<f32>()
            .map_err(tract_err("read the output"))?;
        Ok((t.shape().to_vec(), t.iter().copied().collect()))
    }

    /// Runs one inference on `data` (the input's elements, row-major); returns every output,
    /// flattened.
    pub fn run_on(&mut self, data: &[f32]) -> Result<Vec<Vec<f32>>, RuntimeError> {
        let input = Tensor::from_shape(&self.input_shape, data)
            .map_err(tract_err("build the input tensor"))?
            .into_tvalue();
        let out = self
            .state
            .run(tvec!(input))
            .map_err(tract_err("run the model"))?;
        out.iter()
            .map(|t| {
                t.to_plain_array_view::<f32>()
                    .map(|v| v.iter().copied().collect())
                    .map_err(tract_err("read an output"))
            })
            .collect()
    }

    /// Runs one inference and drops the output: the operation the profiler times.
    pub fn run_discard(&mut self) -> Result<(), RuntimeError> {
        self.state
            .run(tvec!(self.input.clone()))
            .map(drop)
            .map_err(tract_err("run the model"))
    }
}

fn rayon_pool(threads: usize) -> Result<rayon::ThreadPool, RuntimeError> {
    rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("edgenas-infer-{i}"))
        .num_threads(threads)
        .build()
        .map_err(|e| RuntimeError::Threads {
            threads,
            message: e.to_string(),
        })
}

/// Convolution and pooling attributes that tract would index without checking (it panics on
/// a `strides` shorter than `kernel_shape`, found by tests/fuzz.rs): every window list of a
/// node has one entry per spatial axis, `pads` two, and every value is in range.
fn check_window_attributes(graph: &tract_onnx::pb::GraphProto) -> Result<(), RuntimeError> {
    const WINDOWED: [&str; 6] = [
        "Conv",
        "ConvTranspose",
        "ConvInteger",
        "MaxPool",
        "AveragePool",
        "LpPool",
    ];
    for node in graph
        .node
        .iter()
        .filter(|n| WINDOWED.contains(&n.op_type.as_str()))
    {
        let bad = |why: String| {
            RuntimeError::InvalidOnnx(format!("{} node '{}': {why}", node.op_type, node.name))
        };
        let ints = |name: &str| {
            node.attribute
                .iter()
                .find(|a| a.name == name)
                .map(|a| a.ints.clone())
        };
        let mut axes: Option<usize> = None;
        for (name, per_axis, min) in [
            ("kernel_shape", 1, 1),
            ("strides", 1, 1),
            ("dilations", 1, 1),
            ("pads", 2, 0),
            ("output_padding", 1, 0),
        ] {
            let Some(values) = ints(name) else { continue };
            if values.len() % per_axis != 0 {
                return Err(bad(format!("{name} has {} values", values.len())));
            }
            let n = values.len() / per_axis;
            match axes {
                Some(a) if a != n => {
                    return Err(bad(format!(
                        "{name} is for {n} axes, another attribute for {a}"
                    )))
                }
                _ => axes = Some(n),
            }
            if let Some(v) = values.iter().find(|&&v| v < min || v > 1 << 16) {
                return Err(bad(format!("{name} value {v} is out of range")));
            }
        }
        if axes.is_some_and(|a| !(1..=3).contains(&a)) {
            return Err(bad("1 to 3 spatial axes are supported".into()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Network, Op, Shape};

    /// tract indexes `strides[axis]` for each axis of `kernel_shape`: a model that lists fewer
    /// is refused in one error, not a panic inside tract (found by tests/fuzz.rs).
    #[test]
    fn window_attributes_of_the_wrong_length_are_refused() {
        let mut net = Network::new("t", Shape::nchw(1, 3, 8, 8));
        let c = net
            .add(
                Op::Conv2d {
                    out_channels: 4,
                    kernel: 3,
                    stride: 1,
                    padding: 1,
                    groups: 1,
                    bias: true,
                },
                &[0],
            )
            .unwrap();
        net.set_output(c);
        let proto = onnx::to_model_proto(&net, 0);
        let good = proto.encode_to_vec();
        assert!(TractModel::from_onnx_bytes(&good, TractOptions::default()).is_ok());
        for (attr, values) in [
            ("strides", vec![1]),
            ("pads", vec![1, 1, 1]),
            ("dilations", vec![0, 1]),
            ("kernel_shape", vec![3, 3, 3, 3]),
        ] {
            let mut bad = proto.clone();
            let node = bad
                .graph
                .as_mut()
                .unwrap()
                .node
                .iter_mut()
                .find(|n| n.op_type == "Conv")
                .unwrap();
            match node.attribute.iter_mut().find(|a| a.name == attr) {
                Some(a) => a.ints = values.clone(),
                None => node.attribute.push(tract_onnx::pb::AttributeProto {
                    name: attr.into(),
                    ints: values.clone(),
                    r#type: tract_onnx::pb::attribute_proto::AttributeType::Ints as i32,
                    ..Default::default()
                }),
            }
            let err = TractModel::from_onnx_bytes(&bad.encode_to_vec(), TractOptions::default())
                .err()
                .unwrap_or_else(|| panic!("{attr} {values:?} accepted"))
                .to_string();
            assert!(err.contains("Conv node"), "{attr}: {err}");
        }
    }

    #[test]
    fn tract_version_matches_the_lock_file() {
        let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock"))
            .expect("Cargo.lock of the workspace");
        let entry = lock
            .split("[[package]]")
            .find(|p| p.contains("name = \"tract-onnx\""))
            .expect("tract-onnx in Cargo.lock");
        assert!(
            entry.contains(&format!("version = \"{}\"", super::TRACT_VERSION)),
            "TRACT_VERSION is stale: {entry}"
        );
    }
}
