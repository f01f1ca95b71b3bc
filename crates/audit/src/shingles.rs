//! A record as the set of its 1- and 2-grams ("shingles"), each a `u64`: a token `t` is `t`, a
//! pair `(a, b)` is `2^63 + a * 2^31 + b`. The encoding is exact (tokens below 2^31), so two
//! records share a shingle only if they share the n-gram, and sets compare by merging sorted
//! vectors.

/// The distinct n-grams of `tokens` for n = 1..=`max_order` (1 or 2), sorted.
pub fn shingles(tokens: &[u32], max_order: usize) -> Vec<u64> {
    let mut out: Vec<u64> = tokens.iter().map(|&t| t as u64).collect();
    if max_order >= 2 {
        out.extend(
            tokens
                .windows(2)
                .map(|w| (1u64 << 63) | ((w[0] as u64) << 31) | w[1] as u64),
        );
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Size of the intersection of two sorted sets.
pub fn common(a: &[u64], b: &[u64]) -> usize {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                n += 1;
                i += 1;
                j += 1;
            }
        }
    }
    n
}

/// Jaccard distance `1 - |a & b| / |a | b|` of two sorted sets (1 for two empty ones).
pub fn jaccard_distance(a: &[u64], b: &[u64]) -> f64 {
    let shared = common(a, b);
    let union = a.len() + b.len() - shared;
    if union == 0 {
        1.0
    } else {
        1.0 - shared as f64 / union as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shingles_are_distinct_unigrams_and_bigrams() {
        let s = shingles(&[3, 1, 3, 1], 2);
        // 1, 3, (3,1), (1,3): the repeated pair counted once.
        assert_eq!(s.len(), 4);
        assert_eq!(shingles(&[3, 1, 3], 1), vec![1, 3]);
        assert_ne!(shingles(&[1, 2], 2), shingles(&[2, 1], 2));
    }

    #[test]
    fn jaccard_of_equal_disjoint_and_half_shared_sets() {
        assert_eq!(jaccard_distance(&[1, 2], &[1, 2]), 0.0);
        assert_eq!(jaccard_distance(&[1, 2], &[3, 4]), 1.0);
        assert!((jaccard_distance(&[1, 2, 3], &[2, 3, 4]) - 0.5).abs() < 1e-12);
        assert_eq!(jaccard_distance(&[], &[]), 1.0);
    }
}
