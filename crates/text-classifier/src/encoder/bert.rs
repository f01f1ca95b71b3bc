//! socgan's own BERT, for fine-tuning a pretrained sentence encoder with the classifier
//! (GAN-BERT trains the encoder together with the GAN).
//!
//! candle-transformers' `BertModel` normalises with `candle_nn::LayerNorm`, whose fused op has no
//! backward: every weight below the last layer norm would silently get no gradient. This BERT
//! reads the same safetensors (the names of a Hugging Face `BertModel`) into a [`ParamStore`],
//! normalises with `socgan_nn::LayerNorm` (a composition of differentiable ops), takes the
//! softmax through `candle_nn::ops::softmax` (composed, differentiable, unlike
//! `softmax_last_dim`), and adds dropout in training mode where BERT has it. In eval mode its
//! pooled vectors equal the frozen path's ([`super::minilm`]); a test and `cargo xtask
//! check-minilm` compare them.

use std::path::Path;

use candle_core::{Device, Module, Tensor, D};
use candle_nn::{Linear, VarBuilder};
use candle_transformers::models::bert::{Config, HiddenAct};
use gan_core::{Mode, ParamStore, SeededRng};
use socgan_nn::LayerNorm;

use super::minilm::{l2_normalize, mean_pool};
use super::packed_bert::{encoder_prefix, PackedBert, WeightsSource};
use crate::{Error, Result};

/// The token id of padded positions in [`TrainableBert`]'s inputs (where the tokenizer's
/// attention mask is 0): a tokenizer's own `[PAD]` id may also be typed inside a post.
pub const PADDING: u32 = u32::MAX;

/// `[B, T]` token ids of a padded batch, [`PADDING`] where the attention mask is 0.
pub fn padded_ids(encodings: &[tokenizers::Encoding], device: &Device) -> Result<Tensor> {
    let t = encodings.first().map_or(0, |e| e.get_ids().len());
    let ids: Vec<u32> = encodings
        .iter()
        .flat_map(|e| {
            e.get_ids()
                .iter()
                .zip(e.get_attention_mask())
                .map(|(&id, &m)| if m == 0 { PADDING } else { id })
        })
        .collect();
    Ok(Tensor::from_vec(ids, (encodings.len(), t), device)?)
}

/// A BERT encoder with trainable weights, pooled as sentence-transformers pools.
pub struct TrainableBert {
    config: Config,
    params: ParamStore,
    embeddings: Embeddings,
    layers: Vec<Layer>,
    dropout: f32,
    pub dim: usize,
}

struct Embeddings {
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    norm: LayerNorm,
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
    heads: usize,
    act: HiddenAct,
}

impl TrainableBert {
    /// The BERT of `config` (config.json) with the weights of `weights` (model.safetensors).
    pub fn load(config: &Config, weights: &Path, device: &Device) -> Result<Self> {
        let mut params = ParamStore::new(device);
        // The initial values are overwritten by the checkpoint below; the RNG only satisfies
        // the builder.
        let mut rng = SeededRng::new(0);
        let (embeddings, layers) = {
            let vb = params.var_builder(&mut rng);
            build(config, vb).map_err(|e| Error::file(weights, e.to_string()))?
        };
        let tensors = candle_core::safetensors::load(weights, device)
            .map_err(|e| Error::file(weights, e.to_string()))?;
        // Checkpoints of `BertForPreTraining` and kin name the encoder `bert.`.
        let prefix = encoder_prefix(&tensors, config.model_type.as_deref());
        params
            .load_with_prefix(&tensors, &prefix, weights)
            .map_err(|e| Error::file(weights, e.to_string()))?;
        Ok(Self {
            config: config.clone(),
            params,
            embeddings,
            layers,
            dropout: config.hidden_dropout_prob as f32,
            dim: config.hidden_size,
        })
    }

    pub fn params(&self) -> &ParamStore {
        &self.params
    }

