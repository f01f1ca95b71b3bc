//! BERT inference on packed rows: each post's real tokens only, no padding, on host buffers.
//! It runs the frozen sentence encoder on the CPU, and evaluates a fine-tuned one from a
//! snapshot of its current weights.
//!
//! candle-transformers' `BertModel` multiplies a padded `[B, T, H]` batch by each weight as B
//! products of T rows (packing the weight B times), and computes GELU with libm's `erff` one
//! element at a time; profiled on all-MiniLM-L6-v2 that put it at 0.6-0.75x of PyTorch. Here a
//! batch's tokens are one `[rows, H]` matrix: the dense layers are products of up to
//! [`MAX_ROW_BLOCK`] rows at a time, split over rayon's threads; attention runs per post (a
//! padded key's weight in the reference is `exp(f32::MIN) = 0`, so attending within the post's
//! own rows is the same function without a mask); and each layer's second half (attention
//! output, residual, layer norm, feed-forward, residual, layer norm) runs on one row block
//! while it is in cache. Weights are read by Hugging Face name; the result is checked against
//! `BertModel` in the tests and against `SentenceTransformer.encode` by `cargo xtask
//! check-minilm`.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_transformers::models::bert::{Config, HiddenAct};
use rayon::prelude::*;
use socgan_nn::gemm::{host_values, sgemm};
use socgan_nn::{fast_math, layer_norm_rows_in_place};

use crate::{Error, Result};

/// Rows per dense-layer block: large enough that packing a weight is a small share of its
/// product, small enough that a block's activations stay in cache.
const MAX_ROW_BLOCK: usize = 128;

/// `y = x W^T + b`, with `W^T` stored `[input, output]` so the product reads it row-major.
struct Dense {
    weight_t: Vec<f32>,
    bias: Vec<f32>,
    input: usize,
    output: usize,
}

impl Dense {
    /// `dst[rows, output] = x[rows, input] W^T + b`.
    fn forward(&self, x: &[f32], dst: &mut [f32]) {
        let rows = x.len() / self.input;
        sgemm(
            rows,
            self.output,
            self.input,
            dst,
            self.output,
            false,
            x,
            self.input,
            1,
            &self.weight_t,
            self.output,
            1,
        );
        for row in dst.chunks_exact_mut(self.output) {
            for (d, b) in row.iter_mut().zip(&self.bias) {
                *d += b;
            }
        }
    }
}

struct LayerNorm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
    eps: f32,
}

impl LayerNorm {
    fn forward_in_place(&self, x: &mut [f32]) {
        layer_norm_rows_in_place(x, &self.gamma, &self.beta, self.eps);
    }
}

struct Layer {
    /// Query, key and value in one product: `[H, 3H]`.
    qkv: Dense,
    attention_out: Dense,
    attention_norm: LayerNorm,
    intermediate: Dense,
    output: Dense,
    output_norm: LayerNorm,
}

impl Layer {
    /// Encoder layer `i` (`encoder.layer.{i}...`).
    fn load(weights: &Weights, i: usize, config: &Config) -> Result<Self> {
        let (h, inner) = (config.hidden_size, config.intermediate_size);
        let eps = config.layer_norm_eps as f32;
        let p = format!("encoder.layer.{i}");
        let dense =
            |name: &str, input, output| weights.dense(&format!("{p}.{name}"), input, output);
        let norm = |name: &str| weights.layer_norm(&format!("{p}.{name}"), h, eps);
        Ok(Layer {
            qkv: fused_qkv(
                dense("attention.self.query", h, h)?,
                dense("attention.self.key", h, h)?,
                dense("attention.self.value", h, h)?,
            ),
            attention_out: dense("attention.output.dense", h, h)?,
            attention_norm: norm("attention.output.LayerNorm")?,
            intermediate: dense("intermediate.dense", h, inner)?,
            output: dense("output.dense", inner, h)?,
            output_norm: norm("output.LayerNorm")?,
        })
    }
}

