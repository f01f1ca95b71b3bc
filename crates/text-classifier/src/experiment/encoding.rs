//! Turning posts into what the run's encoder reads: token ids for the CNN (with the run's
//! word-level tokenizer), cached sentence vectors for a frozen pretrained encoder, the
//! pretrained encoder's own token ids for fine-tuning it.

use std::path::Path;

use candle_core::{Device, Tensor};
use indicatif::{ProgressBar, ProgressStyle};
use socgan_data::tokenizer::{PreTokenizer, TextTokenizer, TokenizerKind};

use crate::encoder::bert::padded_ids;
use crate::encoder::cache::{cache_key, default_cache_dir, FeatureCache};
use crate::encoder::cnn::TokenLevel;
use crate::encoder::minilm::{load_tokenizer, resolve_model_dir};
use crate::encoder::{CnnEncoderConfig, EncodedTexts, EncoderConfig, MiniLm};
use crate::Result;

/// The file a CNN run keeps its tokenizer in (run directory and checkpoints).
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// How posts become encoder inputs.
pub enum TextEncoding {
    Tokens {
        tokenizer: Box<TextTokenizer>,
        max_len: usize,
    },
    Frozen {
        model: Box<MiniLm>,
        cache: FeatureCache,
        /// Cache key prefix: weights hash and reading settings.
        id: String,
        quiet: bool,
    },
    /// The pretrained encoder's tokenizer, for a BERT fine-tuned with the classifier.
    PretrainedTokens {
        tokenizer: Box<tokenizers::Tokenizer>,
        model_dir: std::path::PathBuf,
    },
}

impl TextEncoding {
    /// A fresh CNN tokenizer trained on `texts`.
    pub fn train_tokenizer(config: &CnnEncoderConfig, texts: &[String]) -> Result<Self> {
        let pre_tokenizer = match config.level {
            TokenLevel::Word => PreTokenizer::WordsAndPunctuation,
            TokenLevel::Character => PreTokenizer::Characters,
        };
        let tokenizer = TextTokenizer::train(
            texts.iter(),
            TokenizerKind::WordLevel,
            pre_tokenizer,
            config.vocab_size,
            config.min_frequency,
        )?;
        Ok(Self::Tokens {
            tokenizer: Box::new(tokenizer),
            max_len: config.max_len,
        })
    }

    /// The encoding of a saved run: its tokenizer file, or its pretrained encoder.
    pub fn for_saved_run(
        config: &EncoderConfig,
        tokenizer_json: Option<&Path>,
        device: &Device,
        quiet: bool,
    ) -> Result<Self> {
        match config {
            EncoderConfig::Cnn(cnn) => {
                let path = tokenizer_json.ok_or_else(|| {
                    crate::Error::Config("a CNN run needs its tokenizer.json".into())
                })?;
                Ok(Self::Tokens {
                    tokenizer: Box::new(TextTokenizer::load(path)?),
                    max_len: cnn.max_len,
                })
            }
            EncoderConfig::Minilm(_) => Self::frozen(config, device, quiet),
            EncoderConfig::MinilmFinetuned(_) => Self::pretrained_tokens(config),
        }
    }

    /// The encoding of `config`'s encoder for a new run (`texts`: what a CNN's tokenizer is
    /// trained on).
    pub fn for_new_run(
        config: &EncoderConfig,
        texts: &[String],
        device: &Device,
        quiet: bool,
    ) -> Result<Self> {
        match config {
            EncoderConfig::Cnn(cnn) => Self::train_tokenizer(cnn, texts),
            EncoderConfig::Minilm(_) => Self::frozen(config, device, quiet),
            EncoderConfig::MinilmFinetuned(_) => Self::pretrained_tokens(config),
        }
    }

    /// The tokenizer of a pretrained encoder that is fine-tuned.
    pub fn pretrained_tokens(config: &EncoderConfig) -> Result<Self> {
        let Some(m) = config.pretrained() else {
            return Err(crate::Error::Config("not a pretrained encoder".into()));
        };
        let model_dir = resolve_model_dir(&m.model)?;
        let tokenizer = load_tokenizer(&model_dir.join("tokenizer.json"), m.max_seq_length)?;
        Ok(Self::PretrainedTokens {
            tokenizer: Box::new(tokenizer),
            model_dir,
        })
    }

