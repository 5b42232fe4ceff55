//! The meta-trained predictors shipped inside the binary (trained by `edgenas predictor
//! meta-train`, committed under `models/`).

use edgenas_nas::Space;

pub fn embedded(space: Space) -> Option<&'static [u8]> {
    match space {
        Space::Nb201 => None,
        Space::Fbnet => None,
        Space::Ofa => None,
    }
}
