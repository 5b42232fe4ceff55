//! Archs → the predictor's inputs: the cost figures of the network the runtime executes, and
//! the space's encoding (which the meta-learned prior is defined over).

use edgenas_nas::{Arch, Space, COST_FEATURES};
use edgenas_predictor::{AdditivePrior, CostAwarePrior, PredictorFile};

use crate::LoopError;

/// One arch's inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchFeatures {
    /// The executed network's cost figures, the input-dependence flag last.
    pub cost: Vec<f64>,
    pub onehot: Vec<f32>,
    /// The sum of the device's kernel figures over the arch's layers (OFA's interpolated to the
    /// arch's resolution), where they were timed.
    pub kernel_ms: Option<f64>,
}

impl ArchFeatures {
    pub fn of(arch: &Arch) -> ArchFeatures {
        ArchFeatures {
            cost: arch.cost_features(),
            onehot: arch.encode(),
            kernel_ms: None,
        }
    }

    /// Whether the network's output depends on its input (a runtime folds the others).
    pub fn input_dependent(&self) -> bool {
        self.cost.last() == Some(&1.0)
    }

    /// The cost figures the model's rows start from: the executed network's, then the kernel
    /// figure where there is one.
    pub fn costs(&self) -> Vec<f64> {
        let mut c = self.cost.clone();
        c.extend(self.kernel_ms);
        c
    }
}

/// A device's kernel figures ([`edgenas_nas::kernels`]): median milliseconds by kernel id, in
/// the space's kernel order. Empty: the device has none (a space without kernels, an oracle).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct KernelTable {
    pub figures: Vec<(String, f64)>,
}

impl KernelTable {
    pub fn is_empty(&self) -> bool {
        self.figures.is_empty()
    }
}

/// Features of many archs with the device's kernel figures (none where the table is empty).
pub fn features_with(
    archs: &[Arch],
    kernels: &KernelTable,
) -> Result<Vec<ArchFeatures>, LoopError> {
    let mut feats = features_of(archs);
    if kernels.is_empty() {
        return Ok(feats);
    }
    let by_id: std::collections::HashMap<&str, f64> = kernels
        .figures
        .iter()
        .map(|(k, ms)| (k.as_str(), *ms))
        .collect();
    for (f, a) in feats.iter_mut().zip(archs) {
        let mut sum = 0.0;
        for (id, weight) in a.kernel_terms() {
            let ms = by_id.get(id.as_str()).ok_or_else(|| {
                LoopError::Invalid(format!("the device has no figure of the kernel {id} ({a})"))
            })?;
            sum += weight * ms;
        }
        f.kernel_ms = Some(sum);
    }
    Ok(feats)
}

/// Features of many archs. One thread on purpose: threads hang the emulated ARM build
/// under qemu-user (as multithreaded tract does), and a board's other cores are better left
/// to the measurements.
pub fn features_of(archs: &[Arch]) -> Vec<ArchFeatures> {
    archs.iter().map(ArchFeatures::of).collect()
}

/// Bumped whenever what [`ArchFeatures::of`] computes changes (the cache is then rebuilt).
const FEATURES_VERSION: u16 = 2;

#[derive(serde::Serialize, serde::Deserialize)]
struct CachedFeatures {
    binary_version: String,
    cost: Vec<Vec<f64>>,
    onehot: Vec<Vec<f32>>,
}

/// The features of all 15,625 NB201 cells in enumeration order. Building 15,625 networks takes
/// ~0.4 s, so they are computed once and kept in `cache_dir` (when given), in a versioned file
/// that names the binary's version; a file that does not match is rebuilt, never misread.
pub fn nb201_all(cache_dir: Option<&std::path::Path>) -> Vec<ArchFeatures> {
    let header =
        edgenas_format::FileHeader::new(edgenas_format::Kind::FeatureCache, FEATURES_VERSION);
    let version = env!("CARGO_PKG_VERSION");
    let path = cache_dir.map(|d| d.join("nb201.features"));
    if let Some(p) = &path {
        if let Ok(bytes) = std::fs::read(p) {
            if header.check(&bytes, p).is_ok() {
                if let Ok(c) =
                    postcard::from_bytes::<CachedFeatures>(&bytes[edgenas_format::HEADER_LEN..])
                {
                    if c.binary_version == version
                        && c.cost.len() == edgenas_nas::Nb201Arch::COUNT
                        && c.onehot.len() == c.cost.len()
                    {
                        return c
                            .cost
                            .into_iter()
                            .zip(c.onehot)
                            .map(|(cost, onehot)| ArchFeatures {
                                cost,
                                onehot,
                                kernel_ms: None,
                            })
                            .collect();
                    }
                }
            }
        }
    }
    let archs: Vec<Arch> = edgenas_nas::Nb201Arch::all()
        .into_iter()
        .map(Arch::Nb201)
        .collect();
    let feats = features_of(&archs);
    if let Some(p) = &path {
        let cached = CachedFeatures {
            binary_version: version.to_string(),
            cost: feats.iter().map(|f| f.cost.clone()).collect(),
            onehot: feats.iter().map(|f| f.onehot.clone()).collect(),
        };
        if let Ok(body) = postcard::to_stdvec(&cached) {
            let mut bytes = header.encode().to_vec();
            bytes.extend(body);
            // A cache that cannot be written is only slower next time.
            let _ = edgenas_format::write_atomic(p, &bytes);
        }
    }
    feats
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
