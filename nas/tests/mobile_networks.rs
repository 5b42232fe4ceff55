//! FBNet and OFA archs against HELP's tables, and as real tract models.

use std::path::PathBuf;

use edgenas_nas::{Arch, FbnetArch, OfaArch, Space};
use edgenas_runtime::{onnx, Op, TractModel, TractOptions};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn shared_data(file: &str) -> PathBuf {
    let base = std::env::var_os("EDGENAS_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    base.join("data").join(file)
}

fn table(file: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(shared_data(file)).expect("shared data");
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    (header, rows)
}

#[test]
fn every_fbnet_row_parses_round_trips_and_matches_its_ops_column() {
    let (header, rows) = table("fbnet_latency_help.csv");
    let idx = header.iter().position(|h| h == "op_idx_list").unwrap();
    let ops = header.iter().position(|h| h == "ops").unwrap();
    assert_eq!(rows.len(), 5000);
    for r in &rows {
        let a = FbnetArch::parse(&r[idx]).unwrap();
        assert_eq!(a.op_idx_list(), r[idx]);
        assert_eq!(
            FbnetArch::parse(&r[ops]).unwrap(),
            a,
            "ops column of {}",
            r[idx]
        );
        assert_eq!(FbnetArch::parse(&a.to_string()).unwrap(), a);
        assert_eq!(Arch::parse(&a.to_string()).unwrap(), Arch::Fbnet(a));
    }
}

#[test]
fn every_ofa_row_parses_and_round_trips() {
    let (header, rows) = table("ofa_latency_help.csv");
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (ks, e, d, r) = (col("ks"), col("e"), col("d"), col("r"));
    assert_eq!(rows.len(), 5000);
    for row in &rows {
        let a = OfaArch::from_columns(&row[ks], &row[e], &row[d], &row[r]).unwrap();
        assert_eq!(OfaArch::parse(&a.to_string()).unwrap(), a);
        assert_eq!(Arch::parse(&a.to_string()).unwrap(), Arch::Ofa(a));
        assert_eq!(a.r.to_string(), row[r]);
    }
}

fn run_random(space: Space, classes: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(2021);
    for _ in 0..20 {
        let arch = space.sample(&mut rng);
        let net = arch.build();
        let mut model = TractModel::from_network(&net, TractOptions::default()).unwrap();
        let (shape, values) = model.run().unwrap();
        assert_eq!(shape, vec![1, classes], "{arch}");
        assert!(values.iter().all(|v| v.is_finite()), "{arch}");
    }
}

#[test]
fn twenty_random_fbnet_archs_run_in_tract_with_100_outputs() {
    run_random(Space::Fbnet, 100);
}

#[test]
fn twenty_random_ofa_archs_run_in_tract_with_1000_outputs() {
    run_random(Space::Ofa, 1000);
}

#[test]
fn exported_onnx_reloads_with_the_same_output() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for space in [Space::Fbnet, Space::Ofa] {
        let net = space.sample(&mut rng).build();
        let opts = TractOptions {
            threads: 1,
            seed: 5,
        };
        let (_, direct) = TractModel::from_network(&net, opts).unwrap().run().unwrap();
        let bytes = onnx::to_onnx_bytes(&net, 5);
        let (_, reloaded) = TractModel::from_onnx_bytes(&bytes, opts)
            .unwrap()
            .run()
            .unwrap();
        assert_eq!(direct, reloaded, "{space:?}");
    }
}

#[test]
fn all_skip_fbnet_has_the_hand_counted_parameters() {
    let a = FbnetArch::parse(&["skip"; 22].join("-")).unwrap();
    // stem 3·16·9+16; 1×1 convs where width changes: 16→24, 24→32, 32→64, 64→112, 112→184,
    // 184→352 (weights + folded-BN bias); head 352→1504; classifier 1504→100.
    let expected = (3 * 16 * 9 + 16)
        + (16 * 24 + 24)
        + (24 * 32 + 32)
        + (32 * 64 + 64)
        + (64 * 112 + 112)
        + (112 * 184 + 184)
        + (184 * 352 + 352)
        + (352 * 1504 + 1504)
        + (1504 * 100 + 100);
    assert_eq!(a.build().cost().params, expected as u64);
}

#[test]
fn ofa_networks_follow_the_depths_and_se_placement() {
    let a = OfaArch::parse("ks=3,5,7,3,3,5,7,3,3,5,7,3,3,5,7,3,3,5,7,3;e=3,4,6,3,3,4,6,3,3,4,6,3,3,4,6,3,3,4,6,3;d=2,3,4,2,3;r=160").unwrap();
    let net = a.build();
    let se = net.nodes.iter().filter(|n| n.op == Op::HardSigmoid).count();
    // SE in stages 2, 4 and 5: 3 + 2 + 3 blocks.
    assert_eq!(se, 8);
    let depthwise = net
        .nodes
        .iter()
        .filter(|n| matches!(n.op, Op::Conv2d { groups, .. } if groups > 1))
        .count();
    // The fixed first block and 2+3+4+2+3 searchable blocks.
    assert_eq!(depthwise, 1 + 14);
    assert_eq!(net.output_shape().c, 1000);
}
