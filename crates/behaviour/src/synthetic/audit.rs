//! What a synthetic behaviour log is measured by:
//! - **statistics kept**: the Jensen-Shannon divergence between item popularity distributions
//!   (base 2: 0 for the same distribution, 1 for disjoint ones) and the Kolmogorov-Smirnov
//!   distance between history-length distributions;
//! - **copying** (SDMetrics' DCR protocol, `../shared/GUIDE.md`): each synthetic history's
//!   distance (Jaccard, over its set of items) to the closest training history and to the
//!   closest held-out history, with as many training histories as held-out ones; `p` is the
//!   share closer to training (ties count half), given with a Wilson 95% interval. A generator
//!   that does not copy gives `p` near 0.5; `DCROverfittingProtection = min(2 (1 - p), 1)`. And
//!   the share of synthetic histories equal to a training history item for item.

use std::collections::HashSet;

use rayon::prelude::*;

use crate::batches::distinct_items as item_set;

/// Item frequencies of `histories`, normalised (`[num_items]`, item `i + 1` at `i`).
pub fn item_distribution(histories: &[Vec<u32>], num_items: usize) -> Vec<f64> {
    let mut counts = vec![0f64; num_items];
    for &item in histories.iter().flatten() {
        counts[item as usize - 1] += 1.0;
    }
    let total: f64 = counts.iter().sum();
    if total > 0.0 {
        counts.iter_mut().for_each(|c| *c /= total);
    }
    counts
}

/// Jensen-Shannon divergence in bits between two distributions over the same support.
pub fn jensen_shannon(p: &[f64], q: &[f64]) -> f64 {
    let kl_to_mean = |a: f64, m: f64| if a > 0.0 { a * (a / m).log2() } else { 0.0 };
    p.iter()
        .zip(q)
        .map(|(&a, &b)| {
            let m = 0.5 * (a + b);
            0.5 * kl_to_mean(a, m) + 0.5 * kl_to_mean(b, m)
        })
        .sum::<f64>()
        .max(0.0)
}

/// Largest gap between the empirical CDFs of two samples of lengths.
pub fn ks_distance(a: &[usize], b: &[usize]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 1.0;
    }
    let max = *a.iter().chain(b).max().expect("non-empty");
    let cdf = |xs: &[usize]| {
        let mut counts = vec![0usize; max + 1];
        xs.iter().for_each(|&x| counts[x] += 1);
        let mut acc = 0;
        counts
            .into_iter()
            .map(|c| {
                acc += c;
                acc as f64 / xs.len() as f64
            })
            .collect::<Vec<_>>()
    };
    let (ca, cb) = (cdf(a), cdf(b));
    ca.iter()
        .zip(&cb)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Share of `synthetic` histories identical to some `training` history.
pub fn exact_copy_rate(synthetic: &[Vec<u32>], training: &[Vec<u32>]) -> f64 {
    if synthetic.is_empty() {
        return 0.0;
    }
    let known: HashSet<&[u32]> = training.iter().map(Vec::as_slice).collect();
    synthetic
        .iter()
        .filter(|s| known.contains(s.as_slice()))
        .count() as f64
        / synthetic.len() as f64
}

/// Jaccard distance of two sorted sets (1 for two empty ones).
fn jaccard_distance(a: &[u32], b: &[u32]) -> f64 {
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - common;
    if union == 0 {
        1.0
    } else {
        1.0 - common as f64 / union as f64
    }
}

/// The DCR comparison: `p`, the share of synthetic histories closer to `training` than to
/// `holdout` (ties count half), and its Wilson 95% interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DistanceToClosest {
    pub closer_to_training: f64,
    pub low: f64,
    pub high: f64,
}

pub fn distance_to_closest(
    synthetic: &[Vec<u32>],
    training: &[Vec<u32>],
    holdout: &[Vec<u32>],
) -> DistanceToClosest {
    let sets = |hs: &[Vec<u32>]| hs.iter().map(|h| item_set(h)).collect::<Vec<_>>();
    let (training, holdout) = (sets(training), sets(holdout));
    let nearest = |s: &[u32], pool: &[Vec<u32>]| {
        pool.iter()
            .map(|r| jaccard_distance(s, r))
            .fold(f64::INFINITY, f64::min)
    };
    let scores: Vec<f64> = synthetic
        .par_iter()
        .map(|s| {
            let s = item_set(s);
            let (t, h) = (nearest(&s, &training), nearest(&s, &holdout));
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
    DistanceToClosest {
        closer_to_training: p,
        low,
        high,
    }
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
    fn divergences_are_zero_for_equal_data_and_one_for_disjoint() {
        let a = vec![vec![1, 2], vec![2]];
        let p = item_distribution(&a, 4);
        assert!(jensen_shannon(&p, &p).abs() < 1e-12);
        let q = item_distribution(&[vec![3, 4]], 4);
        assert!((jensen_shannon(&p, &q) - 1.0).abs() < 1e-12);
        assert_eq!(ks_distance(&[1, 2, 3], &[1, 2, 3]), 0.0);
        assert!((ks_distance(&[1, 1], &[2, 2]) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn copies_are_seen_and_fresh_data_is_balanced() {
        let training = vec![vec![1, 2, 3], vec![4, 5, 6]];
        let holdout = vec![vec![7, 8, 9], vec![10, 11, 12]];
        assert_eq!(exact_copy_rate(&training, &training), 1.0);
        assert_eq!(exact_copy_rate(&[vec![3, 2, 1]], &training), 0.0);
        let copied = distance_to_closest(&training, &training, &holdout);
        assert_eq!(copied.closer_to_training, 1.0);
        let fresh = vec![vec![20, 21], vec![1, 7]];
        let balanced = distance_to_closest(&fresh, &training, &holdout);
        assert_eq!(balanced.closer_to_training, 0.5);
        assert!(balanced.low < 0.5 && balanced.high > 0.5);
    }

    #[test]
    fn wilson_interval_matches_a_known_value() {
        // p = 0.5 over 100 trials: (0.4038, 0.5962).
        let (low, high) = wilson_interval(0.5, 100.0);
        assert!((low - 0.4038).abs() < 1e-4 && (high - 0.5962).abs() < 1e-4);
    }
}
