//! `edgenas search`: latency-constrained evolutionary search with an adapted predictor.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use edgenas_nas::search::{aging_evolution, EvolutionOptions, SearchOutcome};
use edgenas_nas::{Arch, Space};
use edgenas_predictor::ndarray::Array2;
use edgenas_predictor::table::split_csv_line;
use edgenas_predictor::{meta::support_rows, Adapted, Device, Learner, Pools};
use rand::SeedableRng;
use serde_json::json;

use super::predictor::{help_train_pool, load_model, read_space_table};
use crate::cli::{ObjectiveArg, SearchArgs};

/// A predictor adapted to one device: predicts milliseconds.
pub struct AdaptedPredictor {
    pub learner: Learner,
    pub adapted: Adapted,
    pub device: Device,
    /// Measurements it was adapted on (references + support).
    pub measurements: usize,
}

impl AdaptedPredictor {
    /// Adapts the space's predictor to `device` of a latency table: its reference latencies
    /// (the hardware embedding) and `samples` support archs of HELP's train pool. This stands
    /// in for measurements taken on the board until `embed` records them there.
    pub fn from_table(
        space: Space,
        data: &Path,
        device: &str,
        samples: usize,
        model: Option<&Path>,
        seed: u64,
    ) -> Result<AdaptedPredictor> {
        let file = load_model(space, model)?;
        let learner = file.learner()?;
        let t = read_space_table(space, data)?;
        let pools = Pools::help(help_train_pool(space), t.table.rows())?;
        let device = Device::new(device, t.table.device(device)?, &t.reference_rows, &pools)?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let rows = support_rows(&device, samples, &mut rng);
        let xs = t
            .features
            .select(edgenas_predictor::ndarray::Axis(0), &rows);
        let ys: Vec<f32> = rows.iter().map(|&r| device.y[r]).collect();
        let adapted = learner.adapt(xs.view(), &ys, &device.hw);
        Ok(AdaptedPredictor {
            learner,
            adapted,
            device,
            measurements: rows.len(),
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

/// The predictor's feature matrix of `archs` (one encoded arch per row; all of one space).
pub fn encode_archs(archs: &[Arch]) -> Array2<f32> {
    let dim = archs.first().map_or(0, |a| a.encode().len());
    let mut x = Array2::<f32>::zeros((archs.len(), dim));
    for (i, a) in archs.iter().enumerate() {
        x.row_mut(i)
            .assign(&edgenas_predictor::ndarray::ArrayView1::from(&a.encode()));
    }
    x
}

/// What the search maximises.
pub enum Objective {
    /// Accuracy looked up in a table (archs missing from it score -inf).
    Table {
        source: String,
        column: String,
        values: HashMap<Arch, f64>,
    },
    /// The NASWOT score measured here with tract on random inputs.
    Naswot { samples: usize, seed: u64 },
}

impl Objective {
    pub fn describe(&self) -> String {
        match self {
            Objective::Table { source, column, .. } => format!("accuracy table {source}, column {column}"),
            Objective::Naswot { samples, .. } => format!(
                "NASWOT training-free proxy (log|det K| of ReLU patterns over {samples} random inputs, run here with tract)"
            ),
        }
    }

    pub fn score(&self, arch: &Arch) -> f64 {
        match self {
            Objective::Table { values, .. } => {
                values.get(arch).copied().unwrap_or(f64::NEG_INFINITY)
            }
            Objective::Naswot { samples, seed } => {
                edgenas_runtime::naswot::naswot_score(&arch.build(), *samples, *seed)
                    .unwrap_or(f64::NEG_INFINITY)
            }
        }
    }

    /// Reads `column` of an accuracy CSV that holds the space's arch columns.
    pub fn from_table(space: Space, path: &Path, column: &str) -> Result<Objective> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut lines = text.lines();
        let header = split_csv_line(lines.next().context("the accuracy table is empty")?);
        let find = |name: &str| {
            header
                .iter()
                .position(|h| h == name)
                .with_context(|| format!("{}: no column '{name}'", path.display()))
        };
        let arch_cols: Vec<usize> = space
            .table_columns()
            .iter()
            .map(|c| find(c))
            .collect::<Result<_>>()?;
        let value_col = find(column)?;
        let mut values = HashMap::new();
        for (n, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let cells = split_csv_line(line);
            let at = |i: usize| cells.get(i).map(String::as_str).unwrap_or("");
            let keys: Vec<&str> = arch_cols.iter().map(|&c| at(c)).collect();
            let arch = space
                .arch_from_columns(&keys)
                .with_context(|| format!("{} line {}", path.display(), n + 2))?;
            let v: f64 = at(value_col).parse().with_context(|| {
                format!(
                    "{} line {}: '{}' is not a number",
                    path.display(),
                    n + 2,
                    at(value_col)
                )
            })?;
            values.insert(arch, v);
        }
        Ok(Objective::Table {
            source: path.display().to_string(),
            column: column.to_string(),
            values,
        })
    }
}

pub fn run_search(
    space: Space,
    predictor: &AdaptedPredictor,
    objective: &Objective,
    budget_ms: f64,
    opts: &EvolutionOptions,
) -> SearchOutcome {
    aging_evolution(
        space,
        budget_ms,
        opts,
        &mut |archs| predictor.predict_ms(archs),
        &mut |a| objective.score(a),
    )
}

pub fn run(a: SearchArgs) -> Result<()> {
    let space = Space::from_name(&a.space)?;
    if a.budget_ms.is_nan() || a.budget_ms <= 0.0 {
        bail!("--budget-ms must be positive");
    }
    let predictor = AdaptedPredictor::from_table(
        space,
        &a.data,
        &a.device,
        a.samples,
        a.model.as_deref(),
        a.seed,
    )?;
    let objective = match a.objective {
        ObjectiveArg::Accuracy => {
            let path = a
                .accuracy
                .as_deref()
                .context("--objective accuracy needs --accuracy FILE.csv")?;
            Objective::from_table(space, path, &a.accuracy_column)?
        }
        ObjectiveArg::Naswot => Objective::Naswot {
            samples: a.naswot_samples,
            seed: a.seed,
        },
    };
    let opts = EvolutionOptions {
        population: a.population,
        tournament: a.tournament,
        evaluations: a.evaluations,
        seed: a.seed,
        ..EvolutionOptions::default()
    };
    let start = Instant::now();
    let out = run_search(space, &predictor, &objective, a.budget_ms, &opts);
    let seconds = start.elapsed().as_secs_f64();
    let mut top = out.history.clone();
    top.sort_by(|x, y| y.objective.total_cmp(&x.objective));
    top.truncate(a.top);
    let latency_source = format!(
        "{} predictor adapted to {} from {} measurements in {}",
        space.name(),
        a.device,
        predictor.measurements,
        a.data.display()
    );
    if a.json {
        let rows: Vec<_> = top
            .iter()
            .map(|c| json!({"arch": c.arch.to_string(), "predicted_latency_ms": c.latency_ms, "objective": c.objective}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "space": space.name(),
                "budget_ms": a.budget_ms,
                "latency": latency_source,
                "objective": objective.describe(),
                "evaluations": out.history.len(),
                "latency_queries": out.latency_queries,
                "seconds": seconds,
                "top": rows,
            }))?
        );
        return Ok(());
    }
    println!(
        "search: {} space, predicted latency <= {} ms",
        space.name(),
        a.budget_ms
    );
    println!("latency:   {latency_source}");
    println!("objective: {}", objective.describe());
    println!(
        "{} archs evaluated, {} latency predictions, {:.2} s",
        out.history.len(),
        out.latency_queries,
        seconds
    );
    if top.is_empty() {
        bail!(
            "no arch within {} ms was found (the budget may be below the space's fastest arch)",
            a.budget_ms
        );
    }
    for (i, c) in top.iter().enumerate() {
        println!(
            "{:>2}. objective {:>10.4}  predicted {:>9.3} ms  {}",
            i + 1,
            c.objective,
            c.latency_ms,
            c.arch
        );
    }
    Ok(())
}
