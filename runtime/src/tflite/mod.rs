//! TensorFlow Lite: the `.tflite` writer (always built, pure Rust) and, with the `tflite`
//! feature, the backend that runs models through TensorFlow Lite's C library.

pub mod flatbuffer;
mod writer;

#[cfg(feature = "tflite")]
mod capi;

#[cfg(feature = "tflite")]
pub use capi::{delegates, library_path, version, TfliteModel, LIBRARY, LIBRARY_ENV};
pub use writer::{to_tflite_bytes, to_tflite_int8_bytes};

/// NCHW values (`dims` = [n, c, h, w]) reordered as NHWC, TensorFlow Lite's activation layout.
pub fn nchw_to_nhwc(x: &[f32], [n, c, h, w]: [usize; 4]) -> Vec<f32> {
    let mut out = vec![0.0; x.len()];
    for b in 0..n {
        for ch in 0..c {
            for y in 0..h {
                for col in 0..w {
                    out[((b * h + y) * w + col) * c + ch] = x[((b * c + ch) * h + y) * w + col];
                }
            }
        }
    }
    out
}
