//! No panic on any input: every parser of outside data is fed generated inputs (mutations of
//! real seeds: arch strings, CPU lists, host specs and inventories, /proc texts, board files,
//! file headers, journals, embeddings, adapted and shipped predictors, CSV tables, ONNX
//! models) under proptest. A panic fails the test with the (shrunk) input; every parser must
//! answer Ok or a typed error. At least 1,000,000 inputs per run, counted and printed.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use common::{ok, shared_data, TempDir, ALL_CONV1, ALL_NONE, ALL_SKIP, QUICK};

/// One edit of a seed.
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    /// Copies a span of the seed over another place (repeats structure: tokens, records).
    Splice(usize, usize, usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Flip(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), any::<usize>(), 0usize..64).prop_map(|(a, b, n)| Edit::Splice(a, b, n)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for e in edits {
        let n = v.len().max(1);
        match *e {
            Edit::Flip(i, b) if !v.is_empty() => v[i % n] ^= b.max(1),
            Edit::Insert(i, b) => v.insert(i % (v.len() + 1), b),
            Edit::Delete(i) if !v.is_empty() => {
                v.remove(i % n);
            }
            Edit::Splice(from, to, len) if !v.is_empty() => {
                let from = from % n;
                let len = len.min(v.len() - from);
                let span: Vec<u8> = v[from..from + len].to_vec();
                let to = to % (v.len() + 1);
                v.splice(to..to, span);
            }
            Edit::Truncate(i) => v.truncate(i % (v.len() + 1)),
            _ => {}
        }
    }
    v
}

