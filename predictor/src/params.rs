//! A model's parameters as a list of matrices (biases are 1×n rows), with the few whole-set
//! operations that meta-learning needs: Meta-SGD's inner step is `θ - α ⊙ g`, and first-order
//! MAML is cloning the set.

use ndarray::Array2;
use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamSet {
    pub tensors: Vec<Tensor>,
}

/// One parameter matrix, stored flat so that the model file stays a plain postcard value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tensor {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

impl Tensor {
    pub fn zeros(rows: usize, cols: usize) -> Tensor {
        Tensor {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    pub fn view(&self) -> ndarray::ArrayView2<'_, f32> {
        ndarray::ArrayView2::from_shape((self.rows, self.cols), &self.data).expect("tensor shape")
    }

    pub fn view_mut(&mut self) -> ndarray::ArrayViewMut2<'_, f32> {
        ndarray::ArrayViewMut2::from_shape((self.rows, self.cols), &mut self.data)
            .expect("tensor shape")
    }

    pub fn from_array(a: Array2<f32>) -> Tensor {
        let (rows, cols) = a.dim();
        let data = if a.is_standard_layout() {
            a.into_raw_vec_and_offset().0
        } else {
            a.iter().copied().collect()
        };
        Tensor { rows, cols, data }
    }
}

impl ParamSet {
    /// PyTorch's default `nn.Linear` initialisation: U(-1/√fan_in, 1/√fan_in) for weight and bias.
    pub fn linear_init(shapes: &[(usize, usize)], rng: &mut impl Rng) -> ParamSet {
        let mut tensors = Vec::with_capacity(shapes.len() * 2);
        for &(fan_in, fan_out) in shapes {
            let bound = 1.0 / (fan_in as f32).sqrt();
            let mut w = Tensor::zeros(fan_in, fan_out);
            w.data
                .iter_mut()
                .for_each(|v| *v = rng.random_range(-bound..bound));
            let mut b = Tensor::zeros(1, fan_out);
            b.data
                .iter_mut()
                .for_each(|v| *v = rng.random_range(-bound..bound));
            tensors.push(w);
            tensors.push(b);
        }
        ParamSet { tensors }
    }

    pub fn zeros_like(&self) -> ParamSet {
        self.filled_like(0.0)
    }

    pub fn filled_like(&self, value: f32) -> ParamSet {
        ParamSet {
            tensors: self
                .tensors
                .iter()
                .map(|t| Tensor {
                    rows: t.rows,
                    cols: t.cols,
                    data: vec![value; t.data.len()],
                })
                .collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.tensors.iter().map(|t| t.data.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn same_shape(&self, other: &ParamSet) -> bool {
        self.tensors.len() == other.tensors.len()
            && self.tensors.iter().zip(&other.tensors).all(|(a, b)| {
                a.rows == b.rows && a.cols == b.cols && a.data.len() == a.rows * a.cols
            })
    }

    fn zip_mut(&mut self, other: &ParamSet, mut f: impl FnMut(&mut f32, f32)) {
        for (a, b) in self.tensors.iter_mut().zip(&other.tensors) {
            for (x, &y) in a.data.iter_mut().zip(&b.data) {
                f(x, y);
            }
        }
    }

    /// self += k · other
    pub fn add_scaled(&mut self, k: f32, other: &ParamSet) {
        self.zip_mut(other, |x, y| *x += k * y);
    }

    /// self -= lr ⊙ grad (Meta-SGD's inner step with a learning rate per parameter).
    pub fn sub_elementwise(&mut self, lr: &ParamSet, grad: &ParamSet) {
        for ((p, a), g) in self.tensors.iter_mut().zip(&lr.tensors).zip(&grad.tensors) {
            for ((p, &a), &g) in p.data.iter_mut().zip(&a.data).zip(&g.data) {
                *p -= a * g;
            }
        }
    }

    /// self += k · (a ⊙ b)
    pub fn add_product(&mut self, k: f32, a: &ParamSet, b: &ParamSet) {
        for ((s, x), y) in self.tensors.iter_mut().zip(&a.tensors).zip(&b.tensors) {
            for ((s, &x), &y) in s.data.iter_mut().zip(&x.data).zip(&y.data) {
                *s += k * x * y;
            }
        }
    }

    pub fn scale(&mut self, k: f32) {
        self.tensors
            .iter_mut()
            .for_each(|t| t.data.iter_mut().for_each(|v| *v *= k));
    }

    pub fn clamp(&mut self, lo: f32, hi: f32) {
        self.tensors
            .iter_mut()
            .for_each(|t| t.data.iter_mut().for_each(|v| *v = v.clamp(lo, hi)));
    }

    pub fn norm(&self) -> f32 {
        self.tensors
            .iter()
            .flat_map(|t| &t.data)
            .map(|v| v * v)
            .sum::<f32>()
            .sqrt()
    }

    /// Scales the set down to norm `max` when it is longer.
    pub fn clip_norm(&mut self, max: f32) {
        let n = self.norm();
        if n > max {
            self.scale(max / n);
        }
    }

    pub fn all_finite(&self) -> bool {
        self.tensors
            .iter()
            .all(|t| t.data.iter().all(|v| v.is_finite()))
    }
}

/// Adam over a [`ParamSet`] (the outer, meta-level optimiser).
#[derive(Debug, Clone)]
pub struct Adam {
    pub lr: f32,
    m: ParamSet,
    v: ParamSet,
    t: i32,
}

impl Adam {
    const B1: f32 = 0.9;
    const B2: f32 = 0.999;
    const EPS: f32 = 1e-8;

    pub fn new(like: &ParamSet, lr: f32) -> Adam {
        Adam {
            lr,
            m: like.zeros_like(),
            v: like.zeros_like(),
            t: 0,
        }
    }

    pub fn step(&mut self, params: &mut ParamSet, grad: &ParamSet) {
        self.t += 1;
        let c1 = 1.0 - Self::B1.powi(self.t);
        let c2 = 1.0 - Self::B2.powi(self.t);
        let lr = self.lr;
        for (((p, m), v), g) in params
            .tensors
            .iter_mut()
            .zip(&mut self.m.tensors)
            .zip(&mut self.v.tensors)
            .zip(&grad.tensors)
        {
            for i in 0..p.data.len() {
                let gi = g.data[i];
                m.data[i] = Self::B1 * m.data[i] + (1.0 - Self::B1) * gi;
                v.data[i] = Self::B2 * v.data[i] + (1.0 - Self::B2) * gi * gi;
                let mh = m.data[i] / c1;
                let vh = v.data[i] / c2;
                p.data[i] -= lr * mh / (vh.sqrt() + Self::EPS);
            }
        }
    }
}
