//! The same archs timed here by each runtime: seeded archs of a space against each other
//! ([`compare`], `bench runtimes`), or seeded rows of a latency table against its column
//! ([`table_agreement`], `bench table`).
//! Each arch is timed by every runtime back to back, the order alternating, so slow phases of a
//! shared machine fall on all of them.

use std::path::Path;
use std::time::Duration;

use edgenas_nas::{Arch, Space};
use edgenas_predictor::LatencyTable;
use edgenas_profiler::Protocol;
use edgenas_runtime::{Model, ModelOptions, Precision, Runtime};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;

use crate::LoopError;

/// One row: the arch, each runtime's median (in the runtimes' order) and the table's figure.
#[derive(Debug, Clone)]
pub struct Row {
    pub arch: Arch,
    pub ours_ms: Vec<f64>,
    pub published_ms: f64,
}

/// Every runtime's medians over the rows, and the table's.
#[derive(Debug, Clone)]
pub struct TableAgreement {
    /// "name version" of each runtime.
    pub names: Vec<String>,
    pub ours: Vec<Vec<f32>>,
    pub published: Vec<f32>,
}

/// `archs` seeded rows of `data` timed with each of `runtimes` at 1 thread; `on_row` sees each
/// row as it is measured.
#[allow(clippy::too_many_arguments)]
pub fn table_agreement(
    space: Space,
    data: &Path,
    device: &str,
    archs: usize,
    seed: u64,
    max_time: f64,
    runtimes: &[Runtime],
    on_row: &mut dyn FnMut(usize, usize, &Row),
) -> Result<TableAgreement, LoopError> {
    if runtimes.is_empty() {
        return Err(LoopError::Invalid(
            "--runtimes needs at least one runtime".into(),
        ));
    }
    let table = LatencyTable::read(data)?;
    let cols: Vec<usize> = space
        .table_columns()
        .iter()
        .map(|c| table.key_column(c))
        .collect::<Result<_, _>>()?;
    let theirs = table.device(device)?;
    let mut rows: Vec<usize> = (0..table.rows()).collect();
    rows.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    rows.truncate(archs);
    let protocol = sampling(max_time);
    let runtimes: Vec<Target> = runtimes.iter().map(|&r| (r, Precision::Fp32)).collect();
    let runtimes = &runtimes[..];
    let names = identities(runtimes)?;
    let mut out = TableAgreement {
        names,
        ours: vec![Vec::new(); runtimes.len()],
        published: Vec::new(),
    };
    for (i, &r) in rows.iter().enumerate() {
        let keys: Vec<&str> = cols.iter().map(|&c| table.keys[r][c].as_str()).collect();
        let arch = space.arch_from_columns(&keys)?;
        let ours_ms = time_on_each(&arch, runtimes, &protocol, i % 2 == 1)?;
        let row = Row {
            arch,
            ours_ms,
            published_ms: theirs[r] as f64,
        };
        on_row(i, rows.len(), &row);
        for (k, f) in row.ours_ms.into_iter().enumerate() {
            out.ours[k].push(f as f32);
        }
        out.published.push(theirs[r]);
    }
    Ok(out)
}

/// The protocol of both benchmarks: sampling up to `max_time` seconds per arch and runtime.
fn sampling(max_time: f64) -> Protocol {
    Protocol {
        max_time: Duration::from_secs_f64(max_time),
        min_time: Duration::from_secs_f64(max_time.min(1.0)),
        ..Protocol::default()
    }
}

/// "name version" of each runtime as its Fingerprint records it; loads the libraries, so a
/// missing one is reported before anything is timed.
fn identities(runtimes: &[Target]) -> Result<Vec<String>, LoopError> {
    runtimes
        .iter()
        .map(|(r, p)| {
            r.identity()
                .map(|(n, v)| match p {
                    Precision::Fp32 => format!("{n} {v}"),
                    p => format!("{n} {v} at {p}"),
                })
                .map_err(|source| LoopError::Runtime {
                    subject: format!("--runtimes {}", r.label()),
                    source,
                })
        })
        .collect()
}

/// A runtime and the precision it runs the networks at.
pub type Target = (Runtime, Precision);

/// A target's name in the figures: the runtime's label, and the precision unless fp32
/// (`ort+cpu`, `ort+cpu@int8`).
pub fn target_label((runtime, precision): Target) -> String {
    match precision {
        Precision::Fp32 => runtime.label(),
        p => format!("{}@{p}", runtime.label()),
    }
}

/// Every runtime at every precision it runs here, in the runtimes' order; and the pairs left
/// out because the runtime does not run that precision, as `label@precision`.
pub fn targets(runtimes: &[Runtime], precisions: &[Precision]) -> (Vec<Target>, Vec<String>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for &r in runtimes {
        for &p in precisions {
            if r.precisions().contains(&p) {
                out.push((r, p));
            } else {
                skipped.push(format!("{}@{p}", r.label()));
            }
        }
    }
    (out, skipped)
}

/// `arch`'s median on each runtime (in `runtimes`' order), timed back to back, the order
/// reversed when `reverse`.
fn time_on_each(
    arch: &Arch,
    runtimes: &[Target],
    protocol: &Protocol,
    reverse: bool,
) -> Result<Vec<f64>, LoopError> {
    let net = arch.build();
    let mut figures = vec![0.0; runtimes.len()];
    let mut order: Vec<usize> = (0..runtimes.len()).collect();
    if reverse {
        order.reverse();
    }
    for k in order {
        let (runtime, precision) = runtimes[k];
        let opts = ModelOptions {
            runtime,
            threads: 1,
            seed: 0,
            precision,
        };
        let failed = |source| LoopError::Runtime {
            subject: format!("preparing {arch} for {}", target_label(runtimes[k])),
            source,
        };
        let mut model = Model::from_network(&net, opts).map_err(failed)?;
        figures[k] = protocol
            .sample(|| model.run_timed(), &mut |_| {})
            .map_err(|source| LoopError::Runtime {
                subject: arch.to_string(),
                source,
            })?
            .stats
            .median_ms;
    }
    Ok(figures)
}