/// Inputs: a seed with up to `max_edits` edits, or (one case in eight) arbitrary bytes.
fn inputs(seeds: Vec<Vec<u8>>, max_edits: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        7 => (proptest::sample::select(seeds), proptest::collection::vec(edit(), 0..=max_edits))
            .prop_map(|(s, e)| apply(&s, &e)),
        1 => proptest::collection::vec(any::<u8>(), 0..256),
    ]
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `parse` on `cases` inputs; a panic (or an Err from `parse`, meaning the harness
/// itself failed) fails the test with the input.
fn fuzz(
    name: &str,
    cases: u32,
    seeds: Vec<Vec<u8>>,
    max_edits: usize,
    total: &AtomicU64,
    parse: impl Fn(&[u8]),
) {
    fuzz_shard(name, 0, cases, seeds, max_edits, total, parse)
}

/// `fuzz` with its own stream of inputs: shard k > 0 draws from another fixed seed, so shards
/// of one parser run on two threads at once without feeding the same inputs twice.
fn fuzz_shard(
    name: &str,
    shard: u8,
    cases: u32,
    seeds: Vec<Vec<u8>>,
    max_edits: usize,
    total: &AtomicU64,
    parse: impl Fn(&[u8]),
) {
    // A fixed seed: CI feeds the same inputs every run (a failure reproduces); set
    // EDGENAS_FUZZ_RANDOM=1 to explore new ones.
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = if std::env::var_os("EDGENAS_FUZZ_RANDOM").is_some() {
        TestRunner::new(config)
    } else {
        use proptest::test_runner::{RngAlgorithm, TestRng};
        let rng = if shard == 0 {
            TestRng::deterministic_rng(RngAlgorithm::ChaCha)
        } else {
            TestRng::from_seed(RngAlgorithm::ChaCha, &[shard; 32])
        };
        TestRunner::new_with_rng(config, rng)
    };
    let counted = AtomicU64::new(0);
    let result = runner.run(&inputs(seeds, max_edits), |input| {
        counted.fetch_add(1, Ordering::Relaxed);
        parse(&input);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    let n = counted.load(Ordering::Relaxed);
    let name = match shard {
        0 => name.to_owned(),
        k => format!("{name} ({})", k + 1),
    };
    eprintln!("fuzz {name:<32} {n:>9} inputs, 0 panics");
    total.fetch_add(n, Ordering::Relaxed);
}

/// Writes `bytes` to `path` (for parsers that read files).
fn at(path: &Path, bytes: &[u8]) -> PathBuf {
    std::fs::write(path, bytes).unwrap();
    path.to_owned()
}

struct Seeds {
    journal: Vec<u8>,
    embedding: Vec<u8>,
    adapted: Vec<u8>,
    onnx: Vec<u8>,
}

/// Real files written by the binary: a journal, an embedding, an adapted predictor, a model.
fn real_files(home: &Path) -> Seeds {
    let mut args = vec!["profile", ALL_SKIP, ALL_NONE];
    args.extend_from_slice(QUICK);
    ok(home, &args);
    let table = shared_data("nb201_latency_help.csv");
    let oracle = ["--oracle", table.as_str(), "--oracle-device", "raspi4"];
    let mut embed = vec!["embed"];
    embed.extend_from_slice(&oracle);
    ok(home, &embed);
    let mut adapt = vec!["adapt"];
    adapt.extend_from_slice(&oracle);
    ok(home, &adapt);
    let onnx = home.join("m.onnx");
    ok(home, &["export", ALL_CONV1, "-o", onnx.to_str().unwrap()]);
    let one = |dir: &str| {
        let entry = std::fs::read_dir(home.join(dir)).unwrap().next().unwrap();
        std::fs::read(entry.unwrap().path()).unwrap()
    };
    Seeds {
        journal: std::fs::read(home.join("measurements.journal")).unwrap(),
        embedding: one("embeddings"),
        adapted: one("predictors"),
        onnx: std::fs::read(onnx).unwrap(),
    }
}

#[test]
fn a_million_generated_inputs_and_not_one_panic() {
    use edgenas_nas::Arch;
    use edgenas_profiler::{affinity, board, probe::parse_cpu_list, probe::CpuTimes};
    use edgenas_remote::{parse_inventory, Host};

    let home = TempDir::new("fuzz");
    let files = real_files(home.path());
    let scratch = home.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let total = AtomicU64::new(0);
    let b = |s: &str| s.as_bytes().to_vec();

    std::thread::scope(|s| {
        // Loading and running ONNX models: the costliest inputs (about 0.1 s each), in two
        // shards of their own from the start, beside the text parsers.
        for shard in 0..2u8 {
            let (onnx, total) = (&files.onnx, &total);
            s.spawn(move || {
                fuzz_shard(
                    "ONNX models",
                    shard,
                    750,
                    vec![onnx.clone()],
                    4,
                    total,
                    |x| {
                        let opts = edgenas_runtime::TractOptions {
                            threads: 1,
                            ..Default::default()
                        };
                        if let Ok(mut m) = edgenas_runtime::TractModel::from_onnx_bytes(x, opts) {
                            // Run what loads, unless a mutation blew its input up.
                            if m.input_shape().iter().product::<usize>() <= 1 << 20 {
                                let _ = m.run();
                            }
                        }
                    },
                );
            });
        }
        // Cheap text parsers: the bulk of the inputs.
        s.spawn(|| {
            let archs = vec![
                b(ALL_SKIP),
                b(ALL_CONV1),
                b("skip-k3_e1-skip-skip-k3_e1_g2-skip-skip-skip-skip-skip-skip-skip-skip-skip-skip-skip-skip-skip-skip-skip-skip-skip"),
                b("k5_e6-k3_e1-k3_e3-k5_e6_g2-k3_e6-skip-k5_e1-k3_e3-k3_e6_g2-k5_e6-k3_e1-k5_e1-k3_e6-k5_e1_g2-k3_e3-k3_e6-k5_e6-k3_e1-skip-k5_e6-k3_e6-k5_e1"),
                b(r#"{"ks": [7, 7, 5, 5, 7, 7, 3, 5, 7, 7, 5, 7, 3, 5, 3, 3, 3, 5, 5, 7], "e": [3, 6, 3, 6, 6, 4, 3, 6, 4, 6, 6, 3, 3, 4, 4, 3, 3, 3, 3, 4], "d": [4, 3, 3, 4, 2], "r": 196}"#),
                b(r#"{"r": 160, "d": [2, 2, 2, 2, 2], "ks": [3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3], "e": [3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3]}"#),
                b("ks=3-3-3-3-3-3-3-3-3-3-3-3-3-3-3-3-3-3-3-3;e=3-3-3-3-3-3-3-3-3-3-3-3-3-3-3-3-3-3-3-3;d=2-2-2-2-2;r=160"),
                b("ARCH"),
                b(""),
            ];
            fuzz("arch strings (3 grammars)", 450_000, archs, 6, &total, |x| {
                let _ = Arch::parse(&text(x));
            });
        });
        s.spawn(|| {
            let lists = vec![b("0-3"), b("4,5,6,7"), b("0-3,6 7"), b("0-99999999999"), b("8191")];
            fuzz("CPU lists", 150_000, lists, 4, &total, |x| {
                let t = text(x);
                let _ = affinity::parse(&t);
                let _ = parse_cpu_list(&t);
            });
            let hosts = vec![b("pi@10.0.0.5:2200"), b("[::1]:22"), b("root@[fe80::1]:22"), b("jetson")];
            fuzz("host specs", 100_000, hosts, 4, &total, |x| {
                let _ = Host::parse(&text(x));
            });
            let inventories = vec![
                b("[pis]\npi3 ansible_host=10.0.0.3\npi4 ansible_host=10.0.0.4 ansible_port=2222 ansible_user=ubuntu\n[edge:children]\npis\n[edge:vars]\nansible_user=admin\n"),
                b("# boards\npi4\npi@10.0.0.5:2200   # lab\n[::1]:22\n"),
            ];
            fuzz("hosts files and inventories", 100_000, inventories, 8, &total, |x| {
                let t = text(x);
                let _ = parse_inventory(&t, "inv", None);
                let _ = parse_inventory(&t, "inv", Some("edge"));
            });
        });
        s.spawn(|| {
            let stat = vec![b("cpu  100 20 30 400 50 6 7 8 9 10\ncpu0 50 10 15 200 25 3 3 4 0 0\nintr 1\n")];
            fuzz("/proc/stat", 50_000, stat, 6, &total, |x| {
                let _ = CpuTimes::parse(&text(x), "42 (edge nas) R 1 2 3 4 5 6 7 8 9 10 70 11 0");
                let _ = CpuTimes::parse("cpu 1 2 3 4 5 6 7 8\n", &text(x));
            });
            let l4t = vec![
                b("# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t210ref, EABI: aarch64, DATE: Sat Feb 19 17:05:08 UTC 2022\n"),
                b("pmode:0002 fmode:fanNull\n"),
                b("< POWER_MODEL ID=0 NAME=MAXN >\nCPU_ONLINE CORE_2 0\n< PM_CONFIG DEFAULT=0 >\n"),
            ];
            fuzz("L4T and nvpmodel files", 60_000, l4t, 6, &total, |x| {
                let t = text(x);
                let _ = board::parse_l4t(&t);
                let _ = board::parse_nvpmodel_status(&t);
                let _ = board::nvpmodel_name(&t, 0);
            });
            let tomls = vec![
                b(include_str!("../boards/rpi4.toml")),
                b(include_str!("../boards/jetson-orin-nano.toml")),
            ];
            fuzz("board files (TOML)", 40_000, tomls, 6, &total, |x| {
                let _ = board::parse_board(&text(x));
            });
            let header = vec![files.journal[..18].to_vec(), files.embedding[..18].to_vec()];
            fuzz("file headers", 50_000, header, 4, &total, |x| {
                for kind in edgenas_format::Kind::ALL {
                    let h = edgenas_format::FileHeader::new(kind, 2);
                    let _ = h.check(x, Path::new("f"));
                }
            });
        });
        s.spawn(|| {
            // File-backed parsers: a scratch file per input, one after another.
            let file = |name: &str| scratch.join(name);
            fuzz(
                "measurement journals",
                20_000,
                vec![files.journal.clone()],
                6,
                &total,
                |x| {
                    if let Ok(j) = edgenas_profiler::read_measurements(&at(&file("j"), x)) {
                        for m in j.iter() {
                            let _ = m.map(|m| m.identity());
                        }
                    }
                },
            );
            fuzz(
                "hardware embeddings",
                10_000,
                vec![files.embedding.clone()],
                6,
                &total,
                |x| {
                    let _ =
                        edgenas_profiler::embedding::HardwareEmbedding::load(&at(&file("e"), x));
                },
            );
            fuzz(
                "adapted predictors",
                5_000,
                vec![files.adapted.clone()],
                6,
                &total,
                |x| {
                    let _ = edgenas_ondevice::AdaptedPredictor::load(&at(&file("a"), x));
                },
            );
            let shipped = std::fs::read("models/nb201.predictor").unwrap();
            fuzz(
                "shipped predictor files",
                300,
                vec![shipped],
                4,
                &total,
                |x| {
                    let _ = edgenas_predictor::file::PredictorFile::from_bytes(x, Path::new("p"));
                },
            );
            let csv: Vec<u8> = std::fs::read_to_string(shared_data("nb201_latency_help.csv"))
                .unwrap()
                .lines()
                .take(12)
                .collect::<Vec<_>>()
                .join("\n")
                .into_bytes();
            fuzz("CSV latency tables", 10_000, vec![csv], 8, &total, |x| {
                let t = text(x);
                let _ = edgenas_predictor::table::LatencyTable::parse(&t, "t.csv");
                let _ = edgenas_ondevice::OracleTable::read(
                    edgenas_nas::Space::Nb201,
                    &at(&file("t.csv"), x),
                    "raspi4",
                );
            });
        });
    });

    let n = total.load(Ordering::Relaxed);
    eprintln!("fuzz total: {n} inputs, 0 panics");
    assert!(n >= 1_000_000, "only {n} inputs");
}
