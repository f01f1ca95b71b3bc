//! Improved precision and recall (Kynkäänniemi et al. 2019) and the classifier's confident
//! share, in the classifier's feature space: what FID folds into one number, apart.
//!
//! Each set of feature vectors spans a manifold estimate: the union of balls around its points,
//! each ball's radius the distance to that point's k-th nearest neighbour in its own set (k = 3,
//! the paper's choice). Precision is the share of generated samples inside the real manifold
//! (are the samples realistic?), recall the share of real samples inside the generated manifold
//! (is the real variety covered?). A collapsed generator has high precision and a recall near 0.

use candle_core::{Device, Tensor};

use crate::Result;

/// The paper's neighbourhood size.
pub const K: usize = 3;

/// Squared Euclidean distances between the rows of `a` and of `b` (`dim` columns each), row
/// major `[rows(a), rows(b)]`, as `|a|^2 + |b|^2 - 2 a b^T` (one matrix product), clamped at 0.
pub fn squared_distances(a: &[f32], b: &[f32], dim: usize) -> Result<Vec<f32>> {
    let device = Device::Cpu;
    let ta = Tensor::from_slice(a, (a.len() / dim, dim), &device)?;
    let tb = Tensor::from_slice(b, (b.len() / dim, dim), &device)?;
    let na = ta.sqr()?.sum_keepdim(1)?;
    let nb = tb.sqr()?.sum_keepdim(1)?.t()?;
    let cross = ta.matmul(&tb.t()?)?;
    let d = na
        .broadcast_add(&nb)?
        .broadcast_sub(&(cross * 2.0)?)?
        .relu()?;
    Ok(d.flatten_all()?.to_vec1::<f32>()?)
}

/// Each row's squared distance to its `k`-th nearest neighbour among the other rows (0 for a
/// row with no other: its ball holds only itself).
pub fn kth_neighbour_radii(features: &[f32], dim: usize, k: usize) -> Result<Vec<f32>> {
    let n = features.len() / dim;
    if n < 2 {
        return Ok(vec![0.0; n]);
    }
    let d = squared_distances(features, features, dim)?;
    Ok(d.chunks_exact(n)
        .enumerate()
        .map(|(i, row)| {
            let mut others: Vec<f32> = row
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, &v)| v)
                .collect();
            let kth = (k.max(1) - 1).min(others.len() - 1);
            *others.select_nth_unstable_by(kth, |a, b| a.total_cmp(b)).1
        })
        .collect())
}

/// A set of feature rows with each row's k-nearest-neighbour ball: the manifold estimate.
/// The real digits' is built once per run, not at every evaluation.
pub struct Manifold {
    features: Vec<f32>,
    /// Squared radii, one per row.
    radii: Vec<f32>,
    dim: usize,
    k: usize,
}

impl Manifold {
    pub fn new(features: Vec<f32>, dim: usize, k: usize) -> Result<Self> {
        let radii = kth_neighbour_radii(&features, dim, k)?;
        Ok(Self {
            features,
            radii,
            dim,
            k,
        })
    }

    /// The share of `queries` rows inside some ball of the manifold (0 for an empty one).
    pub fn coverage(&self, queries: &[f32]) -> Result<f64> {
        let n = self.radii.len();
        let rows = queries.len() / self.dim;
        if n == 0 || rows == 0 {
            return Ok(0.0);
        }
        let d = squared_distances(queries, &self.features, self.dim)?;
        let inside = d
            .chunks_exact(n)
            .filter(|row| row.iter().zip(&self.radii).any(|(dist, r)| dist <= r))
            .count();
        Ok(inside as f64 / rows as f64)
    }

    /// `(precision, recall)` of `generated` rows against this (real) manifold.
    pub fn precision_recall(&self, generated: &[f32]) -> Result<(f64, f64)> {
        let generated_manifold = Manifold::new(generated.to_vec(), self.dim, self.k)?;
        Ok((
            self.coverage(generated)?,
            generated_manifold.coverage(&self.features)?,
        ))
    }
}

/// `(precision, recall)` of `generated` against `real` feature rows, neighbourhoods of `k`.
pub fn precision_recall(
    real: &[f32],
    generated: &[f32],
    dim: usize,
    k: usize,
) -> Result<(f64, f64)> {
    Manifold::new(real.to_vec(), dim, k)?.precision_recall(generated)
}

