//! Stores the shipped predictors compactly: every weight rounded to 11 significant bits (what
//! an f16 keeps; the exponent stays f32's, so nothing overflows), then deflated. The rounded
//! low bits are zeros, which deflate packs away: ~2.9 MB of models become about a third of it
//! in the binary. `tests/predictor.rs` checks the compact models rank as the full ones do
//! (Spearman equal to 3 decimals).

use std::io::Write;
use std::path::{Path, PathBuf};

use edgenas_predictor::file::PredictorFile;

/// Rounds `x` to 10 mantissa bits (f16's), to nearest with ties to even.
fn round_mantissa(x: f32) -> f32 {
    if !x.is_finite() {
        return x;
    }
    let bits = x.to_bits();
    let lsb = (bits >> 13) & 1;
    let rounded = bits.wrapping_add(0x0FFF + lsb) & !0x1FFF;
    let y = f32::from_bits(rounded);
    // Rounding up out of the largest finite exponent would make an infinity: keep the value.
    if y.is_finite() {
        y
    } else {
        x
    }
}

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for space in ["nb201", "fbnet", "ofa"] {
        let path = Path::new("models").join(format!("{space}.predictor"));
        println!("cargo:rerun-if-changed={}", path.display());
        let bytes = std::fs::read(&path).expect("models/*.predictor are in the checkout");
        let mut file = PredictorFile::from_bytes(&bytes, &path).expect("a valid shipped model");
        for set in [&mut file.params, &mut file.inner_lr] {
            for t in &mut set.tensors {
                for v in &mut t.data {
                    *v = round_mantissa(*v);
                }
            }
        }
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&file.to_bytes()).expect("in memory");
        let compact = z.finish().expect("in memory");
        std::fs::write(out.join(format!("{space}.predictor.deflate")), compact)
            .expect("OUT_DIR is writable");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
