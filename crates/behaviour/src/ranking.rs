//! Ranking metrics of next-item prediction, under both protocols the literature uses:
//! - **full ranking**: the target against every item, except those already in the user's
//!   history (RecBole's default; the target itself is never excluded, even when the user saw it
//!   before);
//! - **sampled**: the target against 100 items drawn uniformly from those the user has not
//!   interacted with (SASRec's protocol; Krichene & Rendle 2020 show it can reorder models).
//!
//! Ties are broken against the target: every candidate scoring at least as high ranks above it,
//! so a model that scores everything alike (or the popularity baseline's many equal counts) gets
//! no credit from the order items happen to be stored in.

use gan_core::Metrics;

/// The cut-off of HR@k and NDCG@k.
pub const CUTOFF: usize = 10;

/// Metric names, under `val/` and `test/`.
pub mod metric_names {
    pub const FULL_HR: &str = "full/hr@10";
    pub const FULL_NDCG: &str = "full/ndcg@10";
    pub const FULL_MRR: &str = "full/mrr";
    pub const SAMPLED_HR: &str = "sampled/hr@10";
    pub const SAMPLED_NDCG: &str = "sampled/ndcg@10";
    pub const SAMPLED_MRR: &str = "sampled/mrr";
    /// Users each protocol ranked for.
    pub const FULL_USERS: &str = "full/users";
    pub const SAMPLED_USERS: &str = "sampled/users";
}

/// 0-based rank of `target` among all items (scores of item `i + 1` at index `i`), skipping
/// the sorted `excluded` items (which must not contain the target).
pub fn full_rank(scores: &[f32], target: u32, excluded: &[u32]) -> usize {
    let threshold = scores[target as usize - 1];
    // The target itself counts once (it is never excluded).
    let above = scores.iter().filter(|&&s| at_least(s, threshold)).count() - 1;
    let excluded_above = excluded
        .iter()
        .filter(|&&e| at_least(scores[e as usize - 1], threshold))
        .count();
    above - excluded_above
}

/// 0-based rank of `target` among `negatives`.
pub fn sampled_rank(scores: &[f32], target: u32, negatives: &[u32]) -> usize {
    let threshold = scores[target as usize - 1];
    negatives
        .iter()
        .filter(|&&n| at_least(scores[n as usize - 1], threshold))
        .count()
}

/// Whether a candidate ranks above the target: ties and a NaN on either side count against it.
fn at_least(candidate: f32, target: f32) -> bool {
    candidate >= target || candidate.is_nan() || target.is_nan()
}

/// Sums of HR@10, NDCG@10 and reciprocal rank over users.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RankingSums {
    pub users: usize,
    pub hits: f64,
    pub ndcg: f64,
    pub reciprocal_rank: f64,
}

impl RankingSums {
    pub fn add(&mut self, rank: usize) {
        self.users += 1;
        if rank < CUTOFF {
            self.hits += 1.0;
            self.ndcg += 1.0 / (rank as f64 + 2.0).log2();
        }
        self.reciprocal_rank += 1.0 / (rank as f64 + 1.0);
    }

    /// Means under `hr`, `ndcg`, `mrr` (and the user count under `users`).
    pub fn insert_means(&self, metrics: &mut Metrics, names: [&str; 4]) {
        let n = self.users.max(1) as f64;
        metrics.insert(names[0].into(), self.hits / n);
        metrics.insert(names[1].into(), self.ndcg / n);
        metrics.insert(names[2].into(), self.reciprocal_rank / n);
        metrics.insert(names[3].into(), self.users as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_count_against_the_target() {
        // Items 1..=5; the target (3) ties with items 1 and 5.
        let scores = [0.5, 0.1, 0.5, 0.9, 0.5];
        assert_eq!(full_rank(&scores, 3, &[]), 3);
        // Excluding item 4 (seen) lifts the target one place.
        assert_eq!(full_rank(&scores, 3, &[4]), 2);
        assert_eq!(sampled_rank(&scores, 3, &[2, 5]), 1);
        assert_eq!(sampled_rank(&scores, 4, &[1, 2, 3]), 0);
        // A NaN target ranks last under both protocols.
        let broken = [0.5, f32::NAN, 0.1];
        assert_eq!(full_rank(&broken, 2, &[]), 2);
        assert_eq!(sampled_rank(&broken, 2, &[1, 3]), 2);
    }

    #[test]
    fn metrics_follow_their_definitions() {
        let mut sums = RankingSums::default();
        for rank in [0, 1, 9, 10] {
            sums.add(rank);
        }
        let mut m = Metrics::new();
        sums.insert_means(&mut m, ["hr", "ndcg", "mrr", "users"]);
        assert_eq!(m["hr"], 0.75);
        let ndcg = (1.0 + 1.0 / 3f64.log2() + 1.0 / 11f64.log2()) / 4.0;
        assert!((m["ndcg"] - ndcg).abs() < 1e-12);
        assert!((m["mrr"] - (1.0 + 0.5 + 0.1 + 1.0 / 11.0) / 4.0).abs() < 1e-12);
        assert_eq!(m["users"], 4.0);
    }
}
