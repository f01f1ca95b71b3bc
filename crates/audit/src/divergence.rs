//! Whether synthetic records keep the statistics of real ones, and how much of them is new:
//! token (item) frequencies, lengths, n-gram novelty.

use std::collections::HashSet;

/// Token frequencies of `records`, normalised (`[vocab_size]`, token `t` at `t - 1`: ids start at
/// 1, as item ids do).
pub fn token_distribution(records: &[Vec<u32>], vocab_size: usize) -> Vec<f64> {
    let mut counts = vec![0f64; vocab_size];
    for &token in records.iter().flatten() {
        counts[token as usize - 1] += 1.0;
    }
    let total: f64 = counts.iter().sum();
    if total > 0.0 {
        counts.iter_mut().for_each(|c| *c /= total);
    }
    counts
}

/// Jensen-Shannon divergence in bits between two distributions over the same support (0 for
/// the same distribution, 1 for disjoint ones).
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

/// Largest gap between the empirical CDFs of two samples of lengths (Kolmogorov-Smirnov).
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

/// Share of the distinct `n`-grams of `synthetic` that no `training` record contains (1 when the
/// synthetic records have none).
pub fn ngram_novelty(synthetic: &[Vec<u32>], training: &[Vec<u32>], n: usize) -> f64 {
    let grams = |records: &[Vec<u32>]| -> HashSet<Vec<u32>> {
        records
            .iter()
            .flat_map(|r| r.windows(n).map(<[u32]>::to_vec))
            .collect()
    };
    let (made, seen) = (grams(synthetic), grams(training));
    if made.is_empty() {
        return 1.0;
    }
    made.iter().filter(|g| !seen.contains(*g)).count() as f64 / made.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divergences_are_zero_for_equal_data_and_one_for_disjoint() {
        let a = vec![vec![1, 2], vec![2]];
        let p = token_distribution(&a, 4);
        assert!(jensen_shannon(&p, &p).abs() < 1e-12);
        let q = token_distribution(&[vec![3, 4]], 4);
        assert!((jensen_shannon(&p, &q) - 1.0).abs() < 1e-12);
        assert_eq!(ks_distance(&[1, 2, 3], &[1, 2, 3]), 0.0);
        assert!((ks_distance(&[1, 1], &[2, 2]) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn novelty_counts_unseen_ngrams() {
        let training = vec![vec![1, 2, 3]];
        assert_eq!(ngram_novelty(&training, &training, 2), 0.0);
        // (1, 2) seen, (2, 4) new.
        assert_eq!(ngram_novelty(&[vec![1, 2, 4]], &training, 2), 0.5);
        assert_eq!(ngram_novelty(&[vec![1]], &training, 2), 1.0);
    }
}
