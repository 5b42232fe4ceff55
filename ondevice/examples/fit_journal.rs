//! Developer tool: how well do the cost features explain the latencies this machine's journal
//! holds? Fits ridge regressions with k-fold cross-validation over every interleaved NB201
//! measurement of one Fingerprint.
//! `cargo run --release -p edgenas-ondevice --example fit_journal -- JOURNAL`

use edgenas_nas::{Arch, Space};
use edgenas_ondevice::features::features_of;
use edgenas_predictor::metrics::spearman;

/// A design-row maker.
type Design = Box<dyn Fn(&edgenas_ondevice::features::ArchFeatures) -> Vec<f64>>;

fn ridge(x: &[Vec<f64>], y: &[f64], lambda: f64) -> Vec<f64> {
    let d = x[0].len();
    let mut a = vec![0.0; d * d];
    let mut b = vec![0.0; d];
    for (r, yi) in x.iter().zip(y) {
        for i in 0..d {
            b[i] += r[i] * yi;
            for j in 0..d {
                a[i * d + j] += r[i] * r[j];
            }
        }
    }
    for i in 0..d {
        a[i * d + i] += lambda;
    }
    let l = edgenas_predictor::linalg::cholesky(&a, d).expect("spd");
    edgenas_predictor::linalg::chol_solve(&l, d, b)
}

fn main() {
    let path = std::env::args().nth(1).expect("JOURNAL");
    let j = edgenas_profiler::read_measurements(std::path::Path::new(&path)).expect("journal");
    let mut seen = std::collections::HashMap::new();
    for m in j.records().expect("records decode") {
        if m.space == "nb201" && m.sample.rounds.is_some() {
            seen.insert(m.subject.clone(), m.stats().median_ms);
        }
    }
    let archs: Vec<Arch> = seen
        .keys()
        .map(|s| Space::Nb201.parse(s).unwrap())
        .collect();
    let y: Vec<f64> = archs.iter().map(|a| seen[&a.to_string()]).collect();
    let feats = features_of(&archs);
    println!("{} archs", archs.len());
    let kinds: Vec<(&str, Design)> = vec![
        (
            "cost",
            Box::new(|f| {
                let mut v: Vec<f64> = f.cost.iter().map(|c| c / 1e6).collect();
                v.push(1.0);
                v
            }),
        ),
        (
            "onehot",
            Box::new(|f| {
                let mut v: Vec<f64> = f.onehot.iter().map(|&c| c as f64).collect();
                v.push(1.0);
                v
            }),
        ),
        (
            "both",
            Box::new(|f| {
                let mut v: Vec<f64> = f.cost.iter().map(|c| c / 1e6).collect();
                v.extend(f.onehot.iter().map(|&c| c as f64));
                v.push(1.0);
                v
            }),
        ),
    ];
    for (name, make) in &kinds {
        let x: Vec<Vec<f64>> = feats.iter().map(make).collect();
        for lambda in [1e-3, 1e-1, 10.0] {
            let k = 5;
            let mut pred = vec![0.0; x.len()];
            for fold in 0..k {
                let tr: Vec<usize> = (0..x.len()).filter(|i| i % k != fold).collect();
                let xs: Vec<Vec<f64>> = tr.iter().map(|&i| x[i].clone()).collect();
                let ys: Vec<f64> = tr.iter().map(|&i| y[i]).collect();
                let w = ridge(&xs, &ys, lambda);
                for i in (0..x.len()).filter(|i| i % k == fold) {
                    pred[i] = x[i].iter().zip(&w).map(|(a, b)| a * b).sum();
                }
            }
            let p: Vec<f32> = pred.iter().map(|&v| v as f32).collect();
            let t: Vec<f32> = y.iter().map(|&v| v as f32).collect();
            println!(
                "{name:<8} lambda {lambda:<6} 5-fold CV spearman {:.3}",
                spearman(&p, &t)
            );
        }
    }
}