/// A BERT encoder for inference on the CPU, loaded from Hugging Face weights.
pub struct PackedBert {
    word_embeddings: Vec<f32>,
    position_embeddings: Vec<f32>,
    /// Row 0 of the token-type table: sentence encoders read one segment.
    token_type_embedding: Vec<f32>,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
    hidden: usize,
    heads: usize,
    vocab: usize,
    max_positions: usize,
    activation: HiddenAct,
}

/// Where a [`PackedBert`]'s weights come from, for its error lines.
#[derive(Clone, Copy)]
pub enum WeightsSource<'a> {
    File(&'a Path),
    /// A fine-tuned encoder's current weights.
    Snapshot,
}

impl WeightsSource<'_> {
    fn error(self, message: String) -> Error {
        match self {
            WeightsSource::File(path) => Error::file(path, message),
            WeightsSource::Snapshot => {
                Error::Config(format!("the fine-tuned encoder's weights: {message}"))
            }
        }
    }
}

/// The prefix of a checkpoint's encoder tensors, chosen once for all of them: none in a
/// sentence encoder's file (`embeddings...`), the model type's in a `BertForX` checkpoint
/// (`bert.embeddings...`).
pub fn encoder_prefix(tensors: &HashMap<String, Tensor>, model_type: Option<&str>) -> String {
    const PROBE: &str = "embeddings.word_embeddings.weight";
    if tensors.contains_key(PROBE) {
        return String::new();
    }
    ["bert", model_type.unwrap_or("bert")]
        .into_iter()
        .map(|p| format!("{p}."))
        .find(|p| tensors.contains_key(&format!("{p}{PROBE}")))
        .unwrap_or_default()
}

/// Tensors read by Hugging Face name under one prefix.
struct Weights<'a> {
    tensors: HashMap<String, Tensor>,
    prefix: String,
    source: WeightsSource<'a>,
}

impl Weights<'_> {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        Ok(host_values(&self.tensor(name, shape)?)?)
    }

    /// The tensor `name` as `f32`, checked against the shape the config implies.
    fn tensor(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let full = format!("{}{name}", self.prefix);
        let tensor = self
            .tensors
            .get(&full)
            .ok_or_else(|| self.source.error(format!("no tensor `{full}`")))?;
        if tensor.dims() != shape {
            return Err(self.source.error(format!(
                "tensor `{full}` has shape {:?}, the config implies {shape:?}",
                tensor.dims()
            )));
        }
        Ok(tensor.to_dtype(DType::F32)?)
    }

    /// A torch `Linear` (`weight [output, input]`, `bias [output]`), stored transposed.
    fn dense(&self, name: &str, input: usize, output: usize) -> Result<Dense> {
        let weight = self.tensor(&format!("{name}.weight"), &[output, input])?;
        Ok(Dense {
            weight_t: host_values(&weight.t()?)?,
            bias: self.get(&format!("{name}.bias"), &[output])?,
            input,
            output,
        })
    }

    fn layer_norm(&self, name: &str, size: usize, eps: f32) -> Result<LayerNorm> {
        Ok(LayerNorm {
            gamma: self.get(&format!("{name}.weight"), &[size])?,
            beta: self.get(&format!("{name}.bias"), &[size])?,
            eps,
        })
    }
}

/// Query, key and value linears as one `[H, 3H]` product.
fn fused_qkv(q: Dense, k: Dense, v: Dense) -> Dense {
    let (input, h) = (q.input, q.output);
    let mut weight_t = Vec::with_capacity(input * 3 * h);
    for i in 0..input {
        for part in [&q, &k, &v] {
            weight_t.extend_from_slice(&part.weight_t[i * h..(i + 1) * h]);
        }
    }
    Dense {
        weight_t,
        bias: [q.bias, k.bias, v.bias].concat(),
        input,
        output: 3 * h,
    }
}

impl PackedBert {
    /// The BERT of `config` with the weights of a safetensors file.
    pub fn load(config: &Config, weights_path: &Path) -> Result<Self> {
        let tensors = candle_core::safetensors::load(weights_path, &Device::Cpu)
            .map_err(|e| Error::file(weights_path, e.to_string()))?;
        Self::from_tensors(config, tensors, WeightsSource::File(weights_path))
    }

