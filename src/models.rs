//! The meta-trained predictors shipped inside the binary: `models/*.predictor`, written by
//! `models/train.sh` (`edgenas predictor meta-train` with HELP's device splits).

use edgenas_nas::Space;

pub fn embedded(space: Space) -> Option<&'static [u8]> {
    Some(match space {
        Space::Nb201 => include_bytes!("../models/nb201.predictor"),
        Space::Fbnet => include_bytes!("../models/fbnet.predictor"),
        Space::Ofa => include_bytes!("../models/ofa.predictor"),
    })
}
