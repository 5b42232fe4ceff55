//! Every hand-written gradient against central finite differences, for both encoders and
//! both losses, on every parameter tensor.

use edgenas_predictor::model::loss_and_grad;
use edgenas_predictor::{Config, Encoder, Loss, Model, ParamSet};
use ndarray::Array2;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn small(encoder: Encoder) -> Config {
    Config {
        encoder,
        hidden: 6,
        hw_dim: 3,
        head: 5,
    }
}

fn graph() -> Encoder {
    // A 4-node chain with a skip, 3 features per node.
    let mut adjacency = vec![0.0; 16];
    // (reader, read): node 1 reads node 0, and so on.
    for (i, j) in [(1, 0), (2, 1), (3, 2), (3, 0)] {
        adjacency[i * 4 + j] = 1.0;
    }
    Encoder::Graph {
        nodes: 4,
        features: 3,
        adjacency,
        layers: 3,
    }
}

fn loss_of(model: &Model, p: &ParamSet, x: &Array2<f32>, hw: &[f32], y: &[f32], loss: Loss) -> f64 {
    let pred = model.predict(p, x.view(), hw);
    loss_and_grad(&pred, y, loss).0 as f64
}

fn check(encoder: Encoder, loss: Loss) {
    let model = Model::new(small(encoder)).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let p = model.init_params(&mut rng);
    let batch = 5;
    let dim = model.config().input_dim();
    let x = Array2::from_shape_fn((batch, dim), |_| rng.random_range(0.0f32..1.0));
    let hw: Vec<f32> = (0..3).map(|_| rng.random_range(0.0f32..1.0)).collect();
    let y: Vec<f32> = (0..batch).map(|_| rng.random_range(0.0f32..1.0)).collect();
    let (_, g) = model.loss_grad(&p, x.view(), &hw, &y, loss);

    let eps = 1e-3f32;
    let mut checked = 0;
    for (ti, t) in p.tensors.iter().enumerate() {
        // Every entry of small tensors, a spread of entries of larger ones.
        let step = (t.data.len() / 12).max(1);
        for i in (0..t.data.len()).step_by(step) {
            let mut plus = p.clone();
            plus.tensors[ti].data[i] += eps;
            let mut minus = p.clone();
            minus.tensors[ti].data[i] -= eps;
            let fd = (loss_of(&model, &plus, &x, &hw, &y, loss)
                - loss_of(&model, &minus, &x, &hw, &y, loss))
                / (2.0 * eps as f64);
            let an = g.tensors[ti].data[i] as f64;
            assert!(
                (fd - an).abs() <= 2e-3 + 2e-2 * fd.abs().max(an.abs()),
                "tensor {ti} entry {i}: finite difference {fd}, analytic {an}"
            );
            checked += 1;
        }
    }
    assert!(checked > 50);
    // The gradient is not trivially zero.
    assert!(g
        .tensors
        .iter()
        .any(|t| t.data.iter().any(|v| v.abs() > 1e-4)));
}

#[test]
fn gcn_gradients_match_finite_differences() {
    check(graph(), Loss::Mse);
}

#[test]
fn mlp_gradients_match_finite_differences() {
    check(
        Encoder::Flat {
            features: 7,
            layers: 2,
        },
        Loss::Mse,
    );
}

#[test]
fn ranking_loss_gradients_match_finite_differences() {
    check(graph(), Loss::MseRank { weight: 0.5 });
    check(
        Encoder::Flat {
            features: 7,
            layers: 2,
        },
        Loss::MseRank { weight: 0.5 },
    );
}

#[test]
fn a_gradient_step_lowers_the_loss() {
    let model = Model::new(small(graph())).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut p = model.init_params(&mut rng);
    let x = Array2::from_shape_fn((8, 12), |_| rng.random_range(0.0f32..1.0));
    let hw = [0.2, 0.5, 0.9];
    let y: Vec<f32> = (0..8).map(|i| i as f32 / 8.0).collect();
    let (before, g) = model.loss_grad(&p, x.view(), &hw, &y, Loss::Mse);
    p.add_scaled(-0.05, &g);
    let (after, _) = model.loss_grad(&p, x.view(), &hw, &y, Loss::Mse);
    assert!(after < before, "{after} !< {before}");
}
