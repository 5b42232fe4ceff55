//! NASWOT (Mellor et al., "Neural Architecture Search without Training", ICML 2021): a
//! training-free score computed on the device from one mini-batch of random inputs.
//!
//! Each input gives a binary code: which units after every ReLU-family activation are active.
//! With `K[i][j]` = the number of units where codes `i` and `j` agree, the score is
//! `log |det K|`: networks that separate inputs into distinct linear regions score higher.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::ir::{Network, Op};
use crate::onnx::to_model_proto_with_taps;
use crate::tract_backend::{TractModel, TractOptions};
use crate::RuntimeError;

/// The NASWOT score of `net` over `samples` random inputs (seeded).
pub fn naswot_score(net: &Network, samples: usize, seed: u64) -> Result<f64, RuntimeError> {
    // Values after ReLU, ReLU6 or h-swish (active where the input is positive).
    let taps: Vec<usize> = net
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| matches!(n.op, Op::Relu | Op::Relu6 | Op::HardSwish))
        .map(|(i, _)| i + 1)
        .collect();
    if taps.is_empty() {
        return Err(RuntimeError::InvalidGraph(
            "NASWOT needs ReLU-family activations".into(),
        ));
    }
    let proto = to_model_proto_with_taps(net, seed, &taps);
    let mut model = TractModel::from_proto(&proto, TractOptions { threads: 1, seed })?;
    let n_in: usize = model.input_shape().iter().product();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let mut codes: Vec<Vec<u64>> = Vec::with_capacity(samples);
    let mut units = 0usize;
    for _ in 0..samples {
        let data: Vec<f32> = (0..n_in).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let outputs = model.run_on(&data)?;
        let mut bits = Vec::new();
        let mut count = 0usize;
        for out in &outputs[1..] {
            for &v in out {
                if count.is_multiple_of(64) {
                    bits.push(0u64);
                }
                if v > 0.0 {
                    *bits.last_mut().expect("pushed") |= 1 << (count % 64);
                }
                count += 1;
            }
        }
        units = count;
        codes.push(bits);
    }
    let n = samples;
    let mut k = vec![0.0f64; n * n];
    for i in 0..n {
        for j in i..n {
            let differ: u32 = codes[i]
                .iter()
                .zip(&codes[j])
                .map(|(a, b)| (a ^ b).count_ones())
                .sum();
            let agree = (units as u64 - differ as u64) as f64;
            k[i * n + j] = agree;
            k[j * n + i] = agree;
        }
    }
    Ok(log_abs_det(k, n))
}

/// log |det A| by LU with partial pivoting; -inf for a singular matrix.
pub fn log_abs_det(mut a: Vec<f64>, n: usize) -> f64 {
    let mut log_det = 0.0;
    for c in 0..n {
        let p = (c..n)
            .max_by(|&x, &y| a[x * n + c].abs().total_cmp(&a[y * n + c].abs()))
            .expect("n > 0");
        if a[p * n + c] == 0.0 {
            return f64::NEG_INFINITY;
        }
        if p != c {
            for j in 0..n {
                a.swap(c * n + j, p * n + j);
            }
        }
        let pivot = a[c * n + c];
        log_det += pivot.abs().ln();
        for r in c + 1..n {
            let f = a[r * n + c] / pivot;
            for j in c..n {
                a[r * n + j] -= f * a[c * n + j];
            }
        }
    }
    log_det
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_abs_det_of_known_matrices() {
        // det [[2,1],[1,3]] = 5; det [[0,2],[3,0]] = -6
        assert!((log_abs_det(vec![2.0, 1.0, 1.0, 3.0], 2) - 5f64.ln()).abs() < 1e-12);
        assert!((log_abs_det(vec![0.0, 2.0, 3.0, 0.0], 2) - 6f64.ln()).abs() < 1e-12);
        assert_eq!(log_abs_det(vec![1.0, 2.0, 2.0, 4.0], 2), f64::NEG_INFINITY);
    }
}
