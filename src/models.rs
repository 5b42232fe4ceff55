//! The meta-trained predictors shipped inside the binary: `models/*.predictor`, written by
//! `models/train.sh` (`edgenas predictor meta-train` with HELP's device splits), stored compactly
//! by build.rs (`edgenas_predictor::compact`: weights rounded to f16's precision, as byte planes,
//! deflated) and decoded when used.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use edgenas_nas::Space;
use edgenas_predictor::{compact, PredictorFile};

fn packed(space: Space) -> &'static [u8] {
    match space {
        Space::Nb201 => include_bytes!(concat!(env!("OUT_DIR"), "/nb201.predictor.deflate")),
        Space::Fbnet => include_bytes!(concat!(env!("OUT_DIR"), "/fbnet.predictor.deflate")),
        Space::Ofa => include_bytes!(concat!(env!("OUT_DIR"), "/ofa.predictor.deflate")),
    }
}

/// The shipped model of `space` (`models/*.predictor` with rounded weights), validated.
pub fn embedded(space: Space) -> Result<PredictorFile> {
    let name = format!("<embedded {} model>", space.name());
    let mut bytes = Vec::new();
    flate2::read::DeflateDecoder::new(packed(space))
        .read_to_end(&mut bytes)
        .with_context(|| format!("{name}: the compressed model is damaged"))?;
    Ok(compact::decode(&bytes, Path::new(&name))?)
}
