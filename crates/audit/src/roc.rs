//! The area under the ROC curve of scores for two groups: the probability that a random member
//! of the positive group scores above a random member of the negative one (ties count half),
//! the Mann-Whitney statistic. 0.5: the scores do not tell the groups apart. Its interval is a
//! percentile bootstrap, each group resampled on its own (the groups' sizes are fixed by the
//! design of a two-sample test).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Bootstrap resamples of an AUC's interval (enough for a stable 95% percentile interval).
pub const RESAMPLES: usize = 1000;

/// AUC of `positive` against `negative` scores; `None` when a group is empty.
pub fn auc(positive: &[f64], negative: &[f64]) -> Option<f64> {
    if positive.is_empty() || negative.is_empty() {
        return None;
    }
    // Rank all scores together (average ranks for ties), sum the positives' ranks.
    let mut all: Vec<(f64, bool)> = positive
        .iter()
        .map(|&s| (s, true))
        .chain(negative.iter().map(|&s| (s, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0 == all[i].0 {
            j += 1;
        }
        // Ranks i+1..=j share their mean.
        let mean_rank = (i + 1 + j) as f64 / 2.0;
        rank_sum += mean_rank * all[i..j].iter().filter(|e| e.1).count() as f64;
        i = j;
    }
    let (p, n) = (positive.len() as f64, negative.len() as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// A 95% percentile-bootstrap interval of [`auc`] from [`RESAMPLES`] resamples, each drawn by its
/// own generator seeded from `seed` and its index (the same on any number of threads); `None`
/// when a group is empty.
pub fn auc_interval(positive: &[f64], negative: &[f64], seed: u64) -> Option<(f64, f64)> {
    if positive.is_empty() || negative.is_empty() {
        return None;
    }
    let mut aucs: Vec<f64> = (0..RESAMPLES as u64)
        .into_par_iter()
        .map(|i| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut resample = |group: &[f64]| -> Vec<f64> {
                (0..group.len())
                    .map(|_| group[rng.random_range(0..group.len())])
                    .collect()
            };
            let (p, n) = (resample(positive), resample(negative));
            auc(&p, &n).expect("groups are not empty")
        })
        .collect();
    aucs.sort_by(f64::total_cmp);
    let at = |q: f64| aucs[((q * (RESAMPLES - 1) as f64).round() as usize).min(RESAMPLES - 1)];
    Some((at(0.025), at(0.975)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separated_mixed_and_tied_scores() {
        assert_eq!(auc(&[3.0, 4.0], &[1.0, 2.0]), Some(1.0));
        assert_eq!(auc(&[1.0, 2.0], &[3.0, 4.0]), Some(0.0));
        assert_eq!(auc(&[1.0, 1.0], &[1.0]), Some(0.5));
        // One of four pairs misordered.
        assert_eq!(auc(&[2.0, 4.0], &[1.0, 3.0]), Some(0.75));
        assert_eq!(auc(&[], &[1.0]), None);
    }

    #[test]
    fn the_interval_holds_the_estimate_and_narrows_with_more_records() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut draw = |n: usize, shift: f64| -> Vec<f64> {
            (0..n).map(|_| rng.random::<f64>() + shift).collect()
        };
        let (p, n) = (draw(100, 0.3), draw(100, 0.0));
        let (lo, hi) = auc_interval(&p, &n, 0).unwrap();
        let estimate = auc(&p, &n).unwrap();
        assert!(lo < estimate && estimate < hi, "{lo} {estimate} {hi}");
        assert_eq!(auc_interval(&p, &n, 0), Some((lo, hi)), "not reproducible");
        let (p, n) = (draw(2000, 0.3), draw(2000, 0.0));
        let (big_lo, big_hi) = auc_interval(&p, &n, 0).unwrap();
        assert!(
            big_hi - big_lo < (hi - lo) / 2.0,
            "{big_lo}-{big_hi} vs {lo}-{hi}"
        );
        assert_eq!(auc_interval(&[], &n, 0), None);
    }
}
