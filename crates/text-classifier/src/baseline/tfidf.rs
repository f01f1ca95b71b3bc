//! TF-IDF + multinomial logistic regression, as scikit-learn's `TfidfVectorizer` +
//! `LogisticRegression` are usually set up for tweets: lower-cased word unigrams and bigrams,
//! terms in at least 2 posts (at most `max_features`, the most frequent), sublinear term
//! frequency, smoothed IDF `ln((1 + n) / (1 + df)) + 1`, rows scaled to unit L2 norm; the
//! regression minimises the mean cross-entropy plus `||W||^2 / (2 C n)` (scikit-learn's `C`).
//!
//! The design matrix stays sparse: a batch's logits are an index-add of the weight rows of its
//! terms scaled by their TF-IDF values (candle ops, so the gradient is candle's), and the loss
//! is minimised full-batch with Adam. A dense matrix (what `linfa-logistic` reads) of 45,615
//! tweets by 50,000 terms would take 9 GB.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var, D};
use serde::{Deserialize, Serialize};

use crate::Result;

/// Settings; `Default` is scikit-learn's `C = 1` with the feature choices above.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TfidfConfig {
    pub max_features: usize,
    pub min_df: usize,
    pub c: f64,
    /// Full-batch Adam iterations (lr 0.1).
    pub iterations: usize,
}

impl Default for TfidfConfig {
    fn default() -> Self {
        Self {
            max_features: 50_000,
            min_df: 2,
            c: 1.0,
            iterations: 300,
        }
    }
}

/// Lower-cased words (runs of letters, digits, `#`, `@`, `'`) and their bigrams.
fn terms(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '#' || c == '@' || c == '\''))
        .filter(|w| !w.is_empty())
        .collect();
    let mut out: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    out.extend(words.windows(2).map(|p| format!("{} {}", p[0], p[1])));
    out
}

/// A fitted vocabulary with its IDF weights.
pub struct TfidfVectorizer {
    vocabulary: HashMap<String, u32>,
    idf: Vec<f32>,
}

/// A sparse row: `(term, weight)` pairs.
pub type SparseRow = Vec<(u32, f32)>;

impl TfidfVectorizer {
    pub fn fit(texts: &[String], config: &TfidfConfig) -> Self {
        let mut df: HashMap<String, usize> = HashMap::new();
        for text in texts {
            let mut seen = terms(text);
            seen.sort();
            seen.dedup();
            for t in seen {
                *df.entry(t).or_default() += 1;
            }
        }
        let mut kept: Vec<(String, usize)> = df
            .into_iter()
            .filter(|(_, d)| *d >= config.min_df)
            .collect();
        // Most frequent first, ties by the term, so the vocabulary does not depend on hashing.
        kept.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        kept.truncate(config.max_features);
        let n = texts.len() as f32;
        let idf = kept
            .iter()
            .map(|(_, d)| ((1.0 + n) / (1.0 + *d as f32)).ln() + 1.0)
            .collect();
        let vocabulary = kept
            .into_iter()
            .enumerate()
            .map(|(i, (t, _))| (t, i as u32))
            .collect();
        Self { vocabulary, idf }
    }

    pub fn num_features(&self) -> usize {
        self.idf.len()
    }

    pub fn transform(&self, text: &str) -> SparseRow {
        let mut counts: HashMap<u32, f32> = HashMap::new();
        for t in terms(text) {
            if let Some(&id) = self.vocabulary.get(&t) {
                *counts.entry(id).or_default() += 1.0;
            }
        }
        let mut row: SparseRow = counts
            .into_iter()
            .map(|(id, tf)| (id, (1.0 + tf.ln()) * self.idf[id as usize]))
            .collect();
        row.sort_by_key(|&(id, _)| id);
        let norm = row.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|(_, w)| *w /= norm);
        }
        row
    }
}

/// A sparse design matrix as the three tensors the index-add reads.
struct SparseBatch {
    terms: Tensor,
    values: Tensor,
    rows: Tensor,
    n: usize,
}

