//! The same seeded rows of a latency table timed here by each runtime: per runtime its median
//! latency and its rank agreement with the table's column, then the runtimes against each other.
//! Each arch is timed by every runtime back to back, the order alternating, so slow phases of a
//! shared machine fall on all of them.

use std::path::Path;
use std::time::Duration;

use edgenas_nas::{Arch, Space};
use edgenas_predictor::LatencyTable;
use edgenas_profiler::Protocol;
use edgenas_runtime::{Model, ModelOptions, Runtime};
use rand::seq::SliceRandom;
use rand::SeedableRng;

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
    let protocol = Protocol {
        max_time: Duration::from_secs_f64(max_time),
        min_time: Duration::from_secs_f64(max_time.min(1.0)),
        ..Protocol::default()
    };
    let names: Vec<String> = runtimes
        .iter()
        .map(|r| {
            r.identity()
                .map(|(n, v)| format!("{n} {v}"))
                .map_err(|source| LoopError::Runtime {
                    subject: format!("--runtimes {r}"),
                    source,
                })
        })
        .collect::<Result<_, _>>()?;
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

/// `arch`'s median on each runtime (in `runtimes`' order), timed back to back, the order
/// reversed when `reverse`.
fn time_on_each(
    arch: &Arch,
    runtimes: &[Runtime],
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
        let opts = ModelOptions {
            runtime: runtimes[k],
            threads: 1,
            seed: 0,
        };
        let failed = |source| LoopError::Runtime {
            subject: format!("preparing {arch} for {}", runtimes[k]),
            source,
        };
        let mut model = Model::from_network(&net, opts).map_err(failed)?;
        figures[k] = protocol
            .sample(|| model.run_discard(), &mut |_| {})
            .map_err(|source| LoopError::Runtime {
                subject: arch.to_string(),
                source,
            })?
            .stats
            .median_ms;
    }
    Ok(figures)
}
