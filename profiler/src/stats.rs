//! Robust statistics of a latency sample.

use serde::{Deserialize, Serialize};

/// Summary of one sample of latencies, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub runs: usize,
    /// The headline figure.
    pub median_ms: f64,
    pub mean_ms: f64,
    pub std_ms: f64,
    /// Median absolute deviation (unscaled).
    pub mad_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub p10_ms: f64,
    pub p90_ms: f64,
    /// Coefficient of variation, std / mean.
    pub cv: f64,
    /// Runs whose modified z-score exceeds 3.5.
    pub outliers: usize,
    /// Half-width of the distribution-free 95% confidence interval of the median,
    /// relative to the median (0.01 = within 1%).
    pub median_ci_rel: f64,
}

/// Quantile by linear interpolation between order statistics of a sorted slice.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    assert!(!sorted.is_empty(), "quantile of an empty sample");
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Relative half-width of the 95% CI of the median from order statistics:
/// ranks n/2 -+ 1.96 sqrt(n)/2 (binomial normal approximation).
pub fn median_ci_rel(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n < 6 {
        return f64::INFINITY;
    }
    let half = 1.96 * (n as f64).sqrt() / 2.0;
    let lo = ((n as f64 / 2.0 - half).floor().max(0.0)) as usize;
    let hi = ((n as f64 / 2.0 + half).ceil() as usize).min(n - 1);
    let med = quantile(sorted, 0.5);
    if med <= 0.0 {
        return f64::INFINITY;
    }
    (sorted[hi] - sorted[lo]) / 2.0 / med
}

impl Stats {
    /// Statistics of a non-empty sample.
    pub fn of(samples_ms: &[f64]) -> Stats {
        let mut s = samples_ms.to_vec();
        s.sort_by(|a, b| a.total_cmp(b));
        let n = s.len();
        let median = quantile(&s, 0.5);
        let mean = s.iter().sum::<f64>() / n as f64;
        let var = if n > 1 {
            s.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64
        } else {
            0.0
        };
        let mut dev: Vec<f64> = s.iter().map(|x| (x - median).abs()).collect();
        dev.sort_by(|a, b| a.total_cmp(b));
        let mad = quantile(&dev, 0.5);
        // Modified z-score (Iglewicz and Hoaglin): 0.6745 (x - median) / MAD.
        let outliers = if mad > 0.0 {
            s.iter()
                .filter(|&&x| 0.6745 * (x - median).abs() / mad > 3.5)
                .count()
        } else {
            0
        };
        Stats {
            runs: n,
            median_ms: median,
            mean_ms: mean,
            std_ms: var.sqrt(),
            mad_ms: mad,
            min_ms: s[0],
            max_ms: s[n - 1],
            p10_ms: quantile(&s, 0.1),
            p90_ms: quantile(&s, 0.9),
            cv: if mean > 0.0 { var.sqrt() / mean } else { 0.0 },
            outliers,
            median_ci_rel: median_ci_rel(&s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_of_a_known_sample() {
        // 1..=9 plus one far outlier.
        let mut x: Vec<f64> = (1..=9).map(f64::from).collect();
        x.push(100.0);
        let s = Stats::of(&x);
        assert_eq!(s.runs, 10);
        assert_eq!(s.median_ms, 5.5);
        assert_eq!(s.min_ms, 1.0);
        assert_eq!(s.max_ms, 100.0);
        assert!((s.mean_ms - 14.5).abs() < 1e-12);
        // |x - 5.5| sorted: 0.5 0.5 1.5 1.5 2.5 2.5 3.5 3.5 4.5 94.5 -> median 2.5
        assert_eq!(s.mad_ms, 2.5);
        // Only 100 has 0.6745 * |x - 5.5| / 2.5 > 3.5.
        assert_eq!(s.outliers, 1);
        assert!((s.p10_ms - 1.9).abs() < 1e-12);
        assert!((s.p90_ms - 18.1).abs() < 1e-12);
    }

    #[test]
    fn the_median_ci_is_the_order_statistics_interval() {
        // n = 100 of 1..=100: ranks 50 -+ 9.8 -> sorted[40] = 41 and sorted[60] = 61 around a
        // median of 50.5: half-width 10 / 50.5.
        let x: Vec<f64> = (1..=100).map(f64::from).collect();
        assert!((median_ci_rel(&x) - 10.0 / 50.5).abs() < 1e-12);
        // Four times the runs of the same spread halve it: ranks 200 -+ 19.6 -> 181 and 221.
        let x: Vec<f64> = (1..=400).map(|i| f64::from(i) / 4.0).collect();
        assert!((median_ci_rel(&x) - (55.25 - 45.25) / 2.0 / 50.125).abs() < 1e-12);
        assert!(Stats::of(&[1.0, 2.0]).median_ci_rel.is_infinite());
    }
}
