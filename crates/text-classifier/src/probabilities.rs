//! What a classifier's probabilities say beyond its predictions (the detection protocol's
//! metrics): the expected calibration error and its reliability bins for any number of classes;
//! for two classes, ROC-AUC and PR-AUC (average precision) of the positive class, and the
//! decision threshold that maximises weighted F1, chosen on validation posts and applied to
//! test posts.

use socgan_audit::roc::auc;

use crate::metrics::ConfusionMatrix;
use crate::Result;

/// Equal-width confidence bins of the reliability diagram (Guo et al., 2017, use 15; 10 is the
/// common choice for a few thousand posts).
pub const BINS: usize = 10;

/// One bin of the reliability diagram: its posts' mean top-class confidence and accuracy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReliabilityBin {
    pub posts: usize,
    pub confidence: f64,
    pub accuracy: f64,
}

/// The reliability bins of `probs` (`[N * k]`, row-major) against the gold `labels`.
pub fn reliability(probs: &[f32], labels: &[u32], k: usize) -> Vec<ReliabilityBin> {
    let mut sums = vec![(0usize, 0f64, 0usize); BINS];
    for (row, &gold) in probs.chunks_exact(k).zip(labels) {
        let (top, &p) = row
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .expect("k >= 1");
        let bin = ((p as f64 * BINS as f64) as usize).min(BINS - 1);
        sums[bin].0 += 1;
        sums[bin].1 += p as f64;
        sums[bin].2 += usize::from(top as u32 == gold);
    }
    sums.into_iter()
        .map(|(n, conf, correct)| ReliabilityBin {
            posts: n,
            confidence: if n > 0 { conf / n as f64 } else { 0.0 },
            accuracy: if n > 0 {
                correct as f64 / n as f64
            } else {
                0.0
            },
        })
        .collect()
}

/// Expected calibration error: the posts-weighted mean gap between confidence and accuracy.
pub fn expected_calibration_error(bins: &[ReliabilityBin]) -> f64 {
    let total: usize = bins.iter().map(|b| b.posts).sum();
    if total == 0 {
        return 0.0;
    }
    bins.iter()
        .map(|b| b.posts as f64 * (b.confidence - b.accuracy).abs())
        .sum::<f64>()
        / total as f64
}

/// Average precision of `scores` for the posts where `positive` holds (scikit-learn's
/// `average_precision_score`: the precision at each positive, ties broken against it).
pub fn average_precision(scores: &[f64], positive: &[bool]) -> f64 {
    let total = positive.iter().filter(|&&p| p).count();
    if total == 0 {
        return 0.0;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut seen, mut hits, mut sum, mut i) = (0usize, 0usize, 0f64, 0);
    while i < order.len() {
        // A block of equal scores counts as one threshold.
        let mut j = i;
        let mut block_hits = 0;
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            block_hits += usize::from(positive[order[j]]);
            j += 1;
        }
        seen += j - i;
        hits += block_hits;
        sum += block_hits as f64 * hits as f64 / seen as f64;
        i = j;
    }
    sum / total as f64
}

/// The probability metrics of `probs` (`[N * k]`) against `labels`, under the names of
/// `task::metric_names` (ECE; with two classes ROC-AUC and PR-AUC too), and for two classes the
/// positive class's probability of each post (what a decision threshold applies to).
pub fn probability_metrics(
    probs: &[f32],
    labels: &[u32],
    k: usize,
    positive: usize,
) -> (Vec<(String, f64)>, Option<Vec<f64>>) {
    use crate::task::metric_names as names;
    let bins = reliability(probs, labels, k);
    let mut metrics = vec![(names::ECE.to_string(), expected_calibration_error(&bins))];
    if k != 2 {
        return (metrics, None);
    }
    let scores = positive_scores(probs, k, positive);
    let is_positive: Vec<bool> = labels.iter().map(|&l| l as usize == positive).collect();
    metrics.push((names::ROC_AUC.into(), roc_auc(&scores, labels, positive)));
    metrics.push((
        names::PR_AUC.into(),
        average_precision(&scores, &is_positive),
    ));
    (metrics, Some(scores))
}

