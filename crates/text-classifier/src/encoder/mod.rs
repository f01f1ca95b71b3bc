//! Sentence encoders, swappable by config: a trainable CNN over token ids ([`cnn`]), a
//! pretrained BERT sentence encoder kept frozen ([`minilm`]) whose vectors are computed once and
//! cached ([`cache`]), or the same pretrained encoder fine-tuned with the classifier ([`bert`]).

pub mod bert;
pub mod cache;
pub mod cnn;
pub mod inference;
pub mod minilm;
pub mod packed_bert;

use candle_core::Tensor;
use gan_core::{Mode, ParamStore};
use serde::{Deserialize, Serialize};

pub use bert::TrainableBert;
pub use cnn::{CnnEncoder, CnnEncoderConfig};
pub use inference::InferenceEncoder;
pub use minilm::{MiniLm, MiniLmConfig};
pub use packed_bert::PackedBert;

use crate::Result;

/// Which encoder reads the posts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EncoderConfig {
    /// Trained with the classifier, from scratch.
    Cnn(CnnEncoderConfig),
    /// all-MiniLM-L6-v2 (or another BERT sentence encoder), frozen.
    Minilm(MiniLmConfig),
    /// The same pretrained encoder, its weights trained with the classifier (socgan's own BERT,
    /// whose layer norms pass gradients).
    MinilmFinetuned(MiniLmConfig),
}

impl Default for EncoderConfig {
    fn default() -> Self {
        EncoderConfig::Cnn(CnnEncoderConfig::default())
    }
}

impl EncoderConfig {
    pub fn name(&self) -> &'static str {
        match self {
            EncoderConfig::Cnn(_) => "cnn",
            EncoderConfig::Minilm(_) => "minilm",
            EncoderConfig::MinilmFinetuned(_) => "minilm-finetuned",
        }
    }

    /// The pretrained encoder's settings, for the frozen and the fine-tuned kind.
    pub fn pretrained(&self) -> Option<&MiniLmConfig> {
        match self {
            EncoderConfig::Cnn(_) => None,
            EncoderConfig::Minilm(m) | EncoderConfig::MinilmFinetuned(m) => Some(m),
        }
    }
}

/// Posts as the encoder reads them.
#[derive(Clone, Debug)]
pub enum EncodedTexts {
    /// Frozen sentence vectors `[N, F]`.
    Vectors(Tensor),
    /// Token ids `[N, T]` (u32) for a trainable encoder, padded on the right.
    TokenIds(Tensor),
}

impl EncodedTexts {
    pub fn len(&self) -> usize {
        match self {
            EncodedTexts::Vectors(t) | EncodedTexts::TokenIds(t) => t.dim(0).unwrap_or(0),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows `indices`, in that order.
    pub fn rows(&self, indices: &[usize]) -> Result<Tensor> {
        let t = match self {
            EncodedTexts::Vectors(t) | EncodedTexts::TokenIds(t) => t,
        };
        let idx: Vec<u32> = indices.iter().map(|&i| i as u32).collect();
        Ok(t.index_select(&Tensor::new(idx.as_slice(), t.device())?, 0)?)
    }
}

/// The encoder of a classifier: the identity on frozen vectors, or a trainable network.
pub enum Encoder {
    Frozen { dim: usize },
    Cnn(CnnEncoder),
    Bert(Box<TrainableBert>),
}

impl Encoder {
    /// Sentence vectors `[B, F]` of rows of [`EncodedTexts`] (dropout in BERT's training mode).
    pub fn forward(&self, rows: &Tensor, mode: &mut Mode) -> Result<Tensor> {
        match self {
            Encoder::Frozen { .. } => Ok(rows.clone()),
            Encoder::Cnn(cnn) => cnn.forward(rows),
            Encoder::Bert(bert) => bert.forward(rows, mode),
        }
    }

    /// The trainable parameters, if the encoder has any.
    pub fn params(&self) -> Option<&ParamStore> {
        match self {
            Encoder::Frozen { .. } => None,
            Encoder::Cnn(cnn) => Some(cnn.params()),
            Encoder::Bert(bert) => Some(bert.params()),
        }
    }
}
