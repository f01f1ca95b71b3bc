//! GRU4Rec (Hidasi et al., ICLR 2016) as RecBole trains it for next-item prediction: item
//! embeddings with dropout, one GRU layer over the history, a dense layer back to the embedding
//! width, scores as dot products with the (tied) item embeddings.
//!
//! The GRU (PyTorch's gate equations) runs as one fused op over the whole batch
//! ([`crate::gru_kernel`]), on input projections hoisted out of the time loop. Padded slots
//! (which come first, histories being right-aligned) leave the state at zero.

use candle_core::{Module, Tensor};
use candle_nn::Linear;
use gan_core::{Mode, ParamStore, SeededRng};
use serde::{Deserialize, Serialize};

use crate::batches::SequenceBatch;
use crate::gru_kernel::gru_sequence;
use crate::Result;

/// Sizes and dropout; `Default` is RecBole's GRU4Rec (embedding 64, hidden 128, dropout 0.3),
/// reading the newest 50 items.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Gru4RecConfig {
    pub embedding: usize,
    pub hidden: usize,
    pub max_length: usize,
    pub dropout: f32,
}

impl Default for Gru4RecConfig {
    fn default() -> Self {
        Self {
            embedding: 64,
            hidden: 128,
            max_length: 50,
            dropout: 0.3,
        }
    }
}

impl Gru4RecConfig {
    pub fn validate(&self) -> Result<()> {
        if self.embedding == 0 || self.hidden == 0 || self.max_length == 0 {
            return Err(crate::Error::Config(
                "model: embedding, hidden and max_length must be at least 1".into(),
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(crate::Error::Config(
                "model: dropout must be in [0, 1)".into(),
            ));
        }
        Ok(())
    }
}

/// The GRU4Rec network over `num_items` items.
pub struct Gru4Rec {
    config: Gru4RecConfig,
    /// `[num_items + 1, embedding]`, tied input and output item vectors.
    items: Tensor,
    /// `[embedding, 3 * hidden]` and `[hidden, 3 * hidden]`, gates in PyTorch's order r, z, n.
    input_weight: Tensor,
    hidden_weight: Tensor,
    input_bias: Tensor,
    hidden_bias: Tensor,
    dense: Linear,
}

use crate::model::{default_bias, xavier};

impl Gru4Rec {
    pub fn new(
        config: &Gru4RecConfig,
        num_items: usize,
        store: &mut ParamStore,
        rng: &mut SeededRng,
    ) -> Result<Self> {
        config.validate()?;
        let (e, h) = (config.embedding, config.hidden);
        let items = store.create(
            "gru4rec.items",
            (num_items + 1, e),
            xavier(num_items + 1, e, true),
            rng,
        )?;
        let input_weight = store.create(
            "gru4rec.input_weight",
            (e, 3 * h),
            xavier(e, 3 * h, false),
            rng,
        )?;
        let hidden_weight = store.create(
            "gru4rec.hidden_weight",
            (h, 3 * h),
            xavier(h, 3 * h, false),
            rng,
        )?;
        // RecBole: Xavier for the GRU's matrices and the embeddings; PyTorch's defaults for the
        // GRU's biases (U(+-1/sqrt(hidden))) and the dense layer (U(+-1/sqrt(fan_in)) for weight
        // and bias).
        let input_bias = store.create("gru4rec.input_bias", 3 * h, default_bias(h), rng)?;
        let hidden_bias = store.create("gru4rec.hidden_bias", 3 * h, default_bias(h), rng)?;
        let dense_w = store.create("gru4rec.dense.weight", (e, h), default_bias(h), rng)?;
        let dense_b = store.create("gru4rec.dense.bias", e, default_bias(h), rng)?;
        Ok(Self {
            config: config.clone(),
            items,
            input_weight,
            hidden_weight,
            input_bias,
            hidden_bias,
            dense: Linear::new(dense_w, Some(dense_b)),
        })
    }

    /// `[rows, embedding]`: the model's output at each of `batch.rows`.
    pub fn forward_rows(&self, batch: &SequenceBatch, mode: &mut Mode) -> Result<Tensor> {
        let (b, l) = (batch.batch, batch.length);
        let (e, h) = (self.config.embedding, self.config.hidden);
        let x = self
            .items
            .index_select(&batch.items.flatten_all()?, 0)?
            .reshape((b * l, e))?;
        let x = mode.dropout(&x, self.config.dropout)?;
        let projected = x
            .matmul(&self.input_weight)?
            .broadcast_add(&self.input_bias)?
            .reshape((b, l, 3 * h))?;
        let states = gru_sequence(
            &projected,
            &self.hidden_weight,
            &self.hidden_bias,
            &batch.present,
        )?
        .reshape((b * l, h))?;
        let rows = states.index_select(&batch.row_index(x.device())?, 0)?;
        Ok(self.dense.forward(&rows)?)
    }

    /// `[num_items + 1, embedding]` item vectors (row 0 is padding).
    pub fn item_vectors(&self) -> &Tensor {
        &self.items
    }
}
