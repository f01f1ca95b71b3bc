//! Classifier-FID and the classifier score, in the feature space of the run's own classifier
//! (TF-GAN's MNIST practice: Inception features mean little on digits).
//!
//! - FID: the Frechet distance between Gaussians fitted to two sets of features,
//!   `|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a^{1/2} S_b S_a^{1/2})^{1/2})`, covariances with
//!   `n - 1` (numpy's `cov`, as pytorch-fid and TF-GAN). Comparable only with itself: the same
//!   classifier, the same sample count (FID is biased by it), the same reference set.
//! - Classifier score (the Inception-score analogue): `exp(mean_x KL(p(y|x) || p(y)))` over the
//!   samples, one split.

use nalgebra::{DMatrix, DVector, SymmetricEigen};

/// Mean and covariance of a set of feature vectors.
#[derive(Clone, Debug)]
pub struct FeatureStats {
    pub mean: DVector<f64>,
    pub cov: DMatrix<f64>,
    pub count: usize,
}

impl FeatureStats {
    /// The statistics of `count = features.len() / dim` row vectors.
    pub fn of(features: &[f32], dim: usize) -> Self {
        let count = features.len() / dim;
        let rows = DMatrix::from_row_iterator(count, dim, features.iter().map(|&v| v as f64));
        let mean = rows.row_mean().transpose();
        let mut centred = rows;
        for mut row in centred.row_iter_mut() {
            row -= mean.transpose();
        }
        let cov = centred.transpose() * &centred / (count.max(2) - 1) as f64;
        Self { mean, cov, count }
    }
}

/// The symmetric positive semi-definite square root, negative eigenvalues (rounding) clipped.
fn psd_sqrt(m: &DMatrix<f64>) -> DMatrix<f64> {
    let eig = SymmetricEigen::new(m.clone());
    let roots = eig.eigenvalues.map(|v| v.max(0.0).sqrt());
    &eig.eigenvectors * DMatrix::from_diagonal(&roots) * eig.eigenvectors.transpose()
}

/// The Frechet distance between the Gaussians of `a` and `b`.
pub fn frechet_distance(a: &FeatureStats, b: &FeatureStats) -> f64 {
    let diff = &a.mean - &b.mean;
    let root_a = psd_sqrt(&a.cov);
    let inner = &root_a * &b.cov * &root_a;
    // Symmetrise against rounding before the eigendecomposition.
    let inner = (&inner + inner.transpose()) * 0.5;
    let trace_root: f64 = SymmetricEigen::new(inner)
        .eigenvalues
        .iter()
        .map(|v| v.max(0.0).sqrt())
        .sum();
    (diff.dot(&diff) + a.cov.trace() + b.cov.trace() - 2.0 * trace_root).max(0.0)
}

/// `exp(mean_x KL(p(y|x) || p(y)))` of rows of class probabilities.
pub fn classifier_score(probs: &[f32], classes: usize) -> f64 {
    let n = probs.len() / classes;
    let mut marginal = vec![0f64; classes];
    for row in probs.chunks_exact(classes) {
        for (m, &p) in marginal.iter_mut().zip(row) {
            *m += p as f64 / n as f64;
        }
    }
    let kl: f64 = probs
        .chunks_exact(classes)
        .map(|row| {
            row.iter()
                .zip(&marginal)
                .filter(|(&p, _)| p > 0.0)
                .map(|(&p, &m)| p as f64 * ((p as f64).ln() - m.max(1e-30).ln()))
                .sum::<f64>()
        })
        .sum::<f64>()
        / n.max(1) as f64;
    kl.exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(rows: &[[f32; 2]]) -> FeatureStats {
        FeatureStats::of(&rows.concat(), 2)
    }

    #[test]
    fn frechet_distance_of_known_gaussians() {
        // Identical sets: 0. Shifted by (3, 4): 25, whatever the covariance.
        let a = stats(&[[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]]);
        assert!(frechet_distance(&a, &a).abs() < 1e-9);
        let shifted = stats(&[[3.0, 4.0], [5.0, 4.0], [3.0, 6.0], [5.0, 6.0]]);
        assert!((frechet_distance(&a, &shifted) - 25.0).abs() < 1e-9);
        // Same mean, covariances diag(s1^2) and diag(s2^2): sum (s1 - s2)^2 per axis.
        let wide = stats(&[[-1.0, -1.0], [3.0, -1.0], [-1.0, 3.0], [3.0, 3.0]]);
        // a: variance 4/3 per axis; wide: 16/3: (sqrt(16/3) - sqrt(4/3))^2 * 2 = 8/3.
        assert!((frechet_distance(&a, &wide) - 8.0 / 3.0).abs() < 1e-9);
        // Symmetric.
        assert!((frechet_distance(&wide, &a) - 8.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn classifier_score_ranges_from_one_to_the_class_count() {
        // Every sample sure of the same class: 1. Sure and spread evenly over 4 classes: 4.
        let same = [1.0f32, 0.0, 0.0, 0.0].repeat(8);
        assert!((classifier_score(&same, 4) - 1.0).abs() < 1e-9);
        let spread: Vec<f32> = (0..8)
            .flat_map(|i| (0..4).map(move |c| (c == i % 4) as u8 as f32))
            .collect();
        assert!((classifier_score(&spread, 4) - 4.0).abs() < 1e-9);
        // Unsure samples: 1.
        assert!((classifier_score(&[0.25f32; 32], 4) - 1.0).abs() < 1e-9);
    }
}
