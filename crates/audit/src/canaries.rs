//! Canaries (Carlini et al., 2019, "The Secret Sharer"): random records of the data's own form
//! planted in a training set, each `repeats` times, beside fresh candidates of the same form that
//! are never trained on. A model that memorises ranks its canaries above the candidates; the
//! exposure of a canary is `log2(candidates + 1) - log2(rank)` bits, 0 when it is no more likely
//! than a typical candidate, `log2(candidates + 1)` when it is the most likely of all.

use serde::{Deserialize, Serialize};

/// The canaries of a run, written beside it (and in its checkpoints) as [`CANARIES_FILE`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanarySet {
    /// How many times each canary was inserted into the training records.
    pub repeats: usize,
    pub canaries: Vec<String>,
    /// Records of the same form, never trained on: what a canary is ranked against.
    pub candidates: Vec<String>,
}

/// The file name of a run's [`CanarySet`].
pub const CANARIES_FILE: &str = "canaries.json";

impl CanarySet {
    /// `count` canaries and `candidates` candidates, each of a length drawn from `lengths` and of
    /// words drawn uniformly from `words`; `below(n)` draws uniformly from `0..n`.
    pub fn draw(
        words: &[String],
        lengths: &[usize],
        count: usize,
        repeats: usize,
        candidates: usize,
        mut below: impl FnMut(usize) -> usize,
    ) -> Self {
        let mut record = || {
            let len = lengths[below(lengths.len())].max(1);
            (0..len)
                .map(|_| words[below(words.len())].as_str())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let canaries = (0..count).map(|_| record()).collect();
        let candidates = (0..candidates).map(|_| record()).collect();
        Self {
            repeats,
            canaries,
            candidates,
        }
    }
}

/// Exposure in bits of each canary, from the log-likelihoods of the canaries and of the
/// candidates (ties with candidates count against the canary).
pub fn exposures(canaries: &[f64], candidates: &[f64]) -> Vec<f64> {
    let top = ((candidates.len() + 1) as f64).log2();
    canaries
        .iter()
        .map(|&c| {
            let rank = 1 + candidates.iter().filter(|&&x| x >= c).count();
            top - (rank as f64).log2()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposure_is_zero_for_the_least_likely_and_top_for_the_most() {
        let candidates: Vec<f64> = (0..1023).map(|i| -(i as f64)).collect();
        let e = exposures(&[1.0, -2000.0], &candidates);
        assert!((e[0] - 10.0).abs() < 1e-12, "{e:?}");
        assert!(e[1].abs() < 1e-12, "{e:?}");
    }

    #[test]
    fn canaries_take_the_form_of_the_data() {
        let words: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let mut state = 0usize;
        let set = CanarySet::draw(&words, &[2, 3], 4, 5, 10, |n| {
            state = (state * 7 + 3) % 101;
            state % n
        });
        assert_eq!(
            (set.canaries.len(), set.candidates.len(), set.repeats),
            (4, 10, 5)
        );
        for record in set.canaries.iter().chain(&set.candidates) {
            let n = record.split(' ').count();
            assert!(n == 2 || n == 3, "{record}");
            assert!(record.split(' ').all(|w| words.iter().any(|x| x == w)));
        }
    }
}
