//! How easily synthetic records are told from real ones they were not made from: a classifier
//! two-sample test. A multinomial naive Bayes (Laplace smoothing) is cross-validated on as many
//! synthetic as held-out real records; the AUC of its out-of-fold scores is reported (0.5:
//! indistinguishable to it; 1: every synthetic record stands out), with a bootstrap interval.
//! What it sees is chosen by [`Features`]: each record's 1-2-gram shingles (the audit's
//! detector), its words alone (unigram-only), or its length alone (length-only). The last two
//! expose the trivial tells: a generator whose posts a length-only detector spots writes posts
//! of the wrong length, whatever their words. A weak, fast classifier: a low AUC here is not
//! proof that a stronger detector would fail.

use std::collections::HashMap;

use rand::seq::SliceRandom;
use rand::Rng;

use crate::roc::{auc, auc_interval};
use crate::shingles::shingles;

/// Folds of the cross-validation.
const FOLDS: usize = 5;

/// What a detector sees of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Features {
    /// Its distinct 1- and 2-grams.
    Shingles,
    /// Its words (or items), each occurrence counted.
    Unigrams,
    /// Its length, nothing else.
    Length,
}

impl Features {
    /// The features of a record of token ids.
    pub fn of(self, record: &[u32]) -> Vec<u64> {
        match self {
            Features::Shingles => shingles(record, 2),
            Features::Unigrams => record.iter().map(|&t| t as u64).collect(),
            Features::Length => vec![record.len() as u64],
        }
    }
}

/// A detector's out-of-fold scores, higher for "synthetic".
#[derive(Clone, Debug, PartialEq)]
pub struct OutOfFold {
    pub synthetic: Vec<f64>,
    pub real: Vec<f64>,
}

impl OutOfFold {
    pub fn auc(&self) -> f64 {
        auc(&self.synthetic, &self.real).expect("both sides have records")
    }

    /// The AUC's 95% bootstrap interval, drawn from `seed`.
    pub fn interval(&self, seed: u64) -> (f64, f64) {
        auc_interval(&self.synthetic, &self.real, seed).expect("both sides have records")
    }
}

/// The AUC of telling `synthetic` from `real` feature sets (each side cut to the smaller one's
/// size by a draw from `rng`); `None` with fewer than [`FOLDS`] records a side.
pub fn detection_auc(synthetic: &[Vec<u64>], real: &[Vec<u64>], rng: &mut impl Rng) -> Option<f64> {
    cross_validated(synthetic, real, rng).map(|scores| scores.auc())
}

/// The out-of-fold scores of naive Bayes telling `synthetic` from `real` feature sets, as
/// [`detection_auc`] computes them.
pub fn cross_validated(
    synthetic: &[Vec<u64>],
    real: &[Vec<u64>],
    rng: &mut impl Rng,
) -> Option<OutOfFold> {
    let n = synthetic.len().min(real.len());
    if n < FOLDS {
        return None;
    }
    let mut pick = |records: &[Vec<u64>]| {
        let mut order: Vec<usize> = (0..records.len()).collect();
        order.shuffle(rng);
        order.truncate(n);
        order
    };
    let (syn, rea) = (pick(synthetic), pick(real));
    let (mut syn_scores, mut real_scores) = (Vec::new(), Vec::new());
    for fold in 0..FOLDS {
        let train = |order: &[usize]| -> Vec<usize> {
            order
                .iter()
                .enumerate()
                .filter(|(k, _)| k % FOLDS != fold)
                .map(|(_, &i)| i)
                .collect()
        };
        let model = NaiveBayes::fit(
            train(&syn).iter().map(|&i| &synthetic[i]),
            train(&rea).iter().map(|&i| &real[i]),
        );
        let held = |order: &[usize]| -> Vec<usize> {
            order
                .iter()
                .enumerate()
                .filter(|(k, _)| k % FOLDS == fold)
                .map(|(_, &i)| i)
                .collect()
        };
        syn_scores.extend(held(&syn).iter().map(|&i| model.score(&synthetic[i])));
        real_scores.extend(held(&rea).iter().map(|&i| model.score(&real[i])));
    }
    Some(OutOfFold {
        synthetic: syn_scores,
        real: real_scores,
    })
}

