//! The `.tflite` writer against tract: one network with every IR op, one set of weights, the
//! same input (transposed to NHWC), and the two runtimes' outputs agree within float tolerance.
#![cfg(feature = "tflite")]

use edgenas_runtime::ir::{Network, Op, Shape};
use edgenas_runtime::tflite::{nchw_to_nhwc, to_tflite_bytes, TfliteModel};
use edgenas_runtime::{Model, ModelOptions, Runtime, TfliteDelegate, TractModel, TractOptions};

fn conv(out: usize, k: usize, s: usize, p: usize, g: usize, bias: bool) -> Op {
    Op::Conv2d {
        out_channels: out,
        kernel: k,
        stride: s,
        padding: p,
        groups: g,
        bias,
    }
}

/// Every op of the IR, in the forms the three spaces use.
fn every_op() -> Network {
    let mut n = Network::new("every-op", Shape::nchw(1, 3, 16, 16));
    let a = n.add(conv(8, 3, 2, 1, 1, true), &[0]).unwrap(); // explicit PAD (stride 2, even)
    let a = n.add(Op::Relu, &[a]).unwrap(); // fused into the conv
    let b = n.add(conv(8, 3, 1, 1, 8, true), &[a]).unwrap(); // depthwise, SAME
    let b = n.add(Op::Relu6, &[b]).unwrap();
    let c = n.add(conv(16, 1, 1, 0, 2, false), &[b]).unwrap(); // grouped 1x1
    let c = n.add(Op::BatchNorm, &[c]).unwrap();
    let c = n.add(Op::HardSwish, &[c]).unwrap();
    let d = n.add(conv(16, 5, 1, 2, 16, true), &[c]).unwrap(); // depthwise 5x5
    let se = n.add(Op::GlobalAvgPool, &[d]).unwrap();
    let se = n.add(conv(4, 1, 1, 0, 1, true), &[se]).unwrap();
    let se = n.add(Op::Relu, &[se]).unwrap();
    let se = n.add(conv(16, 1, 1, 0, 1, true), &[se]).unwrap();
    let se = n.add(Op::HardSigmoid, &[se]).unwrap();
    let d = n.add(Op::Mul, &[d, se]).unwrap();
    let e = n
        .add(
            Op::AvgPool {
                kernel: 3,
                stride: 1,
                padding: 1,
            },
            &[d],
        )
        .unwrap();
    let f = n
        .add(
            Op::MaxPool {
                kernel: 3,
                stride: 1,
                padding: 1,
            },
            &[d],
        )
        .unwrap();
    let z = n.add(Op::Zero, &[c]).unwrap();
    let s = n.add(Op::Add, &[d, e, f]).unwrap();
    let s = n.add(Op::Add, &[s, z]).unwrap();
    let s = n.add(Op::Sigmoid, &[s]).unwrap();
    let s = n.add(Op::Identity, &[s]).unwrap();
    let cat = n.add(Op::Concat, &[s, c]).unwrap();
    let p = n
        .add(
            Op::AvgPool {
                kernel: 2,
                stride: 2,
                padding: 0,
            },
            &[cat],
        )
        .unwrap();
    let h = n.add(Op::Linear { out_features: 12 }, &[p]).unwrap(); // flattens 32x4x4 (NCHW order)
    let h = n.add(Op::Relu, &[h]).unwrap();
    let h = n.add(Op::Flatten, &[h]).unwrap();
    let out = n.add(Op::Linear { out_features: 10 }, &[h]).unwrap();
    n.set_output(out);
    n
}

#[test]
fn tract_and_tflite_agree_on_every_op() {
    for delegate in [TfliteDelegate::None, TfliteDelegate::Xnnpack] {
        agree_on_every_op(delegate);
    }
}

fn agree_on_every_op(delegate: TfliteDelegate) {
    let net = every_op();
    let seed = 7;
    let mut tract = TractModel::from_network(&net, TractOptions { threads: 1, seed }).unwrap();
    let bytes = to_tflite_bytes(&net, seed).unwrap();
    let mut tfl = TfliteModel::from_bytes(&bytes, 1, seed, delegate).unwrap();
    assert_eq!(tfl.input_shape(), &[1, 16, 16, 3], "NHWC input");
    let n = net.input.elements();
    let input: Vec<f32> = (0..n)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    let want = tract.run_on(&input).unwrap().remove(0);
    let got = tfl
        .run_on(&nchw_to_nhwc(&input, net.input.dims()))
        .unwrap()
        .remove(0);
    assert_eq!(want.len(), 10);
    assert_eq!(got.len(), 10);
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-3);
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        assert!(
            (w - g).abs() <= 1e-4 * scale + 1e-5,
            "{delegate:?}: output {i}: tract {w}, tflite {g} (all: {want:?} vs {got:?})"
        );
    }
    // A different input gives a different output: the check is not of a constant network.
    let other: Vec<f32> = input.iter().map(|v| -v).collect();
    let moved = tract.run_on(&other).unwrap().remove(0);
    assert!(moved.iter().zip(&want).any(|(a, b)| (a - b).abs() > 1e-4));
}

