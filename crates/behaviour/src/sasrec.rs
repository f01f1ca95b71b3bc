//! SASRec (Kang & McAuley, ICDM 2018): causal self-attention over a user's item history, as the
//! PyTorch port pmixer/SASRec.pytorch builds it: item embeddings scaled by `sqrt(hidden)` plus a
//! learned embedding of each slot, dropout, then blocks of
//! `q = LN(x); x = q + attention(q, x, x); x = LN(x); x = x + FFN(x)` (pre-normalised queries,
//! PyTorch's multi-head attention with dropout on the attention weights, a point-wise
//! feed-forward network with dropout after both layers), padded slots zeroed after every block,
//! a last layer norm. Every layer norm is `socgan_nn::LayerNorm` (eps 1e-8), whose gradients
//! reach its parameters. Two departures: padded keys are masked out of attention, as Kang's
//! TensorFlow code masks them (pmixer lets real slots attend to padded rows, whose keys and values
//! are the projection biases, which changes its predictions slightly), and a batch is cut to its
//! longest history, which changes nothing once padded keys are masked but saves work: the
//! `sasrec-epoch` workload does less than the pmixer peer's full 50-slot windows.
//!
//! Initialisation follows pmixer: Xavier-normal for every matrix (embeddings included),
//! PyTorch's defaults for vectors (zero attention biases, the feed-forward biases uniform in
//! `+-1/sqrt(fan_in)`, layer norms at one and zero).

use candle_core::{Module, Tensor, D};
use gan_core::{Init, Mode, ParamStore, SeededRng};
use serde::{Deserialize, Serialize};
use socgan_nn::LayerNorm;

use crate::attention_kernel::{masked_attention, AttentionShape};
use crate::batches::{SequenceBatch, PADDING};
use crate::{Result, GRADIENTS};

/// SASRec's layer-norm epsilon (the reference code's 1e-8).
const LAYER_NORM_EPS: f64 = 1e-8;

/// Sizes and dropout; `Default` is the paper's setting for the sparse Amazon sets (hidden 50,
/// 2 blocks, 1 head, 50 items, dropout 0.5); MovieLens uses 200 items and dropout 0.2.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SasRecConfig {
    pub hidden: usize,
    pub blocks: usize,
    pub heads: usize,
    /// The newest items of a history the model reads.
    pub max_length: usize,
    pub dropout: f32,
}

impl Default for SasRecConfig {
    fn default() -> Self {
        Self {
            hidden: 50,
            blocks: 2,
            heads: 1,
            max_length: 50,
            dropout: 0.5,
        }
    }
}

impl SasRecConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(crate::Error::Config(format!("model: {m}")));
        if self.hidden == 0 || self.blocks == 0 || self.heads == 0 || self.max_length == 0 {
            return bad("hidden, blocks, heads and max_length must be at least 1");
        }
        if !self.hidden.is_multiple_of(self.heads) {
            return bad("hidden must be a multiple of heads");
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad("dropout must be in [0, 1)");
        }
        Ok(())
    }
}

/// `x @ w^T + b` on `[rows, in]` activations, as one fused op ([`socgan_nn::dense`]): composed,
/// a layer was three graph nodes, each with a zero-filled gradient buffer in the backward pass.
struct Dense {
    weight: Tensor,
    bias: Tensor,
}

impl Dense {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(socgan_nn::dense(x, &self.weight, &self.bias, GRADIENTS)?)
    }
}

/// How attention is masked: the fused CPU kernel takes which slots hold an item, the candle
/// composition an additive `[batch, 1, length, length]` mask.
enum AttentionMask {
    Fused(Vec<bool>),
    Additive(Tensor),
}

struct Block {
    attention_norm: LayerNorm,
    query: Dense,
    key: Dense,
    value: Dense,
    output: Dense,
    forward_norm: LayerNorm,
    inner: Dense,
    outer: Dense,
}

/// The SASRec network over `num_items` items (ids `1..=num_items`, 0 padding).
pub struct SasRec {
    config: SasRecConfig,
    /// `[num_items + 1, hidden]`: input embeddings, and the item vectors scores are dot products
    /// with.
    items: Tensor,
    /// `[max_length, hidden]`, one row per slot of the window.
    positions: Tensor,
    blocks: Vec<Block>,
    last_norm: LayerNorm,
}

fn xavier_normal(fan_in: usize, fan_out: usize) -> Init {
    crate::model::xavier(fan_in, fan_out, true)
}

