//! The small dense linear algebra the Bayesian models share: row-major symmetric
//! positive-definite solves by Cholesky, and dot products. One module, so that the models
//! (`additive`, `costaware`, `meta`) import it rather than each other.

/// The dot product of two equally long vectors.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Lower Cholesky factor of a symmetric positive-definite row-major matrix.
pub fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for j in 0..n {
        let mut dsum = a[j * n + j];
        for m in 0..j {
            dsum -= l[j * n + m] * l[j * n + m];
        }
        if dsum.is_nan() || dsum <= 0.0 {
            return None;
        }
        let dj = dsum.sqrt();
        l[j * n + j] = dj;
        for i in j + 1..n {
            let mut v = a[i * n + j];
            for m in 0..j {
                v -= l[i * n + m] * l[j * n + m];
            }
            l[i * n + j] = v / dj;
        }
    }
    Some(l)
}

/// Solves `L Lᵀ x = b`.
pub fn chol_solve(l: &[f64], n: usize, mut b: Vec<f64>) -> Vec<f64> {
    for i in 0..n {
        for m in 0..i {
            b[i] -= l[i * n + m] * b[m];
        }
        b[i] /= l[i * n + i];
    }
    for i in (0..n).rev() {
        for m in i + 1..n {
            b[i] -= l[m * n + i] * b[m];
        }
        b[i] /= l[i * n + i];
    }
    b
}

/// Solves K a = r for a symmetric positive definite K (Cholesky); None if K is not.
pub fn solve_spd(k: Vec<f64>, n: usize, r: Vec<f64>) -> Option<Vec<f64>> {
    let l = cholesky(&k, n)?;
    Some(chol_solve(&l, n, r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves() {
        let a = vec![4.0, 2.0, 2.0, 3.0];
        let l = cholesky(&a, 2).unwrap();
        let x = chol_solve(&l, 2, vec![2.0, 1.0]);
        assert!((4.0 * x[0] + 2.0 * x[1] - 2.0).abs() < 1e-12);
        assert!((2.0 * x[0] + 3.0 * x[1] - 1.0).abs() < 1e-12);
        assert!(cholesky(&[1.0, 2.0, 2.0, 1.0], 2).is_none());
    }
}
