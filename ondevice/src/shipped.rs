//! The meta-trained predictors shipped inside the binary: `models/*.predictor`, written by
//! `models/train.sh` (`edgenas predictor meta-train` with HELP's device splits), stored compactly
//! by build.rs (`edgenas_predictor::compact`: weights rounded to f16's precision, as byte planes,
//! deflated) and decoded when used.

use std::io::Read;
use std::path::Path;

use edgenas_nas::Space;
use edgenas_predictor::{compact, PredictorFile};

use crate::LoopError;

fn packed(space: Space) -> &'static [u8] {
    match space {
        Space::Nb201 => include_bytes!(concat!(env!("OUT_DIR"), "/nb201.predictor.deflate")),
        Space::Fbnet => include_bytes!(concat!(env!("OUT_DIR"), "/fbnet.predictor.deflate")),
        Space::Ofa => include_bytes!(concat!(env!("OUT_DIR"), "/ofa.predictor.deflate")),
    }
}

/// The shipped model of `space` (`models/*.predictor` with rounded weights), validated.
pub fn embedded(space: Space) -> Result<PredictorFile, LoopError> {
    let name = format!("<embedded {} model>", space.name());
    let mut bytes = Vec::new();
    flate2::read::DeflateDecoder::new(packed(space))
        .read_to_end(&mut bytes)
        .map_err(|e| LoopError::Corrupt {
            path: name.clone(),
            reason: format!("the compressed model is damaged: {e}"),
        })?;
    Ok(compact::decode(&bytes, Path::new(&name))?)
}

/// The model a command uses: `--model FILE`, else the one shipped in the binary; refused when
/// it is another space's or was trained with other reference archs.
pub fn load(space: Space, path: Option<&Path>) -> Result<PredictorFile, LoopError> {
    let file = match path {
        Some(p) => PredictorFile::load(p)?,
        None => embedded(space)?,
    };
    if file.space != space.name() {
        return Err(LoopError::Invalid(format!(
            "the model is a {} predictor, not a {} one",
            file.space,
            space.name()
        )));
    }
    let refs: Vec<String> = space.references().iter().map(|r| r.to_string()).collect();
    if file.references != refs {
        return Err(LoopError::Invalid(format!(
            "the model was trained with other reference archs than this edgenas uses for {}",
            space.name()
        )));
    }
    Ok(file)
}
