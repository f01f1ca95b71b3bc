//! Each query's closest record of a pool, by exact Jaccard distance over shingles.
//!
//! Comparing a query with every record costs a merge per pair: 100,000 synthetic tweets against
//! the 70,000 records of an audit's three pools are seven billion merges, most of them of sets
//! that share nothing. Instead the pool is an inverted index (for each shingle, the records that
//! hold it): a query walks the lists of its own shingles and counts, for every record it meets,
//! the shingles they share; `shared / (|query| + |record| - shared)` is then the exact Jaccard
//! similarity, and a record the query never met shares nothing (distance 1). Queries run in
//! parallel, each on its own, so results do not depend on the thread count.

use std::collections::HashMap;

use rayon::prelude::*;

/// A pool of shingle sets, indexed by shingle.
pub struct Pool {
    postings: HashMap<u64, Vec<u32>>,
    sizes: Vec<usize>,
}

/// The closest record of a pool: its index in the pool and its distance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Closest {
    pub index: usize,
    pub distance: f64,
}

/// Per-thread counts of shared shingles, cleared after each query through the list of the
/// records it touched.
struct Scratch {
    shared: Vec<u32>,
    touched: Vec<u32>,
}

impl Pool {
    pub fn new(sets: &[Vec<u64>]) -> Self {
        let mut postings: HashMap<u64, Vec<u32>> = HashMap::new();
        for (i, set) in sets.iter().enumerate() {
            for &s in set {
                postings.entry(s).or_default().push(i as u32);
            }
        }
        Self {
            postings,
            sizes: sets.iter().map(Vec::len).collect(),
        }
    }

    fn scratch(&self) -> Scratch {
        Scratch {
            shared: vec![0; self.sizes.len()],
            touched: Vec::new(),
        }
    }

    /// The closest record to `query` (the lowest index among equally close ones); `None` for an
    /// empty pool.
    pub fn closest(&self, query: &[u64]) -> Option<Closest> {
        self.closest_with(query, &mut self.scratch())
    }

    fn closest_with(&self, query: &[u64], scratch: &mut Scratch) -> Option<Closest> {
        if self.sizes.is_empty() {
            return None;
        }
        for s in query {
            for &r in self.postings.get(s).map(Vec::as_slice).unwrap_or_default() {
                if scratch.shared[r as usize] == 0 {
                    scratch.touched.push(r);
                }
                scratch.shared[r as usize] += 1;
            }
        }
        // Records sharing nothing are at distance 1; the lowest index of all is one of them
        // unless a touched record is closer.
        let mut best = Closest {
            index: 0,
            distance: 1.0,
        };
        for &r in &scratch.touched {
            let r = r as usize;
            let shared = scratch.shared[r] as usize;
            scratch.shared[r] = 0;
            let union = query.len() + self.sizes[r] - shared;
            let distance = 1.0 - shared as f64 / union as f64;
            if distance < best.distance || (distance == best.distance && r < best.index) {
                best = Closest { index: r, distance };
            }
        }
        scratch.touched.clear();
        Some(best)
    }

    /// [`Pool::closest`] of every query, in parallel.
    pub fn closest_all(&self, queries: &[Vec<u64>]) -> Vec<Option<Closest>> {
        queries
            .par_iter()
            .map_init(
                || self.scratch(),
                |scratch, q| self.closest_with(q, scratch),
            )
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shingles::{jaccard_distance, shingles};

    /// The indexed search finds what a scan of the whole pool finds, ties and empty sets
    /// included.
    #[test]
    fn indexed_search_equals_a_full_scan() {
        let mut state = 7u64;
        let mut next = |m: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % m) as u32
        };
        let mut record = |len: u32| {
            let n = next(len as u64) as usize;
            shingles(&(0..n).map(|_| next(30)).collect::<Vec<_>>(), 2)
        };
        let pool: Vec<Vec<u64>> = (0..300).map(|_| record(25)).collect();
        let queries: Vec<Vec<u64>> = (0..200).map(|_| record(25)).chain([vec![]]).collect();
        let index = Pool::new(&pool);
        let all = index.closest_all(&queries);
        for (q, found) in queries.iter().zip(all) {
            let found = found.unwrap();
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