/// Counts of each shingle in either class, and the classes' totals.
struct NaiveBayes {
    counts: HashMap<u64, [f64; 2]>,
    totals: [f64; 2],
}

impl NaiveBayes {
    fn fit<'a>(
        synthetic: impl Iterator<Item = &'a Vec<u64>>,
        real: impl Iterator<Item = &'a Vec<u64>>,
    ) -> Self {
        let mut model = Self {
            counts: HashMap::new(),
            totals: [0.0; 2],
        };
        for (class, records) in [(0, synthetic.collect::<Vec<_>>()), (1, real.collect())] {
            for record in records {
                for &s in record {
                    model.counts.entry(s).or_insert([0.0; 2])[class] += 1.0;
                    model.totals[class] += 1.0;
                }
            }
        }
        model
    }

    /// Log-likelihood ratio of "synthetic" over "real" (equal priors).
    fn score(&self, record: &[u64]) -> f64 {
        let vocabulary = self.counts.len() as f64 + 1.0;
        record
            .iter()
            .map(|s| {
                let [syn, real] = self.counts.get(s).copied().unwrap_or([0.0; 2]);
                ((syn + 1.0) / (self.totals[0] + vocabulary)).ln()
                    - ((real + 1.0) / (self.totals[1] + vocabulary)).ln()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn same_sources_are_near_half_and_different_ones_near_one() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let draw = |shift: u64, rng: &mut ChaCha8Rng| -> Vec<Vec<u64>> {
            (0..400)
                .map(|_| (0..8).map(|_| shift + rng.random_range(0..40u64)).collect())
                .collect()
        };
        let (a, b) = (draw(0, &mut rng), draw(0, &mut rng));
        let same = detection_auc(&a, &b, &mut rng).unwrap();
        assert!((same - 0.5).abs() < 0.08, "{same}");
        let c = draw(20, &mut rng);
        let different = detection_auc(&a, &c, &mut rng).unwrap();
        assert!(different > 0.95, "{different}");
        assert!(detection_auc(&a[..3], &b, &mut rng).is_none());
    }

    #[test]
    fn a_length_only_detector_sees_lengths_and_nothing_else() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        // Same words, different lengths: the length detector tells them apart.
        let short: Vec<Vec<u32>> = (0..300)
            .map(|i| vec![1 + i % 7; 4 + i as usize % 2])
            .collect();
        let long: Vec<Vec<u32>> = (0..300)
            .map(|i| vec![1 + i % 7; 8 + i as usize % 2])
            .collect();
        let of = |f: Features, rs: &[Vec<u32>]| rs.iter().map(|r| f.of(r)).collect::<Vec<_>>();
        let by_length = cross_validated(
            &of(Features::Length, &short),
            &of(Features::Length, &long),
            &mut rng,
        )
        .unwrap();
        assert!(by_length.auc() > 0.99, "{}", by_length.auc());
        let (lo, hi) = by_length.interval(0);
        assert!(lo <= by_length.auc() && by_length.auc() <= hi);
        // Same lengths, different words: it cannot.
        let other: Vec<Vec<u32>> = (0..300)
            .map(|i| vec![50 + i % 7; 4 + i as usize % 2])
            .collect();
        let blind = cross_validated(
            &of(Features::Length, &short),
            &of(Features::Length, &other),
            &mut rng,
        )
        .unwrap();
        assert!((blind.auc() - 0.5).abs() < 0.05, "{}", blind.auc());
        let words = cross_validated(
            &of(Features::Unigrams, &short),
            &of(Features::Unigrams, &other),
            &mut rng,
        )
        .unwrap();
        assert!(words.auc() > 0.99, "{}", words.auc());
    }
}
