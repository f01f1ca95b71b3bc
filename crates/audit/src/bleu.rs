//! BLEU and Self-BLEU with the protocol of the text-GAN literature (Texygen, RelGAN,
//! TextGAN-PyTorch): NLTK's `sentence_bleu` with `SmoothingFunction().method1`, uniform weights
//! for BLEU-n, every test sentence as a reference, the mean over hypotheses. Self-BLEU scores each
//! generated sentence against all the others, never itself.
//!
//! NLTK compares every hypothesis with every reference; here the references are indexed once
//! (for each n-gram, its largest count in any single reference, which reference holds it, and the
//! largest count in any other), so a hypothesis costs a few hash lookups per n-gram.
//!
//! ```
//! use socgan_audit::bleu::NgramIndex;
//! let refs = vec![vec![1, 2, 3, 4], vec![1, 2, 5, 6]];
//! let index = NgramIndex::new(&refs, 4);
//! assert!((index.sentence_bleu(&[1, 2, 3, 4], 4, None) - 1.0).abs() < 1e-12);
//! ```

use std::collections::{BTreeMap, HashMap};

use rayon::prelude::*;

/// NLTK's `SmoothingFunction().epsilon`.
const EPSILON: f64 = 0.1;

#[derive(Clone, Copy, Default)]
struct MaxCount {
    best: u32,
    owner: u32,
    /// Largest count in any reference other than `owner`.
    second: u32,
}

/// The references of a BLEU computation, indexed by n-gram.
pub struct NgramIndex {
    max_order: usize,
    counts: Vec<HashMap<Vec<u32>, MaxCount>>,
    /// Reference length -> number of references of that length.
    lengths: BTreeMap<usize, usize>,
    reference_lengths: Vec<usize>,
}

fn ngram_counts(tokens: &[u32], n: usize) -> HashMap<&[u32], u32> {
    let mut counts = HashMap::new();
    if tokens.len() >= n {
        for gram in tokens.windows(n) {
            *counts.entry(gram).or_insert(0) += 1;
        }
    }
    counts
}

impl NgramIndex {
    /// Indexes `references` (token-id sentences) for BLEU up to `max_order`.
    pub fn new(references: &[Vec<u32>], max_order: usize) -> Self {
        let mut counts: Vec<HashMap<Vec<u32>, MaxCount>> = vec![HashMap::new(); max_order];
        let mut lengths = BTreeMap::new();
        for (r, reference) in references.iter().enumerate() {
            *lengths.entry(reference.len()).or_insert(0) += 1;
            for n in 1..=max_order {
                for (gram, c) in ngram_counts(reference, n) {
                    let entry = counts[n - 1].entry(gram.to_vec()).or_default();
                    if c > entry.best {
                        entry.second = entry.best;
                        entry.best = c;
                        entry.owner = r as u32;
                    } else if c > entry.second {
                        entry.second = c;
                    }
                }
            }
        }
        Self {
            max_order,
            counts,
            lengths,
            reference_lengths: references.iter().map(Vec::len).collect(),
        }
    }

    pub fn num_references(&self) -> usize {
        self.reference_lengths.len()
    }

    /// NLTK's `closest_ref_length`: the reference length nearest `hyp_len`, the shorter on a tie,
    /// ignoring reference `exclude`.
    fn closest_reference_length(&self, hyp_len: usize, exclude: Option<usize>) -> Option<usize> {
        let excluded_len = exclude.map(|i| self.reference_lengths[i]);
        let available = |len: usize, count: usize| count > usize::from(excluded_len == Some(len));
        let below = self
            .lengths
            .range(..=hyp_len)
            .rev()
            .find(|(l, c)| available(**l, **c))
            .map(|(l, _)| *l);
        let above = self
            .lengths
            .range(hyp_len..)
            .find(|(l, c)| available(**l, **c))
            .map(|(l, _)| *l);
        match (below, above) {
            (Some(b), Some(a)) => Some(if hyp_len - b <= a - hyp_len { b } else { a }),
            (b, a) => b.or(a),
        }
    }

    /// NLTK `sentence_bleu(references, hypothesis, weights=(1/order,)*order,
    /// smoothing_function=SmoothingFunction().method1)`, with reference `exclude` left out.
    pub fn sentence_bleu(&self, hypothesis: &[u32], order: usize, exclude: Option<usize>) -> f64 {
        assert!(
            order >= 1 && order <= self.max_order,
            "BLEU order {order} outside 1..={}",
            self.max_order
        );
        let mut log_sum = 0.0;
        for n in 1..=order {
            let hyp_counts = ngram_counts(hypothesis, n);
            let denominator = hyp_counts.values().sum::<u32>().max(1) as f64;
            let mut numerator = 0u32;
            for (gram, c) in &hyp_counts {
                if let Some(m) = self.counts[n - 1].get(*gram) {
                    let max_ref = if exclude == Some(m.owner as usize) {
                        m.second
                    } else {
                        m.best
                    };
                    numerator += (*c).min(max_ref);
                }
            }
            if n == 1 && numerator == 0 {
                // No unigram in common: NLTK returns 0 before smoothing.
                return 0.0;
            }
            let p = if numerator == 0 {
                EPSILON / denominator
            } else {
                numerator as f64 / denominator
            };
            log_sum += p.ln() / order as f64;
        }
        let hyp_len = hypothesis.len();
        let Some(ref_len) = self.closest_reference_length(hyp_len, exclude) else {
            return 0.0;
        };
        let brevity = if hyp_len > ref_len {
            1.0
        } else if hyp_len == 0 {
            0.0
        } else {
            (1.0 - ref_len as f64 / hyp_len as f64).exp()
        };
        brevity * log_sum.exp()
    }
}