/// The share of rows of class probabilities whose top class has probability above `threshold`,
/// and how those confident rows spread over the classes as an effective class count: the
/// exponential of the entropy of their top-class histogram (1 when all are one class, `classes`
/// when evenly spread; 0 when no row is confident).
pub fn confident_share(probs: &[f32], classes: usize, threshold: f32) -> (f64, f64) {
    let mut counts = vec![0usize; classes];
    let rows = probs.len() / classes;
    for row in probs.chunks_exact(classes) {
        let (top, p) =
            row.iter().enumerate().fold(
                (0, f32::MIN),
                |best, (c, &p)| if p > best.1 { (c, p) } else { best },
            );
        if p > threshold {
            counts[top] += 1;
        }
    }
    let confident: usize = counts.iter().sum();
    if confident == 0 {
        return (0.0, 0.0);
    }
    let entropy: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / confident as f64;
            -p * p.ln()
        })
        .sum();
    (confident as f64 / rows.max(1) as f64, entropy.exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Points on a 2-D grid: `side x side` of them, spacing 1.
    fn grid(side: usize, offset: f32) -> Vec<f32> {
        (0..side * side)
            .flat_map(|i| [(i % side) as f32 + offset, (i / side) as f32])
            .collect()
    }

    #[test]
    fn the_same_set_is_precise_and_covered_and_a_collapse_has_no_recall() {
        let real = grid(10, 0.0);
        let (p, r) = precision_recall(&real, &real, 2, K).unwrap();
        assert_eq!((p, r), (1.0, 1.0));
        // Every sample on one real point: all realistic, one real point covered.
        let collapsed: Vec<f32> = [3.0f32, 4.0].repeat(100);
        let (p, r) = precision_recall(&real, &collapsed, 2, K).unwrap();
        assert_eq!(p, 1.0);
        assert!(r <= 0.01 + 1e-12, "recall {r}");
        // A set far away: neither.
        let (p, r) = precision_recall(&real, &grid(10, 100.0), 2, K).unwrap();
        assert_eq!((p, r), (0.0, 0.0));
    }

    #[test]
    fn radii_are_the_kth_neighbour_not_the_point_itself() {
        // 0, 1, 3, 6 on a line: third neighbour of 0 is 6 (squared 36), of 3 is 3 (9).
        let line = [0.0f32, 1.0, 3.0, 6.0];
        let radii = kth_neighbour_radii(&line, 1, 3).unwrap();
        assert_eq!(radii, vec![36.0, 25.0, 9.0, 36.0]);
        assert_eq!(
            kth_neighbour_radii(&line, 1, 1).unwrap(),
            vec![1.0, 1.0, 4.0, 9.0]
        );
    }

    #[test]
    fn tiny_and_empty_sets_do_not_panic() {
        assert_eq!(kth_neighbour_radii(&[1.0, 2.0], 2, K).unwrap(), vec![0.0]);
        assert_eq!(
            precision_recall(&[1.0, 2.0], &[1.0, 2.0], 2, K).unwrap(),
            (1.0, 1.0)
        );
        assert_eq!(
            precision_recall(&grid(3, 0.0), &[], 2, K).unwrap(),
            (0.0, 0.0)
        );
    }

    #[test]
    fn the_confident_share_counts_classes_above_the_threshold() {
        // Two confident rows of class 0, two of class 1, one unsure.
        let probs = [0.95f32, 0.05, 0.99, 0.01, 0.02, 0.98, 0.05, 0.95, 0.6, 0.4];
        let (share, classes) = confident_share(&probs, 2, 0.9);
        assert!((share - 0.8).abs() < 1e-12);
        assert!((classes - 2.0).abs() < 1e-9);
        let (share, classes) = confident_share(&[0.5f32, 0.5], 2, 0.9);
        assert_eq!((share, classes), (0.0, 0.0));
        let (_, one) = confident_share(&[0.99f32, 0.01, 0.97, 0.03], 2, 0.9);
        assert!((one - 1.0).abs() < 1e-12);
    }
}