    /// Unit-length sentence vectors `[B, H]` of `[B, T]` token ids padded on the right with
    /// [`PADDING`] (the batch is cut to its longest post first, so padding to a global length
    /// costs nothing). In eval mode the weights are detached: no graph is kept.
    pub fn forward(&self, ids: &Tensor, mode: &mut Mode) -> Result<Tensor> {
        if matches!(mode, Mode::Eval) {
            return self.detached().pooled(ids, mode);
        }
        self.pooled(ids, mode)
    }

    fn pooled(&self, ids: &Tensor, mode: &mut Mode) -> Result<Tensor> {
        let mask = ids.ne(PADDING)?.to_dtype(candle_core::DType::U32)?;
        let longest = (mask.sum(1)?.max(0)?.to_scalar::<u32>()? as usize).max(1);
        let mask = mask.narrow(1, 0, longest)?;
        // Padded positions read row 0 of the embeddings; the mask keeps them out of everything.
        let ids = mask.where_cond(&ids.narrow(1, 0, longest)?, &mask.zeros_like()?)?;
        let hidden = self.hidden_states(&ids, &mask, mode)?;
        l2_normalize(&mean_pool(&hidden, &mask)?)
    }

    /// Its current weights in packed CPU inference ([`PackedBert`]): the same function as
    /// [`Self::forward`] in eval mode, several times faster, for evaluating a fine-tuned
    /// encoder on thousands of posts. Built once per evaluation (it copies the weights).
    pub fn packed_snapshot(&self) -> Result<PackedBert> {
        let tensors = self
            .params
            .named_vars()
            .map(|(name, var)| (name.to_string(), var.as_tensor().clone()))
            .collect();
        PackedBert::from_tensors(&self.config, tensors, WeightsSource::Snapshot)
    }

    /// The same network on detached weights.
    fn detached(&self) -> Self {
        let linear = |l: &Linear| Linear::new(l.weight().detach(), l.bias().map(Tensor::detach));
        let e = &self.embeddings;
        Self {
            config: self.config.clone(),
            params: self.params.clone(),
            embeddings: Embeddings {
                word: e.word.detach(),
                position: e.position.detach(),
                token_type: e.token_type.detach(),
                norm: e.norm.detached(),
            },
            layers: self
                .layers
                .iter()
                .map(|l| Layer {
                    query: linear(&l.query),
                    key: linear(&l.key),
                    value: linear(&l.value),
                    attention_out: linear(&l.attention_out),
                    attention_norm: l.attention_norm.detached(),
                    intermediate: linear(&l.intermediate),
                    output: linear(&l.output),
                    output_norm: l.output_norm.detached(),
                    heads: l.heads,
                    act: l.act,
                })
                .collect(),
            dropout: self.dropout,
            dim: self.dim,
        }
    }

    /// The last layer's hidden states `[B, T, H]` (BERT with token type 0 everywhere).
    fn hidden_states(&self, ids: &Tensor, mask: &Tensor, mode: &mut Mode) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let e = &self.embeddings;
        let words = e
            .word
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((b, t, self.dim))?;
        let positions = e.position.narrow(0, 0, t)?;
        let types = e.token_type.narrow(0, 0, 1)?;
        let x = words.broadcast_add(&positions)?.broadcast_add(&types)?;
        let mut x = mode.dropout(&e.norm.forward(&x)?, self.dropout)?;
        // Padded keys get a large negative score (candle-transformers and transformers use the
        // dtype's minimum; any value whose exponential is 0 gives the same softmax).
        let bias = ((mask.to_dtype(x.dtype())? - 1.0)? * 1e9)?
            .unsqueeze(1)?
            .unsqueeze(1)?;
        for layer in &self.layers {
            x = layer.forward(&x, &bias, self.dropout, mode)?;
        }
        Ok(x)
    }
}