impl SasRec {
    pub fn new(
        config: &SasRecConfig,
        num_items: usize,
        store: &mut ParamStore,
        rng: &mut SeededRng,
    ) -> Result<Self> {
        config.validate()?;
        let h = config.hidden;
        let items = store.create(
            "sasrec.items",
            (num_items + 1, h),
            xavier_normal(num_items + 1, h),
            rng,
        )?;
        let positions = store.create(
            "sasrec.positions",
            (config.max_length, h),
            xavier_normal(config.max_length, h),
            rng,
        )?;
        let blocks = (0..config.blocks)
            .map(|i| Block::new(&format!("sasrec.block{i}"), h, store, rng))
            .collect::<Result<Vec<_>>>()?;
        let last_norm = layer_norm("sasrec.last_norm", h, store, rng)?;
        Ok(Self {
            config: config.clone(),
            items,
            positions,
            blocks,
            last_norm,
        })
    }

    /// `[rows, hidden]`: the model's output at each of `batch.rows`.
    ///
    /// Activations stay `[batch * length, hidden]` outside attention: on 3-D inputs candle's
    /// `Linear` broadcasts its weight over the batch, and the backward pass then sums a
    /// `[batch, hidden, hidden]` gradient per layer.
    pub fn forward_rows(&self, batch: &SequenceBatch, mode: &mut Mode) -> Result<Tensor> {
        let (n, h) = (batch.batch * batch.length, self.config.hidden);
        let device = self.items.device();
        let items = self.items.index_select(&batch.items.flatten_all()?, 0)?;
        let slots = self
            .positions
            .index_select(&batch.positions.flatten_all()?, 0)?;
        let x = ((items * (h as f64).sqrt())? + slots)?;
        let present = batch.present.reshape((n, 1))?;
        let mut x = mode
            .dropout(&x, self.config.dropout)?
            .broadcast_mul(&present)?;
        // The fused attention's backward is first order only, which is all SASRec needs.
        let fused = GRADIENTS.allows_fused(&x, &self.items);
        let mask = if fused {
            AttentionMask::Fused(batch.item_ids.iter().map(|&i| i != PADDING).collect())
        } else {
            AttentionMask::Additive(batch.causal_mask(device)?)
        };
        for block in &self.blocks {
            x = block.forward(&x, batch, &mask, &present, &self.config, mode)?;
        }
        let x = self.last_norm.forward(&x)?;
        Ok(x.index_select(&batch.row_index(device)?, 0)?)
    }

    /// `[num_items + 1, hidden]` item vectors (row 0 is padding).
    pub fn item_vectors(&self) -> &Tensor {
        &self.items
    }
}

fn layer_norm(
    name: &str,
    dim: usize,
    store: &mut ParamStore,
    rng: &mut SeededRng,
) -> Result<LayerNorm> {
    Ok(LayerNorm::new(
        dim,
        LAYER_NORM_EPS,
        store.var_builder(rng).pp(name),
    )?)
}

impl Block {
    fn new(name: &str, h: usize, store: &mut ParamStore, rng: &mut SeededRng) -> Result<Self> {
        // PyTorch's attention keeps query, key and value in one [3h, h] matrix, which Xavier
        // initialises as a whole; its biases start at zero.
        let attention =
            |part: &str, fan_out: usize, store: &mut ParamStore, rng: &mut SeededRng| {
                let w = store.create(
                    &format!("{name}.{part}.weight"),
                    (h, h),
                    xavier_normal(h, fan_out),
                    rng,
                )?;
                let bias = store.create(
                    &format!("{name}.{part}.bias"),
                    (1, h),
                    Init::Const(0.0),
                    rng,
                )?;
                Ok::<_, crate::Error>(Dense { weight: w, bias })
            };
        // A kernel-1 convolution: Xavier on the [h, h, 1] kernel, the bias PyTorch's default.
        let pointwise = |part: &str, store: &mut ParamStore, rng: &mut SeededRng| {
            let w = store.create(
                &format!("{name}.{part}.weight"),
                (h, h),
                xavier_normal(h, h),
                rng,
            )?;
            let bias = store.create(
                &format!("{name}.{part}.bias"),
                (1, h),
                crate::model::default_bias(h),
                rng,
            )?;
            Ok::<_, crate::Error>(Dense { weight: w, bias })
        };
        Ok(Self {
            attention_norm: layer_norm(&format!("{name}.attention_norm"), h, store, rng)?,
            query: attention("query", 3 * h, store, rng)?,
            key: attention("key", 3 * h, store, rng)?,
            value: attention("value", 3 * h, store, rng)?,
            output: attention("output", h, store, rng)?,
            forward_norm: layer_norm(&format!("{name}.forward_norm"), h, store, rng)?,
            inner: pointwise("inner", store, rng)?,
            outer: pointwise("outer", store, rng)?,
        })
    }

    /// One block on `[batch * length, hidden]` activations.
    fn forward(
        &self,
        x: &Tensor,
        batch: &SequenceBatch,
        mask: &AttentionMask,
        present: &Tensor,
        config: &SasRecConfig,
        mode: &mut Mode,
    ) -> Result<Tensor> {
        let queries = self.attention_norm.forward(x)?;
        let attended = self.attention(&queries, x, batch, mask, config, mode)?;
        let x = self.forward_norm.forward(&(queries + attended)?)?;
        let inner = mode
            .dropout(&self.inner.forward(&x)?, config.dropout)?
            .relu()?;
        let outer = mode.dropout(&self.outer.forward(&inner)?, config.dropout)?;
        Ok((outer + x)?.broadcast_mul(present)?)
    }

