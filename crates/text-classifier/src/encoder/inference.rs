//! The encoder as an evaluation pass runs it.

use candle_core::Tensor;
use gan_core::Mode;

use super::bert::PADDING;
use super::{Encoder, PackedBert};
use crate::Result;

/// The encoder as an evaluation pass runs it: a fine-tuned BERT on the CPU through a packed
/// snapshot of its current weights (the same function as its eval-mode forward, several times
/// faster over a test set), every other encoder through its own forward in eval mode.
pub enum InferenceEncoder<'a> {
    Graph(&'a Encoder),
    PackedBert(PackedBert),
}

impl Encoder {
    /// Built once per evaluation: the packed snapshot copies the weights.
    pub fn for_inference(&self) -> Result<InferenceEncoder<'_>> {
        Ok(match self {
            Encoder::Bert(bert) if bert.params().device().is_cpu() => {
                InferenceEncoder::PackedBert(bert.packed_snapshot()?)
            }
            _ => InferenceEncoder::Graph(self),
        })
    }
}

impl InferenceEncoder<'_> {
    /// Sentence vectors `[B, F]` of rows of [`EncodedTexts`].
    pub fn forward(&self, rows: &Tensor) -> Result<Tensor> {
        match self {
            InferenceEncoder::Graph(encoder) => encoder.forward(rows, &mut Mode::Eval),
            InferenceEncoder::PackedBert(packed) => {
                let posts: Vec<Vec<u32>> = rows
                    .to_vec2::<u32>()?
                    .into_iter()
                    .map(|row| row.into_iter().filter(|&id| id != PADDING).collect())
                    .collect();
                let vectors = packed.embed(&posts)?;
                Ok(Tensor::from_vec(
                    vectors,
                    (posts.len(), packed.hidden_size()),
                    rows.device(),
                )?)
            }
        }
    }
}