fn build(config: &Config, vb: VarBuilder) -> candle_core::Result<(Embeddings, Vec<Layer>)> {
    let h = config.hidden_size;
    let eps = config.layer_norm_eps;
    let ln = |vb: VarBuilder| {
        LayerNorm::new(h, eps, vb).map_err(|e| candle_core::Error::Msg(e.to_string()))
    };
    let e = vb.pp("embeddings");
    let embeddings = Embeddings {
        word: e.get((config.vocab_size, h), "word_embeddings.weight")?,
        position: e.get(
            (config.max_position_embeddings, h),
            "position_embeddings.weight",
        )?,
        token_type: e.get((config.type_vocab_size, h), "token_type_embeddings.weight")?,
        norm: ln(e.pp("LayerNorm"))?,
    };
    let mut layers = Vec::with_capacity(config.num_hidden_layers);
    for i in 0..config.num_hidden_layers {
        let l = vb.pp(format!("encoder.layer.{i}"));
        let a = l.pp("attention");
        layers.push(Layer {
            query: candle_nn::linear(h, h, a.pp("self.query"))?,
            key: candle_nn::linear(h, h, a.pp("self.key"))?,
            value: candle_nn::linear(h, h, a.pp("self.value"))?,
            attention_out: candle_nn::linear(h, h, a.pp("output.dense"))?,
            attention_norm: ln(a.pp("output.LayerNorm"))?,
            intermediate: candle_nn::linear(
                h,
                config.intermediate_size,
                l.pp("intermediate.dense"),
            )?,
            output: candle_nn::linear(config.intermediate_size, h, l.pp("output.dense"))?,
            output_norm: ln(l.pp("output.LayerNorm"))?,
            heads: config.num_attention_heads,
            act: config.hidden_act,
        });
    }
    Ok((embeddings, layers))
}

impl Layer {
    fn forward(&self, x: &Tensor, bias: &Tensor, dropout: f32, mode: &mut Mode) -> Result<Tensor> {
        let attended = self.attention(x, bias, dropout, mode)?;
        let attended = mode.dropout(&self.attention_out.forward(&attended)?, dropout)?;
        let x = self.attention_norm.forward(&(attended + x)?)?;
        let inner = self.intermediate.forward(&x)?;
        let inner = match self.act {
            HiddenAct::Gelu => inner.gelu_erf()?,
            HiddenAct::GeluApproximate => inner.gelu()?,
            HiddenAct::Relu => inner.relu()?,
        };
        let out = mode.dropout(&self.output.forward(&inner)?, dropout)?;
        Ok(self.output_norm.forward(&(out + x)?)?)
    }