/// The decision threshold chosen on validation posts (`val/threshold`) and the test posts'
/// weighted F1 at it (`test/weighted_f1_at_threshold`).
pub fn threshold_metrics(
    validation: (&[f64], &[u32]),
    test: (&[f64], &[u32]),
    positive: usize,
) -> Result<(f64, f64)> {
    let threshold = best_threshold(validation.0, validation.1, positive)?;
    let predicted = at_threshold(test.0, threshold, positive);
    Ok((
        threshold,
        ConfusionMatrix::new(test.1, &predicted, 2)?.weighted_f1(),
    ))
}

/// The probability of class `positive` in each row.
pub fn positive_scores(probs: &[f32], k: usize, positive: usize) -> Vec<f64> {
    probs.chunks_exact(k).map(|r| r[positive] as f64).collect()
}

/// Predictions of a two-class model at `threshold` on the positive class's probability.
pub fn at_threshold(scores: &[f64], threshold: f64, positive: usize) -> Vec<u32> {
    let negative = 1 - positive as u32;
    scores
        .iter()
        .map(|&s| {
            if s >= threshold {
                positive as u32
            } else {
                negative
            }
        })
        .collect()
}

/// The threshold (among the scores themselves, and 0.5) with the highest weighted F1 on these
/// posts; the smallest such threshold on ties.
pub fn best_threshold(scores: &[f64], labels: &[u32], positive: usize) -> Result<f64> {
    let mut candidates: Vec<f64> = scores.to_vec();
    candidates.push(0.5);
    candidates.sort_by(f64::total_cmp);
    candidates.dedup();
    let mut best = (f64::NEG_INFINITY, 0.5);
    for t in candidates {
        let f1 = ConfusionMatrix::new(labels, &at_threshold(scores, t, positive), 2)?.weighted_f1();
        if f1 > best.0 {
            best = (f1, t);
        }
    }
    Ok(best.1)
}

/// ROC-AUC of the positive class's probability.
pub fn roc_auc(scores: &[f64], labels: &[u32], positive: usize) -> f64 {
    let (pos, neg) = by_class(scores, labels, positive);
    auc(&pos, &neg).unwrap_or(f64::NAN)
}

/// The scores of the positive class's posts and of the others'.
pub fn by_class(scores: &[f64], labels: &[u32], positive: usize) -> (Vec<f64>, Vec<f64>) {
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    for (&s, &l) in scores.iter().zip(labels) {
        if l as usize == positive {
            pos.push(s);
        } else {
            neg.push(s);
        }
    }
    (pos, neg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_of_a_perfectly_and_a_badly_calibrated_model() {
        // Confidence 0.75 on twenty posts, fifteen right: calibrated.
        let probs: Vec<f32> = (0..20).flat_map(|_| [0.75f32, 0.25]).collect();
        let labels: Vec<u32> = (0..20).map(|i| u32::from(i >= 15)).collect();
        let bins = reliability(&probs, &labels, 2);
        assert!(expected_calibration_error(&bins) < 1e-6);
        assert_eq!(bins[7].posts, 20);
        // Confidence 0.75, half right: ECE 0.25.
        let labels: Vec<u32> = (0..20).map(|i| i % 2).collect();
        let bins = reliability(&probs, &labels, 2);
        assert!((expected_calibration_error(&bins) - 0.25).abs() < 1e-6);
    }

    #[test]
    fn average_precision_matches_scikit_learn() {
        // sklearn.metrics.average_precision_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) = 0.8333
        let ap = average_precision(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]);
        assert!((ap - 0.833_333_333).abs() < 1e-6, "{ap}");
        assert_eq!(average_precision(&[0.3, 0.2], &[true, true]), 1.0);
    }

    #[test]
    fn the_threshold_maximises_weighted_f1_and_roc_auc_ranks() {
        // Positives score 0.3-0.4, negatives 0.1-0.2: 0.5 gets none right, 0.3 all.
        let scores = [0.1, 0.2, 0.3, 0.4];
        let labels = [0, 0, 1, 1];
        assert_eq!(best_threshold(&scores, &labels, 1).unwrap(), 0.3);
        assert_eq!(at_threshold(&scores, 0.3, 1), [0, 0, 1, 1]);
        assert_eq!(roc_auc(&scores, &labels, 1), 1.0);
        assert_eq!(roc_auc(&scores, &labels, 0), 1.0 - 1.0);
    }
}
