//! The distance-to-closest-record comparison (SDMetrics' DCR protocol, `../shared/GUIDE.md`):
//! each synthetic record's distance to the closest training record and to the closest held-out
//! record, with as many training records as held-out ones; `p` is the share closer to training
//! (ties count half), with a Wilson 95% interval. A generator that does not copy gives `p` near
//! 0.5; one that memorises, near 1. SDMetrics' `DCROverfittingProtection` is `min(2 (1 - p), 1)`.

use crate::nearest::Pool;
use crate::shingles::shingles;

/// The DCR comparison: `p` and its Wilson 95% interval.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct DistanceToClosest {
    pub closer_to_training: f64,
    pub low: f64,
    pub high: f64,
}

impl DistanceToClosest {
    /// From each synthetic record's closest distances to training and to held-out records.
    pub fn from_distances(to_training: &[f64], to_holdout: &[f64]) -> Self {
        let scores: Vec<f64> = to_training
            .iter()
            .zip(to_holdout)
            .map(|(t, h)| {
                if t < h {
                    1.0
                } else if t == h {
                    0.5
                } else {
                    0.0
                }
            })
            .collect();
        let n = scores.len().max(1) as f64;
        let p = scores.iter().sum::<f64>() / n;
        let (low, high) = wilson_interval(p, n);
        Self {
            closer_to_training: p,
            low,
            high,
        }
    }

    /// SDMetrics' `DCROverfittingProtection`: 1 when no sign of copying, 0 for full copying.
    pub fn overfitting_protection(&self) -> f64 {
        (2.0 * (1.0 - self.closer_to_training)).min(1.0)
    }
}

/// The comparison of `synthetic` records against `training` and `holdout` ones, distances over
/// the shingles of n-grams up to `max_order` (1: sets of tokens or items).
pub fn distance_to_closest(
    synthetic: &[Vec<u32>],
    training: &[Vec<u32>],
    holdout: &[Vec<u32>],
    max_order: usize,
) -> DistanceToClosest {
    let sets = |records: &[Vec<u32>]| {
        records
            .iter()
            .map(|r| shingles(r, max_order))
            .collect::<Vec<_>>()
    };
    let (synthetic, training, holdout) = (sets(synthetic), sets(training), sets(holdout));
    let distances = |pool: &[Vec<u64>]| {
        Pool::new(pool)
            .closest_all(&synthetic)
            .into_iter()
            .map(|c| c.map_or(1.0, |c| c.distance))
            .collect::<Vec<_>>()
    };
    DistanceToClosest::from_distances(&distances(&training), &distances(&holdout))
}

/// Wilson's 95% score interval of a proportion `p` observed over `n` trials.
pub fn wilson_interval(p: f64, n: f64) -> (f64, f64) {
    let z = 1.959_963_984_540_054;
    let denominator = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denominator;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denominator;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_seen_and_fresh_data_is_balanced() {
        let training = vec![vec![1, 2, 3], vec![4, 5, 6]];
        let holdout = vec![vec![7, 8, 9], vec![10, 11, 12]];
        let copied = distance_to_closest(&training, &training, &holdout, 1);
        assert_eq!(copied.closer_to_training, 1.0);
        assert_eq!(copied.overfitting_protection(), 0.0);
        let fresh = vec![vec![20, 21], vec![1, 7]];
        let balanced = distance_to_closest(&fresh, &training, &holdout, 1);
        assert_eq!(balanced.closer_to_training, 0.5);
        assert!(balanced.low < 0.5 && balanced.high > 0.5);
        assert_eq!(balanced.overfitting_protection(), 1.0);
    }

    #[test]
    fn wilson_interval_matches_a_known_value() {
        // p = 0.5 over 100 trials: (0.4038, 0.5962).
        let (low, high) = wilson_interval(0.5, 100.0);
        assert!((low - 0.4038).abs() < 1e-4 && (high - 0.5962).abs() < 1e-4);
    }
}