impl SparseBatch {
    fn new(rows: &[SparseRow], device: &Device) -> Result<Self> {
        let (mut terms, mut values, mut owners) = (Vec::new(), Vec::new(), Vec::new());
        for (r, row) in rows.iter().enumerate() {
            for &(t, v) in row {
                terms.push(t);
                values.push(v);
                owners.push(r as u32);
            }
        }
        let nnz = terms.len();
        Ok(Self {
            terms: Tensor::from_vec(terms, nnz, device)?,
            values: Tensor::from_vec(values, (nnz, 1), device)?,
            rows: Tensor::from_vec(owners, nnz, device)?,
            n: rows.len(),
        })
    }

    /// `X W + b`: `[n, K]`.
    fn logits(&self, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let k = weight.dim(1)?;
        let picked = weight
            .index_select(&self.terms, 0)?
            .broadcast_mul(&self.values)?;
        let zeros = Tensor::zeros((self.n, k), DType::F32, weight.device())?;
        Ok(zeros
            .index_add(&self.rows, &picked, 0)?
            .broadcast_add(bias)?)
    }
}

/// The fitted classifier.
pub struct TfidfLogistic {
    vectorizer: TfidfVectorizer,
    weight: Tensor,
    bias: Tensor,
}

impl TfidfLogistic {
    /// Fits on labelled `texts` of `classes` classes.
    pub fn fit(
        texts: &[String],
        labels: &[u32],
        classes: usize,
        config: &TfidfConfig,
    ) -> Result<Self> {
        let device = Device::Cpu;
        let vectorizer = TfidfVectorizer::fit(texts, config);
        let rows: Vec<SparseRow> = texts.iter().map(|t| vectorizer.transform(t)).collect();
        let x = SparseBatch::new(&rows, &device)?;
        let y = Tensor::new(labels, &device)?;
        let weight = Var::zeros(
            (vectorizer.num_features().max(1), classes),
            DType::F32,
            &device,
        )?;
        let bias = Var::zeros(classes, DType::F32, &device)?;
        let l2 = 1.0 / (2.0 * config.c * texts.len() as f64);
        let params = candle_nn::ParamsAdamW {
            lr: 0.1,
            weight_decay: 0.0,
            ..Default::default()
        };
        let mut adam = candle_nn::AdamW::new(vec![weight.clone(), bias.clone()], params)?;
        use candle_nn::Optimizer;
        for _ in 0..config.iterations {
            let logits = x.logits(&weight, &bias)?;
            let ce = candle_nn::loss::cross_entropy(&logits, &y)?;
            let loss = (ce + (weight.sqr()?.sum_all()? * l2)?)?;
            adam.backward_step(&loss)?;
        }
        Ok(Self {
            vectorizer,
            weight: weight.as_tensor().clone(),
            bias: bias.as_tensor().clone(),
        })
    }

    /// Class probabilities `[N * K]`.
    pub fn probabilities(&self, texts: &[String]) -> Result<Vec<f32>> {
        let rows: Vec<SparseRow> = texts.iter().map(|t| self.vectorizer.transform(t)).collect();
        let x = SparseBatch::new(&rows, &Device::Cpu)?;
        let logits = x.logits(&self.weight, &self.bias)?;
        Ok(candle_nn::ops::softmax(&logits, D::Minus1)?
            .flatten_all()?
            .to_vec1()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tfidf_rows_are_unit_length_and_idf_favours_rare_terms() {
        let texts: Vec<String> = ["good day", "good night", "bad day", "good good"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let v = TfidfVectorizer::fit(&texts, &TfidfConfig::default());
        // Terms in at least 2 posts: good, day, "good ..."? no bigram repeats twice.
        assert_eq!(v.num_features(), 2);
        let row = v.transform("good day");
        let norm: f32 = row.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-6);
        let good = v.vocabulary["good"] as usize;
        let day = v.vocabulary["day"] as usize;
        assert!(v.idf[day] > v.idf[good], "day is in fewer posts");
    }

    #[test]
    fn logistic_regression_separates_word_classes() {
        let mut texts = Vec::new();
        let mut labels = Vec::new();
        for i in 0..60 {
            let class = i % 3;
            let word = ["awful", "meeting", "lovely"][class];
            texts.push(format!("{word} thing number {}", i % 7));
            labels.push(class as u32);
        }
        let model = TfidfLogistic::fit(&texts, &labels, 3, &TfidfConfig::default()).unwrap();
        let p = model
            .probabilities(&["an awful day".to_string(), "lovely".to_string()])
            .unwrap();
        assert!(p[0] > 0.5 && p[5] > 0.5, "{p:?}");
    }
}