    /// The BERT of `config` with weights by Hugging Face name.
    pub fn from_tensors(
        config: &Config,
        tensors: HashMap<String, Tensor>,
        source: WeightsSource,
    ) -> Result<Self> {
        let h = config.hidden_size;
        let heads = config.num_attention_heads;
        if h == 0 || heads == 0 || !h.is_multiple_of(heads) || config.type_vocab_size == 0 {
            return Err(source.error(format!(
                "impossible BERT config: hidden size {h}, {heads} attention heads, {} token types",
                config.type_vocab_size
            )));
        }
        let weights = Weights {
            prefix: encoder_prefix(&tensors, config.model_type.as_deref()),
            tensors,
            source,
        };
        let eps = config.layer_norm_eps as f32;
        let token_types = weights.get(
            "embeddings.token_type_embeddings.weight",
            &[config.type_vocab_size, h],
        )?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| Layer::load(&weights, i, config))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            word_embeddings: weights
                .get("embeddings.word_embeddings.weight", &[config.vocab_size, h])?,
            position_embeddings: weights.get(
                "embeddings.position_embeddings.weight",
                &[config.max_position_embeddings, h],
            )?,
            token_type_embedding: token_types[..h].to_vec(),
            embedding_norm: weights.layer_norm("embeddings.LayerNorm", h, eps)?,
            layers,
            hidden: h,
            heads,
            vocab: config.vocab_size,
            max_positions: config.max_position_embeddings,
            activation: config.hidden_act,
        })
    }

    /// The width of its vectors.
    pub fn hidden_size(&self) -> usize {
        self.hidden
    }

    /// Sentence-transformers' vectors of `posts` (token ids each, `[CLS]` and `[SEP]`
    /// included, no padding): the mean of the last hidden states over the post's tokens, then
    /// L2 normalisation. `[posts.len() * H]` row-major.
    pub fn embed(&self, posts: &[Vec<u32>]) -> Result<Vec<f32>> {
        let mut spans = Vec::with_capacity(posts.len());
        let mut rows = 0;
        for post in posts {
            if post.len() > self.max_positions {
                return Err(Error::Config(format!(
                    "a post of {} tokens is longer than the encoder's {} positions",
                    post.len(),
                    self.max_positions
                )));
            }
            if let Some(&id) = post.iter().find(|&&id| id as usize >= self.vocab) {
                return Err(Error::Config(format!(
                    "token id {id} is outside the encoder's vocabulary of {}",
                    self.vocab
                )));
            }
            spans.push(rows..rows + post.len());
            rows += post.len();
        }
        let mut x = self.embeddings(posts, rows);
        for layer in &self.layers {
            self.layer_forward(layer, &mut x, &spans);
        }
        Ok(self.mean_pool_normalised(&x, &spans))
    }

    fn embeddings(&self, posts: &[Vec<u32>], rows: usize) -> Vec<f32> {
        let h = self.hidden;
        let mut x = vec![0f32; rows * h];
        let mut row_chunks = x.chunks_exact_mut(h);
        for post in posts {
            for (position, &id) in post.iter().enumerate() {
                let row = row_chunks.next().expect("one row per token");
                let word = &self.word_embeddings[id as usize * h..(id as usize + 1) * h];
                let pos = &self.position_embeddings[position * h..(position + 1) * h];
                for (j, v) in row.iter_mut().enumerate() {
                    *v = word[j] + self.token_type_embedding[j] + pos[j];
                }
            }
        }
        self.embedding_norm.forward_in_place(&mut x);
        x
    }

    /// Rows per parallel block: about four blocks per thread, at most [`MAX_ROW_BLOCK`].
    fn row_block(rows: usize) -> usize {
        rows.div_ceil(4 * rayon::current_num_threads())
            .clamp(16, MAX_ROW_BLOCK)
    }

    fn layer_forward(&self, layer: &Layer, x: &mut [f32], spans: &[Range<usize>]) {
        let h = self.hidden;
        let rows = x.len() / h;
        let block = Self::row_block(rows);
        let mut qkv = vec![0f32; rows * 3 * h];
        qkv.par_chunks_mut(block * 3 * h)
            .zip(x.par_chunks(block * h))
            .for_each(|(dst, src)| layer.qkv.forward(src, dst));

        let mut context = vec![0f32; rows * h];
        let mut per_post = Vec::with_capacity(spans.len());
        let mut rest = context.as_mut_slice();
        for span in spans {
            let (post, tail) = rest.split_at_mut(span.len() * h);
            per_post.push((span.clone(), post));
            rest = tail;
        }
        per_post.into_par_iter().for_each(|(span, post_context)| {
            self.attend(&qkv[span.start * 3 * h..span.end * 3 * h], post_context)
        });

        x.par_chunks_mut(block * h)
            .zip(context.par_chunks(block * h))
            .for_each(|(x_block, context_block)| self.feed_forward(layer, x_block, context_block));
    }

    /// Multi-head self-attention of one post: `qkv [T, 3H]` to `context [T, H]`.
    fn attend(&self, qkv: &[f32], context: &mut [f32]) {
        let h = self.hidden;
        let t = qkv.len() / (3 * h);
        if t == 0 {
            return;
        }
        let d = h / self.heads;
        let scale = 1.0 / (d as f32).sqrt();
        let mut scores = vec![0f32; t * t];
        let mut probs = vec![0f32; t * t];
        for head in 0..self.heads {
            let (q, k, v) = (
                &qkv[head * d..],
                &qkv[h + head * d..],
                &qkv[2 * h + head * d..],
            );
            // scores = Q K^T: K is read transposed through its strides.
            sgemm(t, t, d, &mut scores, t, false, q, 3 * h, 1, k, 1, 3 * h);
            for (score_row, prob_row) in scores.chunks_exact(t).zip(probs.chunks_exact_mut(t)) {
                let top = fast_math::max(score_row);
                let total = fast_math::exp_shifted_sum(score_row, top, scale, prob_row);
                let inv = 1.0 / total;
                prob_row.iter_mut().for_each(|p| *p *= inv);
            }
            sgemm(
                t,
                d,
                t,
                &mut context[head * d..],
                h,
                false,
                &probs,
                t,
                1,
                v,
                3 * h,
                1,
            );
        }
    }

    /// The layer's second half on a block of rows, in place: attention output + residual +
    /// layer norm, then the feed-forward network + residual + layer norm.
    fn feed_forward(&self, layer: &Layer, x: &mut [f32], context: &[f32]) {
        let rows = x.len() / self.hidden;
        let mut attended = vec![0f32; x.len()];
        layer.attention_out.forward(context, &mut attended);
        attended.iter_mut().zip(x.iter()).for_each(|(a, r)| *a += r);
        layer.attention_norm.forward_in_place(&mut attended);

        let mut inner = vec![0f32; rows * layer.intermediate.output];
        layer.intermediate.forward(&attended, &mut inner);
        match self.activation {
            HiddenAct::Gelu => fast_math::gelu_erf_in_place(&mut inner),
            HiddenAct::GeluApproximate => fast_math::gelu_tanh_in_place(&mut inner),
            HiddenAct::Relu => inner.iter_mut().for_each(|v| *v = v.max(0.0)),
        }
        layer.output.forward(&inner, x);
        x.iter_mut().zip(&attended).for_each(|(o, a)| *o += a);
        layer.output_norm.forward_in_place(x);
    }

    fn mean_pool_normalised(&self, x: &[f32], spans: &[Range<usize>]) -> Vec<f32> {
        let h = self.hidden;
        let mut out = vec![0f32; spans.len() * h];
        for (pooled, span) in out.chunks_exact_mut(h).zip(spans) {
            for row in x[span.start * h..span.end * h].chunks_exact(h) {
                pooled.iter_mut().zip(row).for_each(|(p, v)| *p += v);
            }
            let count = (span.len() as f32).max(1e-9);
            pooled.iter_mut().for_each(|p| *p /= count);
            let norm = pooled.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            pooled.iter_mut().for_each(|p| *p /= norm);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::bert::read_config;
    use crate::encoder::minilm::testing::tiny_bert;
    use crate::encoder::minilm::{l2_normalize, load_bert_model, mean_pool};

    fn tiny() -> PackedBert {
        let dir = tempfile::tempdir().unwrap();
        tiny_bert(dir.path());
        let config = read_config(dir.path()).unwrap();
        PackedBert::load(&config, &dir.path().join("model.safetensors")).unwrap()
    }

    #[test]
    fn posts_of_any_length_and_empty_batches_encode() {
        let bert = tiny();
        assert!(bert.embed(&[]).unwrap().is_empty());
        // One token, an empty post (a zero vector, as sentence-transformers' clamp gives), and
        // a post at the position limit.
        let vectors = bert.embed(&[vec![2], vec![], vec![5; 32]]).unwrap();
        assert_eq!(vectors.len(), 3 * 8);
        let norm = |row: &[f32]| row.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm(&vectors[..8]) - 1.0).abs() < 1e-5);
        assert_eq!(norm(&vectors[8..16]), 0.0);
        assert!((norm(&vectors[16..]) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn ids_outside_the_vocabulary_and_overlong_posts_are_clear_errors() {
        let bert = tiny();
        let err = bert.embed(&[vec![2, 14, 3]]).unwrap_err().to_string();
        assert!(
            err.contains("token id 14 is outside the encoder's vocabulary of 14"),
            "{err}"
        );
        let err = bert.embed(&[vec![5; 33]]).unwrap_err().to_string();
        assert!(
            err.contains("longer than the encoder's 32 positions"),
            "{err}"
        );
    }

    /// candle-transformers' `BertModel` over one post at a time (no padding, no mask),
    /// mean-pooled and normalised.
    fn candle_vectors(config: &Config, weights: &Path, posts: &[Vec<u32>]) -> Vec<f32> {
        let model = load_bert_model(config, weights, &Device::Cpu).unwrap();
        let mut out = Vec::new();
        for post in posts {
            let ids = Tensor::new(post.as_slice(), &Device::Cpu)
                .unwrap()
                .unsqueeze(0)
                .unwrap();
            let mask = ids.ones_like().unwrap();
            let hidden = model
                .forward(&ids, &ids.zeros_like().unwrap(), Some(&mask))
                .unwrap();
            let pooled = l2_normalize(&mean_pool(&hidden, &mask).unwrap()).unwrap();
            out.extend(host_values(&pooled).unwrap());
        }
        out
    }

    #[test]
    fn every_activation_and_a_prefixed_checkpoint_match_candle_transformers() {
        let dir = tempfile::tempdir().unwrap();
        tiny_bert(dir.path());
        let mut config = read_config(dir.path()).unwrap();
        // The same weights named as a `BertForX` checkpoint names them.
        let plain = dir.path().join("model.safetensors");
        let prefixed = dir.path().join("prefixed.safetensors");
        let renamed: HashMap<String, Tensor> = candle_core::safetensors::load(&plain, &Device::Cpu)
            .unwrap()
            .into_iter()
            .map(|(name, t)| (format!("bert.{name}"), t))
            .collect();
        candle_core::safetensors::save(&renamed, &prefixed).unwrap();
        let posts = vec![vec![2, 5, 9, 3], vec![2, 3], vec![2, 7, 7, 7, 7, 11, 3]];
        for act in [HiddenAct::Gelu, HiddenAct::GeluApproximate, HiddenAct::Relu] {
            config.hidden_act = act;
            let reference = candle_vectors(&config, &plain, &posts);
            for weights in [&plain, &prefixed] {
                let ours = PackedBert::load(&config, weights)
                    .unwrap()
                    .embed(&posts)
                    .unwrap();
                for (a, b) in ours.iter().zip(&reference) {
                    assert!(
                        (a - b).abs() < 1e-5,
                        "{act:?} {}: {a} vs {b}",
                        weights.display()
                    );
                }
            }
        }
    }

    #[test]
    fn a_weights_file_of_another_shape_names_the_tensor() {
        let dir = tempfile::tempdir().unwrap();
        tiny_bert(dir.path());
        let mut config = read_config(dir.path()).unwrap();
        config.intermediate_size = 20;
        let err = PackedBert::load(&config, &dir.path().join("model.safetensors"))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("encoder.layer.0.intermediate.dense.weight"),
            "{err}"
        );
    }
}
