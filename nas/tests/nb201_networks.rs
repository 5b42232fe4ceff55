//! NB201 archs against the public tables, and as real tract models.

use std::collections::HashSet;
use std::path::PathBuf;

use edgenas_nas::{Nb201Arch, Nb201Op};
use edgenas_runtime::{onnx, TractModel, TractOptions};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// `../shared/data` beside the checkout, or `$EDGENAS_SHARED/data`.
fn shared_data(file: &str) -> PathBuf {
    let base = std::env::var_os("EDGENAS_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    base.join("data").join(file)
}

#[test]
fn every_arch_round_trips_and_matches_the_help_table() {
    let text = std::fs::read_to_string(shared_data("nb201_latency_help.csv")).expect("shared data");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "arch_str").unwrap();
    let table: Vec<String> = lines
        .map(|l| l.split(',').nth(col).unwrap().to_string())
        .collect();
    assert_eq!(table.len(), 15_625);
    // Every table string parses and formats back to itself.
    for s in &table {
        assert_eq!(Nb201Arch::parse(s).unwrap().to_string(), *s);
    }
    // Our enumeration is exactly the table's set.
    let ours: HashSet<String> = Nb201Arch::all().iter().map(|a| a.to_string()).collect();
    let theirs: HashSet<String> = table.into_iter().collect();
    assert_eq!(ours.len(), 15_625);
    assert_eq!(ours, theirs);
}

#[test]
fn fifty_random_archs_run_in_tract_with_ten_outputs() {
    let mut rng = ChaCha8Rng::seed_from_u64(2021);
    for _ in 0..50 {
        let arch = Nb201Arch::sample(&mut rng);
        let net = arch.build();
        let mut model = TractModel::from_network(&net, TractOptions::default()).unwrap();
        let (shape, values) = model.run().unwrap();
        assert_eq!(shape, vec![1, 10], "{arch}");
        assert!(values.iter().all(|v| v.is_finite()), "{arch}: {values:?}");
    }
}

#[test]
fn exported_onnx_reloads_with_the_same_output() {
    let arch: Nb201Arch =
        "|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
            .parse()
            .unwrap();
    let net = arch.build();
    let opts = TractOptions {
        threads: 1,
        seed: 5,
    };
    let (_, direct) = TractModel::from_network(&net, opts).unwrap().run().unwrap();
    let path = std::env::temp_dir().join(format!("edgenas-export-{}.onnx", std::process::id()));
    std::fs::write(&path, onnx::to_onnx_bytes(&net, 5)).unwrap();
    let (shape, reloaded) = TractModel::from_onnx_file(&path, opts)
        .unwrap()
        .run()
        .unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(shape, vec![1, 10]);
    assert_eq!(direct, reloaded);
    // Another weight seed gives another output: the weights really are in the file.
    let (_, other) = TractModel::from_network(
        &net,
        TractOptions {
            threads: 1,
            seed: 6,
        },
    )
    .unwrap()
    .run()
    .unwrap();
    assert_ne!(direct, other);
}

#[test]
fn threads_really_change_and_results_agree() {
    let net = Nb201Arch::uniform(Nb201Op::NorConv3x3).build();
    let (_, one) = TractModel::from_network(
        &net,
        TractOptions {
            threads: 1,
            seed: 1,
        },
    )
    .unwrap()
    .run()
    .unwrap();
    let mut m2 = TractModel::from_network(
        &net,
        TractOptions {
            threads: 2,
            seed: 1,
        },
    )
    .unwrap();
    assert_eq!(m2.threads(), 2);
    let (_, two) = m2.run().unwrap();
    for (a, b) in one.iter().zip(&two) {
        assert!((a - b).abs() <= 1e-4 * a.abs().max(1.0), "{a} vs {b}");
    }
    // The 2-thread model runs its products on a pool of its own threads.
    let names = thread_names_during(|| {
        for _ in 0..5 {
            m2.run_discard().unwrap();
        }
    });
    assert!(
        names.iter().any(|n| n.starts_with("edgenas-infer")),
        "{names:?}"
    );
}

/// Names of this process's threads, read while `f` runs.
fn thread_names_during(f: impl FnOnce()) -> Vec<String> {
    f();
    let mut names = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc/self/task") {
        for e in rd.flatten() {
            if let Ok(n) = std::fs::read_to_string(e.path().join("comm")) {
                names.push(n.trim().to_string());
            }
        }
    }
    names
}