/// Mean BLEU-`order` of `hypotheses` against all `references`.
pub fn bleu(references: &[Vec<u32>], hypotheses: &[Vec<u32>], order: usize) -> f64 {
    let index = NgramIndex::new(references, order);
    mean(
        hypotheses
            .par_iter()
            .map(|h| index.sentence_bleu(h, order, None))
            .collect(),
    )
}

/// Mean Self-BLEU-`order`: each sentence against all the others.
pub fn self_bleu(sentences: &[Vec<u32>], order: usize) -> f64 {
    let index = NgramIndex::new(sentences, order);
    mean(
        sentences
            .par_iter()
            .enumerate()
            .map(|(i, s)| index.sentence_bleu(s, order, Some(i)))
            .collect(),
    )
}

fn mean(xs: Vec<f64>) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Maps words to ids for BLEU over text.
#[derive(Default)]
pub struct WordIds {
    ids: HashMap<String, u32>,
}

impl WordIds {
    /// Whitespace tokens of `sentence` as ids (new words get new ids).
    pub fn encode(&mut self, sentence: &str) -> Vec<u32> {
        sentence
            .split_whitespace()
            .map(|w| {
                let next = self.ids.len() as u32;
                *self.ids.entry(w.to_string()).or_insert(next)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFS: [&str; 8] = [
        "a man riding a wave on top of a surfboard",
        "a man is riding a surfboard on a wave",
        "two dogs play with a frisbee in the park",
        "a dog catches a frisbee in the park",
        "a plate of food with broccoli and rice",
        "a bowl of soup next to a sandwich",
        "a man is riding a horse on the beach",
        "a cat sitting on top of a laptop",
    ];
    const HYPS: [&str; 7] = [
        "a man riding a surfboard on a wave",
        "a dog plays with a frisbee",
        "a plate of rice",
        "zebra giraffe",
        "a man is riding a wave on a horse on the beach at sunset",
        "a",
        "a cat on a laptop on a laptop",
    ];
    /// NLTK 3.10.4 `sentence_bleu(refs, hyp, (1/n,)*n, smoothing_function=method1)` per
    /// hypothesis, and mean Self-BLEU-n of REFS (benches/peers has no part in this: computed
    /// once with NLTK and pasted here).
    const NLTK_BLEU: [(usize, [f64; 7], f64); 4] = [
        (
            2,
            [
                1.0,
                0.5066641486392106,
                0.3003723059100852,
                0.0,
                0.8153742483272113,
                0.0002883623968383479,
                0.5669467095138409,
            ],
            0.533436274035201,
        ),
        (
            3,
            [
                1.0,
                0.35826565528689464,
                0.2550733581380306,
                0.0,
                0.7624433386750332,
                0.000196459013980511,
                0.17497570119380043,
            ],
            0.43402178163906424,
        ),
        (
            4,
            [
                0.9457416090031758,
                0.18204651199034363,
                0.1571901051328651,
                0.0,
                0.6699617535447089,
                0.00016215809237314185,
                0.10173978273092252,
            ],
            0.36409392735419904,
        ),
        (
            5,
            [
                0.8325532074018731,
                0.13151852369125355,
                0.11756587138693586,
                0.0,
                0.5260729937537535,
                0.00014452355195354125,
                0.07683881284355329,
            ],
            0.27812619579873477,
        ),
    ];

    #[test]
    fn matches_nltk_sentence_bleu_and_self_bleu_to_1e_6() {
        let mut words = WordIds::default();
        let refs: Vec<Vec<u32>> = REFS.iter().map(|s| words.encode(s)).collect();
        let hyps: Vec<Vec<u32>> = HYPS.iter().map(|s| words.encode(s)).collect();
        let index = NgramIndex::new(&refs, 5);
        for (n, expected, self_expected) in NLTK_BLEU {
            for (h, e) in hyps.iter().zip(expected) {
                let got = index.sentence_bleu(h, n, None);
                assert!(
                    (got - e).abs() < 1e-6,
                    "BLEU-{n} of {h:?}: {got} vs NLTK {e}"
                );
            }
            let mean_expected = expected.iter().sum::<f64>() / expected.len() as f64;
            assert!((bleu(&refs, &hyps, n) - mean_expected).abs() < 1e-6);
            let got = self_bleu(&refs, n);
            assert!(
                (got - self_expected).abs() < 1e-6,
                "Self-BLEU-{n}: {got} vs NLTK {self_expected}"
            );
        }
    }

    #[test]
    fn self_bleu_never_matches_a_sentence_with_itself() {
        // Three distinct sentences with no shared words: each scores 0 against the others,
        // though each would score 1 against itself.
        let s = vec![vec![1, 2, 3, 4], vec![5, 6, 7, 8], vec![9, 10, 11, 12]];
        assert_eq!(self_bleu(&s, 4), 0.0);
        // A duplicated sentence matches its twin.
        let d = vec![vec![1, 2, 3, 4], vec![1, 2, 3, 4]];
        assert!((self_bleu(&d, 4) - 1.0).abs() < 1e-12);
    }
}
