//! HELP's protocol over the public latency tables: a table read for one space (every row's
//! arch decoded and encoded, the references located), the network's configuration per space,
//! HELP's network adapted to a table column ([`TableLearner`]), and the on-device model
//! adapted to one ([`table_predictor`]). These decode arch strings, which the predictor crate
//! never sees, so they live here, over both.

use std::collections::HashMap;
use std::path::Path;

use edgenas_nas::{Arch, EncodingSpec, Space};
use edgenas_predictor::ndarray::{Array2, Axis};
use edgenas_predictor::{
    features_matrix, Adapted, Config, Device, Encoder, LatencyTable, Learner, Pools,
};
use rand::SeedableRng;

use crate::adapted::AdaptedPredictor;
use crate::features::prior_for;
use crate::oracle::OracleTable;
use crate::LoopError;

/// A latency table read for one space: every row's arch encoded, the references located.
pub struct SpaceTable {
    pub table: LatencyTable,
    /// The arch of every row.
    pub archs: Vec<Arch>,
    pub features: Array2<f32>,
    pub reference_rows: Vec<usize>,
}

/// HELP's network for `space`: a 4-layer GCN over NB201's cell, a 2-layer MLP otherwise.
pub fn model_config(space: Space) -> Config {
    Config::help(encoder(space))
}

fn encoder(space: Space) -> Encoder {
    match space.encoding() {
        EncodingSpec::Graph {
            nodes,
            features,
            adjacency,
        } => Encoder::Graph {
            nodes,
            features,
            adjacency,
            layers: 4,
        },
        EncodingSpec::Flat { len } => Encoder::Flat {
            features: len,
            layers: 2,
        },
    }
}

/// HELP's train-pool size for `space` (the query pool is the next 1000 rows).
pub fn help_train_pool(space: Space) -> usize {
    Pools::help_train_size(&encoder(space))
}

/// HELP's train and query pools of a table of `rows` rows for `space`.
pub fn help_pools(space: Space, rows: usize) -> Result<Pools, LoopError> {
    Ok(Pools::help(help_train_pool(space), rows)?)
}

/// The predictor's feature matrix of `archs` (one encoded arch per row; all of one space).
pub fn encode_archs(archs: &[Arch]) -> Array2<f32> {
    let rows: Vec<Vec<f32>> = archs.iter().map(Arch::encode).collect();
    features_matrix(&rows)
}

impl SpaceTable {
    pub fn read(space: Space, path: &Path) -> Result<SpaceTable, LoopError> {
        let table = LatencyTable::read(path)?;
        let columns: Vec<usize> = space
            .table_columns()
            .iter()
            .map(|c| table.key_column(c))
            .collect::<Result<_, _>>()
            .map_err(|e| {
                LoopError::Invalid(format!(
                    "a {} latency table needs the columns {}: {e}",
                    space.name(),
                    space.table_columns().join(", ")
                ))
            })?;
        let mut row_of: HashMap<Arch, usize> = HashMap::new();
        let mut archs = Vec::with_capacity(table.rows());
        for (row, keys) in table.keys.iter().enumerate() {
            let values: Vec<&str> = columns.iter().map(|&c| keys[c].as_str()).collect();
            let arch = space.arch_from_columns(&values).map_err(|e| {
                LoopError::Invalid(format!("{} data row {}: {e}", path.display(), row + 1))
            })?;
            row_of.entry(arch.clone()).or_insert(row);
            archs.push(arch);
        }
        let reference_rows = space
            .references()
            .iter()
            .map(|a| {
                row_of.get(a).copied().ok_or_else(|| {
                    LoopError::Invalid(format!(
                        "{}: reference arch {a} is not in the table (its latencies form the hardware embedding)",
                        path.display()
                    ))
                })
            })
            .collect::<Result<Vec<usize>, _>>()?;
        Ok(SpaceTable {
            features: encode_archs(&archs),
            table,
            archs,
            reference_rows,
        })
    }

    /// The named devices (latency columns) with `pools`.
    pub fn devices(&self, names: &[String], pools: &Pools) -> Result<Vec<Device>, LoopError> {
        names
            .iter()
            .map(|n| {
                Ok(Device::new(
                    n,
                    self.table.device(n)?,
                    &self.reference_rows,
                    pools,
                )?)
            })
            .collect()
    }
}

/// HELP's network adapted to one device of a latency table: predicts milliseconds.
pub struct TableLearner {
    pub learner: Learner,
    pub adapted: Adapted,
    pub device: Device,
}

impl TableLearner {
    /// Adapts `model` to `device` of a latency table: its reference latencies (the hardware
    /// embedding) and `samples` support archs of HELP's train pool.
    pub fn from_table(
        space: Space,
        data: &Path,
        device: &str,
        samples: usize,
        model: &edgenas_predictor::PredictorFile,
        seed: u64,
    ) -> Result<TableLearner, LoopError> {
        let learner = model.learner()?;
        let t = SpaceTable::read(space, data)?;
        let pools = help_pools(space, t.table.rows())?;
        let device = Device::new(device, t.table.device(device)?, &t.reference_rows, &pools)?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let rows = edgenas_predictor::device::support_rows(&device, samples, &mut rng);
        let xs = t.features.select(Axis(0), &rows);
        let ys: Vec<f32> = rows.iter().map(|&r| device.y[r]).collect();
        let adapted = learner.adapt(xs.view(), &ys, &device.hw);
        Ok(TableLearner {
            learner,
            adapted,
            device,
        })
    }

    pub fn predict_ms(&self, archs: &[Arch]) -> Vec<f64> {
        if archs.is_empty() {
            return Vec::new();
        }
        let x = encode_archs(archs);
        self.learner
            .predict(&self.adapted, x.view(), &self.device.hw)
            .into_iter()
            .map(|y| self.device.norm.to_ms(y) as f64)
            .collect()
    }
}

/// Table mode: the on-device model adapted to a device column of a latency table (its
/// references and `samples` random rows), for offline study.
pub fn table_predictor(
    space: Space,
    data: &Path,
    column: &str,
    samples: usize,
    model: &edgenas_predictor::PredictorFile,
    seed: u64,
) -> Result<AdaptedPredictor, LoopError> {
    let prior = prior_for(space, model)?;
    let table = OracleTable::read(space, data, column)?;
    let refs = space.references();
    let references: Vec<(Arch, f64)> = refs
        .iter()
        .map(|a| {
            table
                .latency_ms(a)
                .map(|ms| (a.clone(), ms))
                .ok_or_else(|| {
                    LoopError::Invalid(format!(
                        "{}: reference arch {a} is not in the table",
                        data.display()
                    ))
                })
        })
        .collect::<Result<_, _>>()?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut support = Vec::new();
    let pool: Vec<&Arch> = table.archs.iter().filter(|a| !refs.contains(a)).collect();
    while support.len() < samples.min(pool.len()) {
        let a = pool[rand::RngExt::random_range(&mut rng, 0..pool.len())];
        if !support.iter().any(|(s, _): &(Arch, f64)| s == a) {
            support.push((a.clone(), table.latency_ms(a).expect("from the table")));
        }
    }
    let fp = crate::measure::oracle_fingerprint(&table);
    AdaptedPredictor::adapt(space, &prior, "shipped prior", fp, &references, &support)
}