#[test]
fn the_seam_runs_either_runtime_and_names_it() {
    let net = every_op();
    for runtime in [
        Runtime::Tract,
        Runtime::Tflite(TfliteDelegate::None),
        Runtime::Tflite(TfliteDelegate::Xnnpack),
    ] {
        let opts = ModelOptions {
            runtime,
            threads: 2,
            seed: 1,
            precision: Default::default(),
        };
        let mut m = Model::from_network(&net, opts).unwrap();
        assert_eq!(m.runtime(), runtime);
        assert_eq!(m.threads(), 2);
        m.run_discard().unwrap();
        let (shape, out) = m.run().unwrap();
        assert_eq!(shape.iter().product::<usize>(), 10, "{runtime}: {shape:?}");
        assert!(out.iter().all(|v| v.is_finite()));
        let (name, version) = runtime.identity().unwrap();
        assert!(name.starts_with(runtime.name()), "{name}");
        assert!(!version.is_empty());
    }
    // The delegate is part of the identity: records with and without XNNPACK never mix.
    let (plain, _) = Runtime::Tflite(TfliteDelegate::None).identity().unwrap();
    let (xnn, v) = Runtime::TFLITE.identity().unwrap();
    assert_eq!((plain.as_str(), xnn.as_str()), ("tflite", "tflite+xnnpack"));
    assert!(v.starts_with("2."), "TensorFlow Lite 2.x, got {v}");
}

#[test]
fn wrong_files_are_refused_in_one_line() {
    let dir = std::env::temp_dir().join(format!("edgenas-tflite-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let onnx = dir.join("m.onnx");
    std::fs::write(&onnx, edgenas_runtime::onnx::to_onnx_bytes(&every_op(), 0)).unwrap();
    let tfl = dir.join("m.tflite");
    std::fs::write(&tfl, to_tflite_bytes(&every_op(), 0).unwrap()).unwrap();
    let opts = |runtime| ModelOptions {
        runtime,
        threads: 1,
        seed: 0,
        precision: Default::default(),
    };
    let e = Model::from_file(&onnx, opts(Runtime::TFLITE))
        .unwrap_err()
        .to_string();
    assert!(e.contains("--runtime tract"), "{e}");
    let e = Model::from_file(&tfl, opts(Runtime::Tract))
        .unwrap_err()
        .to_string();
    assert!(e.contains("--runtime tflite"), "{e}");
    assert!(Model::from_file(&tfl, opts(Runtime::TFLITE)).is_ok());
    // A truncated flatbuffer is refused by TFLite's verifier, not a crash.
    let bytes = std::fs::read(&tfl).unwrap();
    let e = TfliteModel::from_bytes(&bytes[..bytes.len() / 2], 1, 0, TfliteDelegate::None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("TensorFlow Lite"), "{e}");
    let e = TfliteModel::from_bytes(b"not a model at all", 1, 0, TfliteDelegate::None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("TFL3"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

/// The full-integer int8 model of every op (and of its weights) loads in TensorFlow Lite, with
/// and without XNNPACK, and computes on the seeded input what the fp32 model does within the
/// int8 error: relative L2 distance from tract's fp32 output under 10 % (measured: 1.0 %).
#[test]
fn the_int8_model_of_every_op_runs_and_stays_close_to_fp32() {
    let net = every_op();
    let seed = 7;
    let mut tract = TractModel::from_network(&net, TractOptions { threads: 1, seed }).unwrap();
    let (_, want) = tract.run().unwrap();
    let bytes = edgenas_runtime::tflite::to_tflite_int8_bytes(&net, seed).unwrap();
    for delegate in [TfliteDelegate::None, TfliteDelegate::Xnnpack] {
        let mut m = TfliteModel::from_bytes(&bytes, 1, seed, delegate).unwrap();
        let (shape, got) = m.run().unwrap();
        assert_eq!(shape.iter().product::<usize>(), 10);
        let err: f32 = want.iter().zip(&got).map(|(a, b)| (a - b).powi(2)).sum();
        let norm: f32 = want.iter().map(|a| a * a).sum();
        let rel = (err / norm).sqrt();
        eprintln!("{delegate:?}: int8 is {rel:.4} from fp32");
        assert!(
            rel < 0.1,
            "{delegate:?}: int8 is {rel} from fp32: {want:?} vs {got:?}"
        );
        assert_ne!(got, want, "int8 rounds");
    }
}
