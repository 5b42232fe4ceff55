//! Stores the shipped predictors compactly: `edgenas_predictor::compact` rounds every weight to
//! 11 significant bits (what an f16 keeps) and lays the values out as byte planes, then this
//! deflates them: ~2.9 MB of models become ~1.1 MB in the binary. `tests/predictor.rs` checks
//! the compact models rank as the full ones do (Spearman equal to 3 decimals).

use std::io::Write;
use std::path::{Path, PathBuf};

use edgenas_predictor::{compact, PredictorFile};

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for space in ["nb201", "fbnet", "ofa"] {
        let path = Path::new("../models").join(format!("{space}.predictor"));
        println!("cargo:rerun-if-changed={}", path.display());
        let bytes = std::fs::read(&path).expect("models/*.predictor are in the checkout");
        let file = PredictorFile::from_bytes(&bytes, &path).expect("a valid shipped model");
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&compact::encode(&file)).expect("in memory");
        let packed = z.finish().expect("in memory");
        std::fs::write(out.join(format!("{space}.predictor.deflate")), packed)
            .expect("OUT_DIR is writable");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
