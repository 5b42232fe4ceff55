//! One device's latencies prepared as HELP does: normalised by the device's own reference
//! measurements, trimmed pools for support samples and for the query.

use std::ops::Range;

use rand::seq::SliceRandom;
use rand::Rng;

use crate::PredictorError;

/// Share of [0, 1] that the reference range is mapped onto (HELP's `portion`): the fastest
/// reference maps to 0.05, the slowest to 0.95.
pub const PORTION: f32 = 0.9;

/// Maps milliseconds to the normalised scale the predictor works in, and back.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Normalizer {
    pub min_ms: f32,
    pub max_ms: f32,
}

impl Normalizer {
    /// From the reference measurements; refuses a set with no spread.
    pub fn from_references(refs_ms: &[f32]) -> Result<Normalizer, PredictorError> {
        let min_ms = refs_ms.iter().copied().fold(f32::INFINITY, f32::min);
        let max_ms = refs_ms.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if refs_ms.is_empty() || max_ms <= min_ms || !min_ms.is_finite() || !max_ms.is_finite() {
            return Err(PredictorError::Degenerate(format!(
                "the reference latencies have no spread (min {min_ms} ms, max {max_ms} ms)"
            )));
        }
        Ok(Normalizer { min_ms, max_ms })
    }

    pub fn normalize(&self, ms: f32) -> f32 {
        (ms - self.min_ms) / (self.max_ms - self.min_ms) * PORTION + (1.0 - PORTION) / 2.0
    }

    pub fn to_ms(&self, y: f32) -> f32 {
        (y - (1.0 - PORTION) / 2.0) / PORTION * (self.max_ms - self.min_ms) + self.min_ms
    }
}

/// A device as a meta-learning task.
#[derive(Debug, Clone)]
pub struct Device {
    pub name: String,
    /// Latency of every table row, ms.
    pub latency_ms: Vec<f32>,
    /// Normalised latency of every table row.
    pub y: Vec<f32>,
    /// Rows of the reference archs, in embedding order.
    pub refs: Vec<usize>,
    /// The hardware embedding: normalised latencies of `refs`.
    pub hw: Vec<f32>,
    pub norm: Normalizer,
    /// Rows support samples are drawn from (trimmed to the 10-90% quantile of the device).
    pub train_pool: Vec<usize>,
    /// Rows the predictor is scored on (trimmed likewise).
    pub query_pool: Vec<usize>,
}

/// HELP's pools: NB201 trains on the first 900 indices, FBNet and OFA on the first 4000; the
/// next 1000 are the query.
#[derive(Debug, Clone)]
pub struct Pools {
    pub train: Range<usize>,
    pub query: Range<usize>,
}

impl Pools {
    pub fn help(train_size: usize, rows: usize) -> Result<Pools, PredictorError> {
        let query = train_size..train_size + 1000;
        if rows < query.end {
            return Err(PredictorError::Empty(format!(
                "HELP's protocol needs {} rows (train pool {train_size} + query pool 1000); the table has {rows}",
                query.end
            )));
        }
        Ok(Pools {
            train: 0..train_size,
            query,
        })
    }

    /// Every row is training material (meta-training devices).
    /// HELP's train-pool size for a model with `encoder`: 900 rows for NB201's graph
    /// encoding, 4,000 for the flat ones (FBNet, OFA); the query pool is the next 1,000 rows.
    pub fn help_train_size(encoder: &crate::model::Encoder) -> usize {
        match encoder {
            crate::model::Encoder::Graph { .. } => 900,
            crate::model::Encoder::Flat { .. } => 4000,
        }
    }

    pub fn all_train(rows: usize) -> Pools {
        Pools {
            train: 0..rows,
            query: rows..rows,
        }
    }
}

impl Device {
    pub fn new(
        name: &str,
        latency_ms: &[f32],
        refs: &[usize],
        pools: &Pools,
    ) -> Result<Device, PredictorError> {
        if let Some(&r) = refs.iter().find(|&&r| r >= latency_ms.len()) {
            return Err(PredictorError::Empty(format!(
                "reference row {r} is not in the table"
            )));
        }
        let refs_ms: Vec<f32> = refs.iter().map(|&r| latency_ms[r]).collect();
        let norm = Normalizer::from_references(&refs_ms)
            .map_err(|e| PredictorError::Degenerate(format!("device {name}: {e}")))?;
        let y: Vec<f32> = latency_ms.iter().map(|&v| norm.normalize(v)).collect();
        let hw = refs.iter().map(|&r| y[r]).collect();
        Ok(Device {
            name: name.to_string(),
            latency_ms: latency_ms.to_vec(),
            y,
            refs: refs.to_vec(),
            hw,
            norm,
            train_pool: trimmed(latency_ms, pools.train.clone()),
            query_pool: trimmed(latency_ms, pools.query.clone()),
        })
    }
}

/// Rows of `range` whose latency lies within the range's 10% and 90% quantiles (inclusive,
/// numpy's linear interpolation).
pub fn trimmed(latency: &[f32], range: Range<usize>) -> Vec<usize> {
    if range.is_empty() {
        return Vec::new();
    }
    let mut v: Vec<f32> = latency[range.clone()].to_vec();
    v.sort_by(f32::total_cmp);
    let (lo, hi) = (quantile(&v, 0.1), quantile(&v, 0.9));
    range
        .filter(|&r| latency[r] >= lo && latency[r] <= hi)
        .collect()
}

fn quantile(sorted: &[f32], q: f64) -> f32 {
    let pos = q * (sorted.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos - pos.floor());
    let next = sorted[(i + 1).min(sorted.len() - 1)];
    (sorted[i] as f64 + frac * (next as f64 - sorted[i] as f64)) as f32
}

/// The train pool without the references, in the draw's random order.
pub fn shuffled_pool(device: &Device, rng: &mut impl Rng) -> Vec<usize> {
    let mut pool: Vec<usize> = device
        .train_pool
        .iter()
        .copied()
        .filter(|r| !device.refs.contains(r))
        .collect();
    pool.shuffle(rng);
    pool
}

/// The support set of one draw: the references, then `samples` other archs of the train pool.
pub fn support_rows(device: &Device, samples: usize, rng: &mut impl Rng) -> Vec<usize> {
    let mut rows = device.refs.clone();
    rows.extend(shuffled_pool(device, rng).into_iter().take(samples));
    rows
}

/// The query pool's true latencies (ms), what every draw is ranked against.
pub fn query_truth(device: &Device) -> Vec<f32> {
    device
        .query_pool
        .iter()
        .map(|&r| device.latency_ms[r])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizer_maps_reference_range_and_back() {
        let n = Normalizer::from_references(&[2.0, 4.0, 12.0]).unwrap();
        assert!((n.normalize(2.0) - 0.05).abs() < 1e-6);
        assert!((n.normalize(12.0) - 0.95).abs() < 1e-6);
        assert!((n.to_ms(n.normalize(7.5)) - 7.5).abs() < 1e-5);
        assert!(Normalizer::from_references(&[3.0, 3.0]).is_err());
    }

    #[test]
    fn trimming_keeps_the_middle() {
        let lat: Vec<f32> = (0..11).map(|v| v as f32).collect();
        // quantiles 1.0 and 9.0
        assert_eq!(trimmed(&lat, 0..11), (1..10).collect::<Vec<_>>());
    }
}