/// Parameter counts derived by hand. The IR folds each BatchNorm that follows a conv into
/// that conv's bias (C_out parameters); the final BatchNorm has no conv before it and keeps
/// scale and shift (2 C).
///
/// all nor_conv_3x3:
///   stem        3*16*9 + 16                                   =      448
///   stage 1     5 cells * 6 edges * (16*16*9 + 16)            =   69_600
///   reduce 1    (16*32*9 + 32) + (32*32*9 + 32) + 16*32 (1x1) =   14_400
///   stage 2     5 * 6 * (32*32*9 + 32)                        =  277_440
///   reduce 2    (32*64*9 + 64) + (64*64*9 + 64) + 32*64       =   57_472
///   stage 3     5 * 6 * (64*64*9 + 64)                        = 1_107_840
///   last BN     2*64                                          =      128
///   classifier  64*10 + 10                                    =      650
///   total                                                     = 1_527_978
/// all skip_connect: the cells hold no parameters, so stem + reductions + BN + classifier:
///   448 + 14_400 + 57_472 + 128 + 650                          =   73_098
#[test]
fn parameter_counts_match_the_hand_derivation() {
    let conv = |cin: u64, cout: u64, k: u64| cin * cout * k * k + cout;
    let stem = conv(3, 16, 3);
    let reduce1 = conv(16, 32, 3) + conv(32, 32, 3) + 16 * 32;
    let reduce2 = conv(32, 64, 3) + conv(64, 64, 3) + 32 * 64;
    let head = 2 * 64 + (64 * 10 + 10);
    let cells = 5 * 6 * (conv(16, 16, 3) + conv(32, 32, 3) + conv(64, 64, 3));
    let all_conv = stem + reduce1 + reduce2 + head + cells;
    assert_eq!(all_conv, 1_527_978);
    assert_eq!(
        Nb201Arch::uniform(Nb201Op::NorConv3x3)
            .build()
            .cost()
            .params,
        all_conv
    );
    let all_skip = stem + reduce1 + reduce2 + head;
    assert_eq!(all_skip, 73_098);
    assert_eq!(
        Nb201Arch::uniform(Nb201Op::SkipConnect)
            .build()
            .cost()
            .params,
        all_skip
    );
    // A 1x1 conv on every edge: 5*6*(C*C + C) per stage instead.
    let all_1x1 = stem
        + reduce1
        + reduce2
        + head
        + 5 * 6 * (conv(16, 16, 1) + conv(32, 32, 1) + conv(64, 64, 1));
    assert_eq!(
        Nb201Arch::uniform(Nb201Op::NorConv1x1)
            .build()
            .cost()
            .params,
        all_1x1
    );
}

/// Cells whose constant paths tract's optimizer could not fold when they were emitted as
/// written (a conv fed by an all-`none` node): the executed network leaves those paths out.
const ONCE_FAILING: &[&str] = &[
    "|none~0|+|nor_conv_1x1~0|none~1|+|none~0|nor_conv_3x3~1|none~2|",
    "|none~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|nor_conv_1x1~2|",
    "|none~0|+|avg_pool_3x3~0|none~1|+|none~0|nor_conv_1x1~1|nor_conv_3x3~2|",
    "|none~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|nor_conv_3x3~2|",
];

fn builds_and_runs(arch: &Nb201Arch) {
    let mut model = TractModel::from_network(&arch.build(), TractOptions::default())
        .unwrap_or_else(|e| panic!("{arch}: {e}"));
    let (shape, values) = model.run().unwrap_or_else(|e| panic!("{arch}: {e}"));
    assert_eq!(shape, vec![1, 10], "{arch}");
    assert!(values.iter().all(|v| v.is_finite()), "{arch}");
}

#[test]
fn cells_with_constant_paths_build_and_run() {
    for s in ONCE_FAILING {
        let arch: Nb201Arch = s.parse().unwrap();
        builds_and_runs(&arch);
        // The executed network has no conv of a constant: fewer convs than written.
        let written = arch.build();
        let executed = written.executed();
        assert!(executed.network.nodes.len() < written.nodes.len(), "{arch}");
    }
    // A seeded sample of the space, every one built, optimized and run.
    let mut rng = ChaCha8Rng::seed_from_u64(15_625);
    for _ in 0..150 {
        builds_and_runs(&Nb201Arch::sample(&mut rng));
    }
}

#[test]
#[ignore = "long tier: builds, optimizes and runs all 15,625 NB201 cells in tract (minutes); cargo test -p edgenas-nas --release -- --ignored"]
fn every_nb201_cell_builds_and_runs() {
    let start = std::time::Instant::now();
    for arch in Nb201Arch::all() {
        builds_and_runs(&arch);
    }
    eprintln!(
        "all 15,625 NB201 cells built, optimized and run in {:.1} s",
        start.elapsed().as_secs_f64()
    );
}
