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
    AdaptedPredictor::adapt(
        space,
        &prior,
        "shipped prior",
        fp,
        &references,
        &support,
        &crate::features::KernelTable::default(),
        crate::anchor::PRIOR_REL_SD,
    )
}

/// A predictor meta-trained from a table, with what chose its settings.
pub struct MetaTrained {
    pub file: edgenas_predictor::PredictorFile,
    /// Each candidate setting with its validation Spearman.
    pub choices: Vec<(String, f64)>,
    /// The network alone: its best validation Spearman and iteration.
    pub best_valid_spearman: f64,
    pub best_iteration: usize,
}

/// HELP's meta-training over `train` devices of `data`, settings chosen on `valid` devices
/// (HELP's pools), as the file the binary ships. `started` sees the device counts first.
pub fn meta_train(
    space: Space,
    data: &Path,
    (train_names, valid_names): (Vec<String>, Vec<String>),
    opt: edgenas_predictor::MetaTrainOptions,
    started: &mut dyn FnMut(usize, usize),
    progress: &mut dyn FnMut(&edgenas_predictor::Progress),
) -> Result<MetaTrained, LoopError> {
    use edgenas_predictor::{meta, Model, PredictorFile, TrainingInfo};
    if let Some(d) = train_names.iter().find(|d| valid_names.contains(d)) {
        return Err(LoopError::Invalid(format!(
            "device {d} is both a training and a validation device"
        )));
    }
    let start = std::time::Instant::now();
    let t = SpaceTable::read(space, data)?;
    let train = t.devices(&train_names, &Pools::all_train(t.table.rows()))?;
    let valid = t.devices(&valid_names, &help_pools(space, t.table.rows())?)?;
    let model = Model::new(model_config(space))?;
    started(train.len(), valid.len());
    let mut trained = meta::meta_train(model, &t.features, &train, &valid, &opt, progress);
    let choices =
        meta::select_on_validation(&mut trained.learner, &t.features, &train, &valid, &opt)?;
    let valid_spearman = meta::validate(
        &trained.learner,
        &t.features,
        &valid,
        opt.valid_samples,
        &opt.valid_seeds,
    );
    let l = &trained.learner;
    let file = PredictorFile {
        space: space.name().to_string(),
        references: space.references().iter().map(|r| r.to_string()).collect(),
        config: l.model.config().clone(),
        params: l.params.clone(),
        inner_lr: l.inner_lr.clone(),
        inner_steps: l.inner_steps as u32,
        loss: l.loss,
        adaptation: l.adaptation,
        additive: l.additive.clone(),
        blend: l.blend,
        training: TrainingInfo {
            data: data
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            train_devices: train_names,
            valid_devices: valid_names,
            options: opt,
            best_iteration: trained.best_iteration as u32,
            valid_spearman,
            seconds: start.elapsed().as_secs_f64(),
        },
    };
    Ok(MetaTrained {
        file,
        choices,
        best_valid_spearman: trained.best_valid_spearman,
        best_iteration: trained.best_iteration,
    })
}

/// What HELP's protocol evaluates on a table's devices.
pub enum Evaluated<'a> {
    /// The meta-learned network alone, as configured.
    Network(&'a Learner),
    /// The on-device model: executed-network costs with the meta-learned prior.
    OnDevice {
        prior: &'a edgenas_predictor::CostAwarePrior,
        selection: edgenas_predictor::Selection,
    },
}

/// HELP's protocol on each device of `devices`: adapt on the references and `samples`
/// support archs per seed, rank the query pool; the mean score per device.
pub fn evaluate_devices(
    t: &SpaceTable,
    devices: &[Device],
    what: Evaluated,
    samples: usize,
    seeds: &[u64],
) -> Result<Vec<edgenas_predictor::Score>, LoopError> {
    // The on-device model needs every row's executed-network cost figures.
    let costs: Vec<Vec<f64>> = match what {
        Evaluated::OnDevice { .. } => crate::features::features_of(&t.archs)
            .into_iter()
            .map(|f| f.cost)
            .collect(),
        Evaluated::Network(_) => Vec::new(),
    };
    devices
        .iter()
        .map(|d| match what {
            Evaluated::OnDevice { prior, selection } => Ok(edgenas_predictor::costaware::evaluate(
                prior,
                &costs,
                &t.features,
                d,
                samples,
                seeds,
                selection,
            )?),
            Evaluated::Network(learner) => Ok(edgenas_predictor::evaluate(
                learner,
                &t.features,
                d,
                samples,
                seeds,
            )),
        })
        .collect()
}

/// One device's mean score under HELP's protocol (`predictor eval --json`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceReport {
    pub device: String,
    pub spearman: f64,
    pub kendall: f64,
    pub within_10pct: f64,
}

/// `predictor eval`: each device's scores and the mean Spearman.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EvalReport {
    pub space: String,
    pub samples: usize,
    pub seeds: usize,
    pub devices: Vec<DeviceReport>,
    pub mean_spearman: f64,
}

impl EvalReport {
    pub fn new(
        space: Space,
        samples: usize,
        seeds: usize,
        devices: &[Device],
        scores: Vec<edgenas_predictor::Score>,
    ) -> EvalReport {
        let devices: Vec<DeviceReport> = devices
            .iter()
            .zip(scores)
            .map(|(d, s)| DeviceReport {
                device: d.name.clone(),
                spearman: s.spearman,
                kendall: s.kendall,
                within_10pct: s.within_10pct,
            })
            .collect();
        let mean_spearman = devices.iter().map(|d| d.spearman).sum::<f64>() / devices.len() as f64;
        EvalReport {
            space: space.name().into(),
            samples,
            seeds,
            devices,
            mean_spearman,
        }
    }
}

/// Where the table `file` was meta-trained from is on this machine, if it is: `file` names it,
/// and it is looked for in `$EDGENAS_SHARED/data`, then `../shared/data`.
pub fn training_table(file: &edgenas_predictor::PredictorFile) -> Option<std::path::PathBuf> {
    let shared = std::env::var_os("EDGENAS_SHARED").map(std::path::PathBuf::from);
    shared
        .into_iter()
        .chain([std::path::PathBuf::from("../shared")])
        .map(|d| d.join("data").join(&file.training.data))
        .find(|p| p.is_file())
}

/// The hardware embeddings (the reference archs' latencies, in order) of the devices `file`
/// was meta-trained and validated on, read from `table` (the HELP table the model names).
/// Devices the table lacks are left out.
pub fn training_embeddings(
    space: Space,
    file: &edgenas_predictor::PredictorFile,
    table: &Path,
) -> Result<Vec<(String, Vec<f64>)>, LoopError> {
    let t = SpaceTable::read(space, table)?;
    Ok(file
        .training
        .train_devices
        .iter()
        .chain(&file.training.valid_devices)
        .filter_map(|d| {
            let column = t.table.device(d).ok()?;
            Some((
                d.clone(),
                t.reference_rows.iter().map(|&r| column[r] as f64).collect(),
            ))
        })
        .collect())
}
