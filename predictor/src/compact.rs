//! The compact form of a predictor file, for the models shipped inside the binary.
//!
//! Every weight and learning rate is rounded to 11 significant bits (what an f16 keeps; the
//! exponent stays f32's, so nothing overflows), which leaves its low 13 bits zero. The values
//! are then stored as byte planes: all the sign-and-exponent bytes, then all the high mantissa
//! bytes, then the 3 bits of the third byte. Each plane is uniform in kind, so the deflate the
//! build applies afterwards packs it far better than interleaved f32s (1.38 MB of deflated
//! f32s became ~1.1 MB for the three shipped models). Nothing about the model is lost beyond
//! the rounding: decoding validates the result as [`PredictorFile::from_bytes`] does.
//!
//! Layout: `EDGENAS-COMPACT-PREDICTOR` `u16` version, `u32` length and the postcard of the file
//! with its tensors emptied, `u32` value count, then the three planes.

use std::path::Path;

use crate::file::PredictorFile;
use crate::PredictorError;

const MAGIC: &[u8] = b"EDGENAS-COMPACT-PREDICTOR";
const VERSION: u16 = 1;
/// The low bits every stored value has as zeros (23 mantissa bits - 10 kept).
const DROPPED_BITS: u32 = 13;
const DROPPED_MASK: u32 = (1 << DROPPED_BITS) - 1;

/// Rounds `x` to 10 mantissa bits (f16's), to nearest with ties to even.
pub fn round_mantissa(x: f32) -> f32 {
    if !x.is_finite() {
        return x;
    }
    let bits = x.to_bits();
    let lsb = (bits >> DROPPED_BITS) & 1;
    let rounded = bits.wrapping_add((DROPPED_MASK >> 1) + lsb) & !DROPPED_MASK;
    let y = f32::from_bits(rounded);
    // Rounding up out of the largest finite exponent would make an infinity: keep the value,
    // with its low bits dropped so that it still fits the planes.
    if y.is_finite() {
        y
    } else {
        f32::from_bits(bits & !DROPPED_MASK)
    }
}

/// `file`'s compact bytes (its weights and learning rates rounded).
pub fn encode(file: &PredictorFile) -> Vec<u8> {
    let mut skeleton = file.clone();
    let mut values = Vec::new();
    for set in [&mut skeleton.params, &mut skeleton.inner_lr] {
        for t in &mut set.tensors {
            values.extend(t.data.drain(..).map(round_mantissa));
        }
    }
    let header = postcard::to_allocvec(&skeleton).expect("a predictor always serialises");
    let mut out = Vec::with_capacity(MAGIC.len() + 10 + header.len() + 3 * values.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for shift in [24, 16, 8] {
        out.extend(values.iter().map(|v| (v.to_bits() >> shift) as u8));
    }
    out
}

/// Decodes compact bytes back into a validated predictor file; `name` names them in errors.
pub fn decode(bytes: &[u8], name: &Path) -> Result<PredictorFile, PredictorError> {
    let bad = |reason: String| PredictorError::Decode {
        path: name.display().to_string(),
        reason,
    };
    let mut rest = bytes
        .strip_prefix(MAGIC)
        .ok_or_else(|| bad("not a compact predictor".into()))?;
    let version = u16::from_le_bytes(take(&mut rest, 2).map_err(&bad)?.try_into().unwrap());
    if version != VERSION {
        return Err(bad(format!(
            "compact predictor version {version}; this build reads version {VERSION}"
        )));
    }
    let header_len = read_u32(&mut rest).map_err(&bad)? as usize;
    let header = take(&mut rest, header_len).map_err(&bad)?;
    let mut file: PredictorFile =
        postcard::from_bytes(header).map_err(|e| bad(format!("header: {e}")))?;
    let count = read_u32(&mut rest).map_err(&bad)? as usize;
    if rest.len() != count.saturating_mul(3) {
        return Err(bad(format!(
            "{} bytes of weights for {count} values",
            rest.len()
        )));
    }
    let (high, rest) = rest.split_at(count);
    let (mid, low) = rest.split_at(count);
    let mut values = (0..count).map(|i| {
        f32::from_bits(
            (u32::from(high[i]) << 24) | (u32::from(mid[i]) << 16) | (u32::from(low[i]) << 8),
        )
    });
    for set in [&mut file.params, &mut file.inner_lr] {
        for t in &mut set.tensors {
            let n = t.rows.checked_mul(t.cols).filter(|&n| n <= count);
            let n = n.ok_or_else(|| bad(format!("a {}x{} tensor", t.rows, t.cols)))?;
            t.data = values.by_ref().take(n).collect();
            if t.data.len() != n {
                return Err(bad(format!("{count} values are too few for the tensors")));
            }
        }
    }
    if values.next().is_some() {
        return Err(bad(format!(
            "{count} values are more than the tensors hold"
        )));
    }
    // The full checks of a model file (shapes against the config, finite values, references).
    file.validate(name)?;
    Ok(file)
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if rest.len() < n {
        return Err("truncated".into());
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

fn read_u32(rest: &mut &[u8]) -> Result<u32, String> {
    Ok(u32::from_le_bytes(take(rest, 4)?.try_into().unwrap()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_keeps_eleven_significant_bits_and_clears_the_rest() {
        for x in [1.0f32, -2.718_3e3, 1e-30, 6.5e4, 3.0e38, -0.0] {
            let y = round_mantissa(x);
            assert_eq!(y.to_bits() & 0x1FFF, 0, "{x}");
            assert!(
                ((y - x) / x).abs() <= 1.0 / 2048.0 || x == 0.0,
                "{x} -> {y}"
            );
        }
        // Rounding up out of the largest exponent would be infinite: the value is truncated.
        let y = round_mantissa(f32::MAX);
        assert!(y.is_finite() && y.to_bits() & 0x1FFF == 0 && y < f32::MAX);
        // Ties go to even: 1 + 2^-11 sits halfway between 1 and 1 + 2^-10.
        assert_eq!(round_mantissa(1.0 + 1.0 / 2048.0), 1.0);
        assert_eq!(round_mantissa(1.0 + 3.0 / 2048.0), 1.0 + 2.0 / 1024.0);
    }

    #[test]
    fn a_shipped_model_round_trips_with_only_its_values_rounded() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/nb201.predictor");
        let full = PredictorFile::load(&path).unwrap();
        let bytes = encode(&full);
        let back = decode(&bytes, &path).unwrap();
        let mut rounded = full.clone();
        for set in [&mut rounded.params, &mut rounded.inner_lr] {
            for t in &mut set.tensors {
                t.data.iter_mut().for_each(|v| *v = round_mantissa(*v));
            }
        }
        assert_eq!(back, rounded);
        assert_ne!(back.params, full.params, "the values are rounded");
        // Encoding what was decoded changes nothing: the rounding is idempotent.
        assert_eq!(encode(&back), bytes);
        // Cutting the planes short is caught.
        assert!(decode(&bytes[..bytes.len() - 1], &path).is_err());
    }

    #[test]
    fn truncated_or_foreign_bytes_are_refused_not_panicked_on() {
        let name = Path::new("embedded");
        assert!(decode(b"", name).is_err());
        assert!(decode(b"EDGENAS-COMPACT-PREDICTOR\x01", name).is_err());
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&bytes, name).is_err());
    }
}