    /// Multi-head scaled dot-product self-attention, heads concatenated `[B, T, H]`.
    fn attention(
        &self,
        x: &Tensor,
        bias: &Tensor,
        dropout: f32,
        mode: &mut Mode,
    ) -> Result<Tensor> {
        let (b, t, h) = x.dims3()?;
        let head_dim = h / self.heads;
        let split = |y: Tensor| -> candle_core::Result<Tensor> {
            y.reshape((b, t, self.heads, head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split(self.query.forward(x)?)?;
        let k = split(self.key.forward(x)?)?;
        let v = split(self.value.forward(x)?)?;
        let scores = (q.matmul(&k.t()?)? / (head_dim as f64).sqrt())?.broadcast_add(bias)?;
        let weights = candle_nn::ops::softmax(&scores, D::Minus1)?;
        let weights = mode.dropout(&weights, dropout)?;
        Ok(weights.matmul(&v)?.transpose(1, 2)?.reshape((b, t, h))?)
    }
}

/// Reads `config.json` of a BERT directory.
pub fn read_config(dir: &Path) -> Result<Config> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::file(&path, e.to_string()))?;
    let config: Config = serde_json::from_str(&text)
        .map_err(|e| Error::file(&path, format!("not a BERT config: {e}")))?;
    // Shapes a model could not have: each one would divide by zero or split a vector unevenly.
    let c = &config;
    if c.hidden_size == 0
        || c.num_attention_heads == 0
        || !c.hidden_size.is_multiple_of(c.num_attention_heads)
        || c.intermediate_size == 0
        || c.max_position_embeddings == 0
    {
        return Err(Error::file(
            &path,
            format!(
                "not a usable BERT config: hidden_size {} must be a positive multiple of num_attention_heads {}, intermediate_size and max_position_embeddings positive",
                c.hidden_size, c.num_attention_heads
            ),
        ));
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::minilm::testing::{tiny_bert, tiny_bert_texts as texts};
    use crate::encoder::minilm::{load_tokenizer, MiniLm, MiniLmConfig};
    use gan_core::gradient_flow::check_gradient_flow;
    use socgan_nn::gemm::host_values;

    fn load(dir: &Path) -> TrainableBert {
        let config = read_config(dir).unwrap();
        TrainableBert::load(&config, &dir.join("model.safetensors"), &Device::Cpu).unwrap()
    }

    fn ids(dir: &Path) -> Tensor {
        let tokenizer = load_tokenizer(&dir.join("tokenizer.json"), 16).unwrap();
        let encodings = tokenizer.encode_batch(texts(), true).unwrap();
        padded_ids(&encodings, &Device::Cpu).unwrap()
    }

    #[test]
    fn in_eval_mode_it_pools_what_the_frozen_encoder_pools() {
        let dir = tempfile::tempdir().unwrap();
        tiny_bert(dir.path());
        let frozen = MiniLm::load(
            &MiniLmConfig {
                model: dir.path().display().to_string(),
                max_seq_length: 16,
                batch_size: 2,
                cache_dir: None,
            },
            &Device::Cpu,
        )
        .unwrap()
        .embed(&texts(), |_| {})
        .unwrap();
        let own = host_values(
            &load(dir.path())
                .forward(&ids(dir.path()), &mut Mode::Eval)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(own.len(), frozen.len());
        for (a, b) in own.iter().zip(&frozen) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn its_packed_snapshot_computes_the_eval_forward_of_its_current_weights() {
        let dir = tempfile::tempdir().unwrap();
        tiny_bert(dir.path());
        let bert = load(dir.path());
        // Weights moved away from the file's, as fine-tuning moves them.
        let (_, var) = bert
            .params()
            .named_vars()
            .find(|(name, _)| *name == "encoder.layer.0.intermediate.dense.weight")
            .unwrap();
        let moved = (var.as_tensor() * 3.0).unwrap();
        var.set(&moved).unwrap();
        let encoder = crate::encoder::Encoder::Bert(Box::new(bert));
        let graph =
            host_values(&encoder.forward(&ids(dir.path()), &mut Mode::Eval).unwrap()).unwrap();
        let inference = encoder.for_inference().unwrap();
        assert!(matches!(
            inference,
            crate::encoder::InferenceEncoder::PackedBert(_)
        ));
        let packed = host_values(&inference.forward(&ids(dir.path())).unwrap()).unwrap();
        assert_eq!(graph.len(), packed.len());
        for (a, b) in graph.iter().zip(&packed) {
            assert!((a - b).abs() < 1e-5, "graph {a} vs packed {b}");
        }
        // A row of padding only is an empty post: a zero vector, not a panic.
        let padding = Tensor::new(&[[PADDING, PADDING]], &Device::Cpu).unwrap();
        let empty = host_values(&inference.forward(&padding).unwrap()).unwrap();
        assert_eq!(empty, vec![0.0; 8]);
    }

    #[test]
    fn every_weight_gets_a_gradient_through_the_layer_norms() {
        let dir = tempfile::tempdir().unwrap();
        tiny_bert(dir.path());
        let bert = load(dir.path());
        let mut rng = SeededRng::new(3);
        let pooled = bert
            .forward(&ids(dir.path()), &mut Mode::Train(&mut rng))
            .unwrap();
        // A loss that is not constant under the final L2 normalisation.
        let target = rng.normal(pooled.dims(), 0.0, 1.0, &Device::Cpu).unwrap();
        let loss = (pooled - target).unwrap().sqr().unwrap().sum_all().unwrap();
        check_gradient_flow(&loss, bert.params()).unwrap();
    }
}
