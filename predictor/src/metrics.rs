//! Ranking and error metrics of a latency predictor.

/// Ranks (1-based) with ties given their average rank, as scipy's `rankdata` does.
pub fn ranks(v: &[f32]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            r[k] = avg;
        }
        i = j + 1;
    }
    r
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        cov += (x - ma) * (y - mb);
        va += (x - ma) * (x - ma);
        vb += (y - mb) * (y - mb);
    }
    if va == 0.0 || vb == 0.0 {
        return 0.0;
    }
    cov / (va * vb).sqrt()
}

/// Spearman's rank correlation (Pearson over average ranks; 0 when either side is constant).
pub fn spearman(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    pearson(&ranks(a), &ranks(b))
}

/// Kendall's tau-b (accounts for ties on either side).
pub fn kendall_tau_b(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let (mut concordant, mut discordant, mut ties_a, mut ties_b) = (0i64, 0i64, 0i64, 0i64);
    for i in 0..a.len() {
        for j in i + 1..a.len() {
            let da = a[i].total_cmp(&a[j]) as i64;
            let db = b[i].total_cmp(&b[j]) as i64;
            match (da, db) {
                (0, 0) => {}
                (0, _) => ties_a += 1,
                (_, 0) => ties_b += 1,
                _ if da == db => concordant += 1,
                _ => discordant += 1,
            }
        }
    }
    let n1 = (concordant + discordant + ties_a) as f64;
    let n2 = (concordant + discordant + ties_b) as f64;
    if n1 == 0.0 || n2 == 0.0 {
        return 0.0;
    }
    (concordant - discordant) as f64 / (n1 * n2).sqrt()
}

/// Share of predictions within ±`tolerance` (relative) of the truth.
pub fn within(pred: &[f32], truth: &[f32], tolerance: f32) -> f64 {
    assert_eq!(pred.len(), truth.len());
    if pred.is_empty() {
        return 0.0;
    }
    let hits = pred
        .iter()
        .zip(truth)
        .filter(|(p, t)| ((*p - *t) / *t).abs() <= tolerance)
        .count();
    hits as f64 / pred.len() as f64
}

/// The central `level` range of the share of `n` independent figures that fall inside
/// calibrated `nominal` intervals: binomial quantiles, as shares. A coverage measured on `n`
/// archs outside it is evidence that the interval is not calibrated; inside it, a coverage of
/// 84 % is no evidence against a 90 % interval.
pub fn calibrated_coverage_range(n: usize, nominal: f64, level: f64) -> (f64, f64) {
    if n == 0 || !(0.0..=1.0).contains(&nominal) || !(0.0..1.0).contains(&level) {
        return (0.0, 1.0);
    }
    let tail = (1.0 - level) / 2.0;
    // The pmf in log space: exact for the few hundred archs a validation measures.
    let (ln_p, ln_q) = (nominal.ln(), (1.0 - nominal).ln());
    let mut ln_choose = 0.0; // ln C(n, k)
    let mut cdf = 0.0;
    let (mut lo, mut hi) = (None, None);
    for k in 0..=n {
        if k > 0 {
            ln_choose += ((n - k + 1) as f64).ln() - (k as f64).ln();
        }
        let term = |ln: f64, count: usize| if count == 0 { 0.0 } else { count as f64 * ln };
        cdf += (ln_choose + term(ln_p, k) + term(ln_q, n - k)).exp();
        if lo.is_none() && cdf >= tail - 1e-12 {
            lo = Some(k);
        }
        if hi.is_none() && cdf >= 1.0 - tail - 1e-12 {
            hi = Some(k);
        }
    }
    let share = |k: Option<usize>| k.unwrap_or(n) as f64 / n as f64;
    (share(lo), share(hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_average_ties() {
        assert_eq!(ranks(&[10.0, 20.0, 10.0, 5.0]), vec![2.5, 4.0, 2.5, 1.0]);
    }

    #[test]
    fn spearman_of_monotone_and_reversed() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0];
        let b = [1.0, 4.0, 9.0, 16.0, 25.0];
        assert!((spearman(&a, &b) - 1.0).abs() < 1e-12);
        let c = [5.0, 4.0, 3.0, 2.0, 1.0];
        assert!((spearman(&a, &c) + 1.0).abs() < 1e-12);
        // scipy.stats.spearmanr([1,2,3,4,5],[2,1,4,3,5]) = 0.8
        assert!((spearman(&a, &[2.0, 1.0, 4.0, 3.0, 5.0]) - 0.8).abs() < 1e-12);
    }

    #[test]
    fn kendall_matches_scipy_with_ties() {
        // scipy.stats.kendalltau([1,2,2,3],[1,3,2,2]) -> tau-b = 0.4 (tau-b with ties on both sides)
        let t = kendall_tau_b(&[1.0, 2.0, 2.0, 3.0], &[1.0, 3.0, 2.0, 2.0]);
        assert!((t - 0.4).abs() < 1e-12, "{t}");
    }

    #[test]
    fn within_tolerance() {
        assert_eq!(within(&[1.05, 2.5, 3.0], &[1.0, 2.0, 3.0], 0.1), 2.0 / 3.0);
    }

    #[test]
    fn the_coverage_a_calibrated_interval_gives_is_the_binomial_range() {
        // scipy.stats.binom.ppf([0.025, 0.975], n, 0.9): 84 and 95 for 100, 49 and 58 for 60.
        assert_eq!(calibrated_coverage_range(100, 0.9, 0.95), (0.84, 0.95));
        assert_eq!(
            calibrated_coverage_range(60, 0.9, 0.95),
            (49.0 / 60.0, 58.0 / 60.0)
        );
        assert_eq!(calibrated_coverage_range(6, 0.9, 0.95), (4.0 / 6.0, 1.0));
        // A certain interval covers everything; no archs say nothing.
        assert_eq!(calibrated_coverage_range(10, 1.0, 0.95), (1.0, 1.0));
        assert_eq!(calibrated_coverage_range(0, 0.9, 0.95), (0.0, 1.0));
    }
}
