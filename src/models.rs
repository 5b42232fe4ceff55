//! The meta-trained predictors shipped inside the binary: `models/*.predictor`, written by
//! `models/train.sh` (`edgenas predictor meta-train` with HELP's device splits), stored compactly
//! by build.rs (weights rounded to f16's precision, deflated) and inflated when used.

use std::io::Read;

use edgenas_nas::Space;

fn compact(space: Space) -> &'static [u8] {
    match space {
        Space::Nb201 => include_bytes!(concat!(env!("OUT_DIR"), "/nb201.predictor.deflate")),
        Space::Fbnet => include_bytes!(concat!(env!("OUT_DIR"), "/fbnet.predictor.deflate")),
        Space::Ofa => include_bytes!(concat!(env!("OUT_DIR"), "/ofa.predictor.deflate")),
    }
}

/// The shipped model file of `space` (its bytes, as `models/*.predictor` with rounded weights).
pub fn embedded(space: Space) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    flate2::read::DeflateDecoder::new(compact(space))
        .read_to_end(&mut bytes)
        .ok()?;
    Some(bytes)
}
