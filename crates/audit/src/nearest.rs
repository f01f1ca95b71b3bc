//! Each query's closest record of a pool, by exact Jaccard distance over shingles.
//!
//! The pool is sorted by set size once; a query walks outwards from its own size and stops on a
//! side once no record there can beat the best found, since `|a & b| / |a | b| <=
//! min(|a|, |b|) / max(|a|, |b|)`. Queries run in parallel, each on its own, so results do not
//! depend on the thread count.

use rayon::prelude::*;

use crate::shingles::jaccard_distance;

/// A pool of shingle sets, ordered by size for the search.
pub struct Pool<'a> {
    sets: &'a [Vec<u64>],
    by_size: Vec<usize>,
}

/// The closest record of a pool: its index in the pool and its distance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Closest {
    pub index: usize,
    pub distance: f64,
}

impl<'a> Pool<'a> {
    pub fn new(sets: &'a [Vec<u64>]) -> Self {
        let mut by_size: Vec<usize> = (0..sets.len()).collect();
        by_size.sort_by_key(|&i| (sets[i].len(), i));
        Self { sets, by_size }
    }

    /// The closest record to `query` (the lowest index among equally close ones); `None` for an
    /// empty pool.
    pub fn closest(&self, query: &[u64]) -> Option<Closest> {
        let n = self.by_size.len();
        let start = self
            .by_size
            .partition_point(|&i| self.sets[i].len() < query.len());
        let mut best: Option<Closest> = None;
        let consider = |i: usize, best: &mut Option<Closest>| {
            let distance = jaccard_distance(query, &self.sets[i]);
            let better = best
                .is_none_or(|b| distance < b.distance || (distance == b.distance && i < b.index));
            if better {
                *best = Some(Closest { index: i, distance });
            }
        };
        let bound = |size: usize| {
            let (small, large) = (size.min(query.len()), size.max(query.len()));
            if large == 0 {
                1.0
            } else {
                1.0 - small as f64 / large as f64
            }
        };
        // Larger sets, then smaller ones, each until the size bound exceeds the best distance.
        for &i in &self.by_size[start..n] {
            if best.is_some_and(|b| bound(self.sets[i].len()) > b.distance) {
                break;
            }
            consider(i, &mut best);
        }
        for &i in self.by_size[..start].iter().rev() {
            if best.is_some_and(|b| bound(self.sets[i].len()) > b.distance) {
                break;
            }
            consider(i, &mut best);
        }
        best
    }

    /// [`Pool::closest`] of every query, in parallel.
    pub fn closest_all(&self, queries: &[Vec<u64>]) -> Vec<Option<Closest>> {
        queries.par_iter().map(|q| self.closest(q)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shingles::shingles;

    /// The pruned search finds what a scan of the whole pool finds.
    #[test]
    fn pruned_search_equals_a_full_scan() {
        let mut state = 7u64;
        let mut next = |m: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % m) as u32
        };
        let mut record = |len: u32| {
            let n = 1 + next(len as u64) as usize;
            shingles(&(0..n).map(|_| next(30)).collect::<Vec<_>>(), 2)
        };
        let pool: Vec<Vec<u64>> = (0..300).map(|_| record(25)).collect();
        let queries: Vec<Vec<u64>> = (0..200).map(|_| record(25)).collect();
        let index = Pool::new(&pool);
        for q in &queries {
            let found = index.closest(q).unwrap();
            let scanned = pool
                .iter()
                .enumerate()
                .map(|(i, r)| (jaccard_distance(q, r), i))
                .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
                .unwrap();
            assert_eq!((found.distance, found.index), scanned);
        }
        assert!(Pool::new(&[]).closest(&queries[0]).is_none());
    }
}