    /// A frozen pretrained encoder with its vector cache.
    pub fn frozen(config: &EncoderConfig, device: &Device, quiet: bool) -> Result<Self> {
        let EncoderConfig::Minilm(m) = config else {
            return Err(crate::Error::Config("not a pretrained encoder".into()));
        };
        let model = MiniLm::load(m, device)?;
        let id = format!(
            "{} max_seq_length={}",
            model.weights_sha256, m.max_seq_length
        );
        let dir = m.cache_dir.clone().unwrap_or_else(default_cache_dir);
        Ok(Self::Frozen {
            model: Box::new(model),
            cache: FeatureCache::new(dir),
            id,
            quiet,
        })
    }

    /// The width of the vectors a frozen encoder gives.
    pub fn frozen_dim(&self) -> Option<usize> {
        match self {
            TextEncoding::Frozen { model, .. } => Some(model.dim),
            TextEncoding::Tokens { .. } | TextEncoding::PretrainedTokens { .. } => None,
        }
    }

    pub fn tokenizer(&self) -> Option<&TextTokenizer> {
        match self {
            TextEncoding::Tokens { tokenizer, .. } => Some(tokenizer),
            TextEncoding::Frozen { .. } | TextEncoding::PretrainedTokens { .. } => None,
        }
    }

    /// `wanted` (each one of `pool`) as encoder inputs. A frozen encoder computes the whole pool
    /// (cached under the pool's key, the same for every fraction and seed of a data set) and
    /// picks the rows; token ids are computed for `wanted` directly.
    pub fn encode_from_pool(
        &self,
        pool: &[String],
        wanted: &[String],
        what: &str,
        device: &Device,
    ) -> Result<EncodedTexts> {
        let TextEncoding::Frozen { .. } = self else {
            return self.encode(wanted, what, device);
        };
        let EncodedTexts::Vectors(all) = self.encode(pool, what, device)? else {
            unreachable!("a frozen encoder gives vectors")
        };
        let row_of: std::collections::HashMap<&str, u32> = pool
            .iter()
            .enumerate()
            .map(|(i, t)| (t.as_str(), i as u32))
            .collect();
        let rows: Vec<u32> = wanted
            .iter()
            .map(|t| {
                row_of.get(t.as_str()).copied().ok_or_else(|| {
                    crate::Error::Config(format!("post `{t}` is not in the encoded pool"))
                })
            })
            .collect::<Result<_>>()?;
        let idx = Tensor::new(rows.as_slice(), device)?;
        Ok(EncodedTexts::Vectors(all.index_select(&idx, 0)?))
    }

    /// `texts` as encoder inputs; `what` names them in the progress bar.
    pub fn encode(&self, texts: &[String], what: &str, device: &Device) -> Result<EncodedTexts> {
        match self {
            TextEncoding::Tokens { tokenizer, max_len } => {
                let mut ids = Vec::with_capacity(texts.len() * max_len);
                for text in texts {
                    ids.extend(tokenizer.encode_fixed(text, *max_len)?);
                }
                Ok(EncodedTexts::TokenIds(Tensor::from_vec(
                    ids,
                    (texts.len(), *max_len),
                    device,
                )?))
            }
            TextEncoding::PretrainedTokens { tokenizer, .. } => {
                // One batch: padded on the right to the longest post of the set; the encoder cuts
                // each training batch to its own longest.
                let encodings = tokenizer
                    .encode_batch(texts.to_vec(), true)
                    .map_err(|e| crate::Error::Config(format!("tokenizing {what}: {e}")))?;
                Ok(EncodedTexts::TokenIds(padded_ids(&encodings, device)?))
            }
            TextEncoding::Frozen {
                model,
                cache,
                id,
                quiet,
            } => {
                let key = cache_key(id, texts);
                let (vectors, _) = cache.get_or_compute(&key, texts.len(), model.dim, || {
                    let bar = progress(texts.len() as u64, what, *quiet);
                    let v = model.embed(texts, |n| bar.inc(n as u64));
                    bar.finish_and_clear();
                    v
                })?;
                Ok(EncodedTexts::Vectors(Tensor::from_vec(
                    vectors,
                    (texts.len(), model.dim),
                    device,
                )?))
            }
        }
    }
}

fn progress(total: u64, what: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} posts [{elapsed} < {eta}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(format!("encoding {what}"));
    bar
}
