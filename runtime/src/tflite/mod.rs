//! TensorFlow Lite: the `.tflite` writer (always built, pure Rust) and, with the `tflite`
//! feature, the backend that runs models through TensorFlow Lite's C library.

pub mod flatbuffer;
mod writer;

#[cfg(feature = "tflite")]
mod capi;

#[cfg(feature = "tflite")]
pub use capi::{library_path, version, TfliteModel, LIBRARY, LIBRARY_ENV};
pub use writer::to_tflite_bytes;
