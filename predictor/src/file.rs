//! The predictor's model file: the edgenas header (kind `predictor`) + postcard.

use std::path::Path;

use edgenas_format::{FileHeader, Kind, HEADER_LEN};
use serde::{Deserialize, Serialize};

use crate::additive::AdditivePrior;
use crate::meta::{Adaptation, Learner, MetaTrainOptions};
use crate::model::{Config, Loss, Model};
use crate::params::ParamSet;
use crate::PredictorError;

/// Bumped whenever the layout of [`PredictorFile`] changes.
pub const PREDICTOR_FORMAT: u16 = 1;

fn header() -> FileHeader {
    FileHeader::new(Kind::Predictor, PREDICTOR_FORMAT)
}

/// A meta-trained predictor and how it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictorFile {
    /// The search space the encodings come from (`nb201`, `fbnet`, `ofa`).
    pub space: String,
    /// The reference archs whose latencies form the hardware embedding, in order.
    pub references: Vec<String>,
    pub config: Config,
    pub params: ParamSet,
    pub inner_lr: ParamSet,
    pub inner_steps: u32,
    pub loss: Loss,
    pub adaptation: Adaptation,
    pub additive: Option<AdditivePrior>,
    pub blend: f32,
    pub training: TrainingInfo,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    pub data: String,
    pub train_devices: Vec<String>,
    pub valid_devices: Vec<String>,
    pub options: MetaTrainOptions,
    pub best_iteration: u32,
    pub valid_spearman: f64,
    pub seconds: f64,
}

impl PredictorFile {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = header().encode().to_vec();
        out.extend(postcard::to_allocvec(self).expect("a predictor always serialises"));
        out
    }

    /// Decodes and validates a model file's bytes; `path` names it in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<PredictorFile, PredictorError> {
        header().check(bytes, path)?;
        let file: PredictorFile =
            postcard::from_bytes(&bytes[HEADER_LEN..]).map_err(|e| PredictorError::Decode {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
        file.validate(path)?;
        Ok(file)
    }

    /// The checks of a decoded model: shapes against the config, finite values, the additive
    /// prior and the references. `path` names the model in errors.
    pub fn validate(&self, path: &Path) -> Result<(), PredictorError> {
        let file = self;
        let model = Model::new(file.config.clone())?;
        model.check_params(&file.params)?;
        if !file.params.same_shape(&file.inner_lr) || !file.params.all_finite() {
            return Err(PredictorError::Decode {
                path: path.display().to_string(),
                reason: "the learning rates do not match the weights, or a weight is not finite"
                    .into(),
            });
        }
        if let Some(a) = &file.additive {
            let dim = file.config.input_dim() + 1;
            if a.mean.len() != dim
                || a.basis.iter().any(|b| b.len() != dim)
                || !(0.0..=1.0).contains(&file.blend)
            {
                return Err(PredictorError::Decode {
                    path: path.display().to_string(),
                    reason: "the additive prior does not fit the encoding".into(),
                });
            }
        }
        if file.references.len() != file.config.hw_dim {
            return Err(PredictorError::Decode {
                path: path.display().to_string(),
                reason: format!(
                    "{} reference archs for a hardware embedding of {}",
                    file.references.len(),
                    file.config.hw_dim
                ),
            });
        }
        Ok(())
    }

    pub fn save(&self, path: &Path) -> Result<(), PredictorError> {
        let io = |e| PredictorError::Io {
            path: path.display().to_string(),
            source: e,
        };
        // Written aside and renamed, so that a crash never leaves half a model.
        edgenas_format::write_atomic(path, &self.to_bytes()).map_err(io)
    }

    pub fn load(path: &Path) -> Result<PredictorFile, PredictorError> {
        let bytes = std::fs::read(path).map_err(|e| PredictorError::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        PredictorFile::from_bytes(&bytes, path)
    }

    pub fn learner(&self) -> Result<Learner, PredictorError> {
        Ok(Learner {
            model: Model::new(self.config.clone())?,
            params: self.params.clone(),
            inner_lr: self.inner_lr.clone(),
            inner_steps: self.inner_steps as usize,
            loss: self.loss,
            adaptation: self.adaptation,
            additive: self.additive.clone(),
            blend: self.blend,
        })
    }
}
