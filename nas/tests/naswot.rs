//! The NASWOT proxy on real networks: it must carry signal about accuracy (the reason a
//! search may use it where no accuracy table exists).

use std::collections::HashMap;
use std::path::PathBuf;

use edgenas_nas::{Arch, Nb201Arch, Space};
use edgenas_runtime::naswot::naswot_score;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn shared_data(file: &str) -> PathBuf {
    let base = std::env::var_os("EDGENAS_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    base.join("data").join(file)
}

fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    for (rank, &i) in idx.iter().enumerate() {
        r[i] = rank as f64;
    }
    r
}

fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let (ra, rb) = (ranks(a), ranks(b));
    let n = a.len() as f64;
    let d2: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - y) * (x - y)).sum();
    1.0 - 6.0 * d2 / (n * (n * n - 1.0))
}

#[test]
fn naswot_ranks_nb201_archs_with_their_accuracy() {
    let text = std::fs::read_to_string(shared_data("nb201_accuracy_natsbench.csv")).unwrap();
    let acc: HashMap<String, f64> = text
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            (c[1].to_string(), c[2].parse().unwrap())
        })
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let (mut scores, mut accs) = (Vec::new(), Vec::new());
    for _ in 0..24 {
        let a = Nb201Arch::sample(&mut rng);
        scores.push(naswot_score(&a.build(), 8, 0).unwrap());
        accs.push(acc[&a.to_string()]);
    }
    let rho = spearman(&scores, &accs);
    eprintln!("NASWOT vs CIFAR-10 accuracy over 24 archs: spearman {rho:.3}");
    assert!(rho > 0.3, "spearman {rho}");
    // Edges from one node share its ReLU in the executed network; each is still a tap.
    let shared = Space::Nb201
        .parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|nor_conv_1x1~0|skip_connect~1|none~2|")
        .unwrap();
    assert!(naswot_score(&shared.build(), 4, 0).unwrap().is_finite());
    // Seeded: the same score twice.
    let a = Space::Fbnet.sample(&mut rng);
    let Arch::Fbnet(_) = a else { unreachable!() };
    let net = a.build();
    assert_eq!(
        naswot_score(&net, 4, 3).unwrap(),
        naswot_score(&net, 4, 3).unwrap()
    );
}
