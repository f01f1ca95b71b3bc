//! Synthetic records that copy training records: exactly (token for token, after the
//! normalisation the records were read with) or nearly (Jaccard similarity of their 1-2-gram
//! sets at or above a threshold).

use std::collections::HashSet;

/// Which synthetic records are exact copies of a training record.
pub fn exact_copies(synthetic: &[Vec<u32>], training: &[Vec<u32>]) -> Vec<bool> {
    let known: HashSet<&[u32]> = training.iter().map(Vec::as_slice).collect();
    synthetic
        .iter()
        .map(|s| known.contains(s.as_slice()))
        .collect()
}

/// Share of `synthetic` records identical to some `training` record (0 for none).
pub fn exact_copy_rate(synthetic: &[Vec<u32>], training: &[Vec<u32>]) -> f64 {
    if synthetic.is_empty() {
        return 0.0;
    }
    let copies = exact_copies(synthetic, training);
    copies.iter().filter(|&&c| c).count() as f64 / synthetic.len() as f64
}

/// Which records are near duplicates, from their distances to the closest training record: a
/// Jaccard similarity of at least `threshold` (distance at most `1 - threshold`), exact copies
/// excluded.
pub fn near_duplicates(closest_distance: &[f64], exact: &[bool], threshold: f64) -> Vec<bool> {
    closest_distance
        .iter()
        .zip(exact)
        .map(|(&d, &copy)| !copy && 1.0 - d >= threshold)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_near_copies() {
        let training = vec![vec![1, 2, 3], vec![4, 5, 6]];
        assert_eq!(exact_copy_rate(&training, &training), 1.0);
        assert_eq!(exact_copy_rate(&[vec![3, 2, 1]], &training), 0.0);
        assert_eq!(exact_copy_rate(&[], &training), 0.0);
        let near = near_duplicates(&[0.0, 0.1, 0.5], &[true, false, false], 0.8);
        assert_eq!(near, [false, true, false]);
    }
}