/// One runtime's figures over the compared archs.
#[derive(Debug, Clone, Serialize)]
pub struct RuntimeFigures {
    /// As `--runtimes` names it, with the precision unless fp32: `tract`, `tflite+xnnpack`,
    /// `ort+cpu`, `ort+cpu@int8`…
    pub runtime: String,
    /// Name and version as the Fingerprint records them.
    pub identity: String,
    /// The median over the archs of each arch's median latency.
    pub median_ms: f64,
    /// `median_ms` over the fastest runtime's.
    pub ratio_to_fastest: f64,
    /// Each arch's median, in the archs' order.
    pub latencies_ms: Vec<f64>,
}

/// Two runtimes' rank agreement over the same archs, and their latency ratio.
#[derive(Debug, Clone, Serialize)]
pub struct RuntimePair {
    pub a: String,
    pub b: String,
    pub spearman: f64,
    pub kendall: f64,
    /// The median over archs of b's latency over a's.
    pub median_ratio_b_over_a: f64,
}

/// `bench runtimes`: the same archs on each runtime.
#[derive(Debug, Clone, Serialize)]
pub struct RuntimeComparison {
    pub space: String,
    pub threads: usize,
    pub archs: Vec<String>,
    pub runtimes: Vec<RuntimeFigures>,
    pub pairs: Vec<RuntimePair>,
}

/// Every runtime this binary can load here, each with every delegate or provider it has:
/// tract; TensorFlow Lite with and without XNNPACK; ONNX Runtime on each of its providers
/// (the GPU ones only where the library has them).
pub fn available() -> Vec<Runtime> {
    use edgenas_runtime::{OrtProvider, TfliteDelegate};
    let mut out = vec![Runtime::Tract];
    let tflite = Runtime::Tflite(TfliteDelegate::None);
    if tflite.identity().is_ok() {
        for d in [TfliteDelegate::None, TfliteDelegate::Xnnpack] {
            if tflite.accelerators().iter().any(|a| a == d.name()) {
                out.push(Runtime::Tflite(d));
            }
        }
    }
    if Runtime::ORT.identity().is_ok() {
        let have = Runtime::ORT.accelerators();
        out.extend(
            OrtProvider::ALL
                .into_iter()
                .filter(|p| have.iter().any(|a| a == p.name()))
                .map(Runtime::Ort),
        );
    }
    out
}

/// Sees each arch as it is measured: its index, the count, the arch and each runtime's median.
pub type OnArch<'a> = dyn FnMut(usize, usize, &Arch, &[f64]) + 'a;

/// `archs` seeded archs of `space` timed at 1 thread by each of `runtimes`, back to back with
/// the order alternating; `on_arch` sees each arch's figures as they are measured.
pub fn compare(
    space: Space,
    archs: usize,
    seed: u64,
    max_time: f64,
    runtimes: &[Target],
    on_arch: &mut OnArch,
) -> Result<RuntimeComparison, LoopError> {
    if runtimes.is_empty() || archs < 2 {
        return Err(LoopError::Invalid(
            "bench runtimes needs at least one runtime and two archs".into(),
        ));
    }
    let identities = identities(runtimes)?;
    let protocol = sampling(max_time);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let chosen: Vec<Arch> = (0..archs).map(|_| space.sample(&mut rng)).collect();
    let mut latencies = vec![Vec::with_capacity(archs); runtimes.len()];
    for (i, arch) in chosen.iter().enumerate() {
        let figures = time_on_each(arch, runtimes, &protocol, i % 2 == 1)?;
        on_arch(i, archs, arch, &figures);
        for (k, f) in figures.into_iter().enumerate() {
            latencies[k].push(f);
        }
    }
    let medians: Vec<f64> = latencies.iter().map(|l| super::median(l.clone())).collect();
    let fastest = medians.iter().copied().fold(f64::INFINITY, f64::min);
    let as_f32 = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    let mut pairs = Vec::new();
    for a in 0..runtimes.len() {
        for b in a + 1..runtimes.len() {
            let (la, lb) = (as_f32(&latencies[a]), as_f32(&latencies[b]));
            pairs.push(RuntimePair {
                a: target_label(runtimes[a]),
                b: target_label(runtimes[b]),
                spearman: edgenas_predictor::metrics::spearman(&la, &lb),
                kendall: edgenas_predictor::metrics::kendall_tau_b(&la, &lb),
                median_ratio_b_over_a: super::median(
                    latencies[b]
                        .iter()
                        .zip(&latencies[a])
                        .map(|(y, x)| y / x)
                        .collect(),
                ),
            });
        }
    }
    Ok(RuntimeComparison {
        space: space.name().to_string(),
        threads: 1,
        archs: chosen.iter().map(|a| a.to_string()).collect(),
        runtimes: runtimes
            .iter()
            .zip(identities)
            .zip(latencies)
            .zip(&medians)
            .map(
                |(((&r, identity), latencies_ms), &median_ms)| RuntimeFigures {
                    runtime: target_label(r),
                    identity,
                    median_ms,
                    ratio_to_fastest: median_ms / fastest,
                    latencies_ms,
                },
            )
            .collect(),
        pairs,
    })
}