    /// Multi-head scaled dot-product attention, masked as [`SequenceBatch::causal_mask`], with
    /// dropout on the weights: the fused kernel on the CPU, candle ops elsewhere.
    fn attention(
        &self,
        queries: &Tensor,
        x: &Tensor,
        batch: &SequenceBatch,
        mask: &AttentionMask,
        config: &SasRecConfig,
        mode: &mut Mode,
    ) -> Result<Tensor> {
        let q = self.query.forward(queries)?;
        let k = self.key.forward(x)?;
        let v = self.value.forward(x)?;
        let out = match mask {
            AttentionMask::Fused(present) => {
                let shape = AttentionShape {
                    batch: batch.batch,
                    length: batch.length,
                    heads: config.heads,
                    hidden: config.hidden,
                };
                let dropout = mode.dropout_multipliers(shape.weight_count(), config.dropout);
                masked_attention(&q, &k, &v, shape, present.clone(), dropout)?
            }
            AttentionMask::Additive(mask) => {
                composed_attention(&q, &k, &v, batch, mask, config, mode)?
            }
        };
        self.output.forward(&out)
    }
}

/// [`Block::attention`]'s core from candle ops (`mask` additive, `[batch, 1, length, length]`):
/// what runs off the CPU, and the reference the fused kernel is tested against.
pub(crate) fn composed_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    batch: &SequenceBatch,
    mask: &Tensor,
    config: &SasRecConfig,
    mode: &mut Mode,
) -> Result<Tensor> {
    let (b, l, h) = (batch.batch, batch.length, q.dim(1)?);
    let heads = config.heads;
    let split = |t: &Tensor| -> candle_core::Result<Tensor> {
        t.reshape((b, l, heads, h / heads))?
            .transpose(1, 2)?
            .contiguous()
    };
    let (q, k, v) = (split(q)?, split(k)?, split(v)?);
    let scale = 1.0 / ((h / heads) as f64).sqrt();
    let scores = (q.matmul(&k.t()?.contiguous()?)? * scale)?.broadcast_add(mask)?;
    // The composed softmax: candle's `softmax_last_dim` has no backward.
    let weights = candle_nn::ops::softmax(&scores, D::Minus1)?;
    let weights = mode.dropout(&weights, config.dropout)?;
    Ok(weights.matmul(&v)?.transpose(1, 2)?.reshape((b * l, h))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn fused_attention_matches_the_composition_with_dropout_and_padding() {
        let d = &Device::Cpu;
        let histories: Vec<Vec<u32>> =
            vec![vec![3, 1, 4, 1, 5, 9, 2], vec![6, 5], vec![3, 5, 8, 9]];
        let refs: Vec<&[u32]> = histories.iter().map(|h| h.as_slice()).collect();
        let batch = SequenceBatch::for_training(&refs, 10, d).unwrap();
        for heads in [1, 2] {
            let config = SasRecConfig {
                hidden: 8,
                heads,
                dropout: 0.3,
                ..SasRecConfig::default()
            };
            let n = batch.batch * batch.length;
            let mut rng = SeededRng::new(heads as u64);
            let var = |rng: &mut SeededRng| {
                Var::from_tensor(&rng.normal((n, 8), 0.0, 1.0, d).unwrap()).unwrap()
            };
            let (q, k, v) = (var(&mut rng), var(&mut rng), var(&mut rng));
            let shape = AttentionShape {
                batch: batch.batch,
                length: batch.length,
                heads,
                hidden: 8,
            };
            let present = batch.item_ids.iter().map(|&i| i != PADDING).collect();
            let mut fused_rng = SeededRng::new(7);
            let dropout = Mode::Train(&mut fused_rng)
                .dropout_multipliers(shape.weight_count(), config.dropout);
            let fused = masked_attention(&q, &k, &v, shape, present, dropout).unwrap();
            let mask = batch.causal_mask(d).unwrap();
            let mut plain_rng = SeededRng::new(7);
            let mut mode = Mode::Train(&mut plain_rng);
            let plain = composed_attention(&q, &k, &v, &batch, &mask, &config, &mut mode).unwrap();
            assert!(socgan_nn::equivalence::max_abs_diff(&fused, &plain) < 1e-5);
            let probe = rng.normal((n, 8), 0.0, 1.0, d).unwrap();
            let vars = [&q, &k, &v];
            let diffs = socgan_nn::equivalence::max_gradient_diffs(&fused, &plain, &probe, &vars);
            for (name, diff) in ["q", "k", "v"].iter().zip(diffs) {
                assert!(
                    diff < 1e-5,
                    "heads {heads}: gradient of {name} differs by {diff}"
                );
            }
        }
    }
}
