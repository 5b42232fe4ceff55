//! Archs → the predictor's inputs: the cost figures of the network the runtime executes, and
//! the space's encoding (which the meta-learned prior is defined over).

use edgenas_nas::{Arch, Space, COST_FEATURES};
use edgenas_predictor::{AdditivePrior, CostAwarePrior, PredictorFile};

use crate::LoopError;

/// One arch's inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchFeatures {
    pub cost: Vec<f64>,
    pub onehot: Vec<f32>,
}

impl ArchFeatures {
    pub fn of(arch: &Arch) -> ArchFeatures {
        ArchFeatures {
            cost: arch.cost_features(),
            onehot: arch.encode(),
        }
    }
}

/// Features of many archs, computed on every core (a network is built per arch).
pub fn features_of(archs: &[Arch]) -> Vec<ArchFeatures> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8);
    if archs.len() < 256 || threads == 1 {
        return archs.iter().map(ArchFeatures::of).collect();
    }
    let chunk = archs.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = archs
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(ArchFeatures::of).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("feature threads do not panic"))
            .collect()
    })
}

/// The on-device prior of a space from its shipped (or given) predictor file.
pub fn prior_for(space: Space, file: &PredictorFile) -> Result<CostAwarePrior, LoopError> {
    if file.space != space.name() {
        return Err(LoopError::Invalid(format!(
            "the predictor model is for the {} space, not {}",
            file.space,
            space.name()
        )));
    }
    let onehot_dim = space.references()[0].encode().len();
    let additive: Option<&AdditivePrior> = file.additive.as_ref();
    // The last cost figure says whether the output depends on the input.
    Ok(CostAwarePrior::new(
        additive,
        onehot_dim,
        COST_FEATURES,
        Some(COST_FEATURES - 1),
    )?)
}
