//! A trainable sentence encoder over token ids (Kim 2014's CNN for sentence classification):
//! embedding, convolutions of several widths with ReLU and max-over-time pooling, the pooled
//! activations concatenated. The convolutions run in `text_models::kernels::conv_max_pool`
//! (fused, with its reference beside it), as the text GANs' discriminators do.

use candle_core::{Device, Tensor};
use gan_core::{Init, ParamStore, SeededRng};
use serde::{Deserialize, Serialize};
use socgan_nn::GradientOrder;

use crate::{Error, Result};

/// The CNN encoder; `Default` is Kim (2014)'s: widths 3, 4, 5 with 100 filters each.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CnnEncoderConfig {
    pub embed_dim: usize,
    pub filter_sizes: Vec<usize>,
    pub num_filters: Vec<usize>,
    /// Tokens per post (longer posts are cut; tweets rarely exceed 50 word-level tokens, or 280
    /// characters).
    pub max_len: usize,
    /// Vocabulary trained on the run's training texts (labelled and unlabelled).
    pub vocab_size: usize,
    pub min_frequency: u64,
    /// What a token is: a word (Kim's CNN) or a character (a character-level CNN, as detection
    /// baselines use: it sees spelling, spacing and emoji).
    pub level: TokenLevel,
}

/// The unit the CNN encoder reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenLevel {
    #[default]
    Word,
    Character,
}

impl Default for CnnEncoderConfig {
    fn default() -> Self {
        Self {
            embed_dim: 128,
            filter_sizes: vec![3, 4, 5],
            num_filters: vec![100, 100, 100],
            max_len: 64,
            vocab_size: 30_000,
            min_frequency: 2,
            level: TokenLevel::Word,
        }
    }
}

impl CnnEncoderConfig {
    pub fn validate(&self) -> Result<()> {
        if self.filter_sizes.is_empty() || self.filter_sizes.len() != self.num_filters.len() {
            return Err(Error::Config(
                "encoder needs as many num_filters as filter_sizes, at least one".into(),
            ));
        }
        if let Some(&f) = self
            .filter_sizes
            .iter()
            .find(|&&f| f == 0 || f > self.max_len)
        {
            return Err(Error::Config(format!(
                "encoder filter width {f} does not fit posts of max_len {}",
                self.max_len
            )));
        }
        if self.embed_dim == 0 || self.vocab_size < 8 {
            return Err(Error::Config(
                "encoder embed_dim must be positive and vocab_size at least 8".into(),
            ));
        }
        Ok(())
    }

    pub fn feature_dim(&self) -> usize {
        self.num_filters.iter().sum()
    }
}

/// The CNN with its weights.
pub struct CnnEncoder {
    params: ParamStore,
    embedding: Tensor,
    convs: Vec<(usize, Tensor, Tensor)>,
    embed_dim: usize,
}

impl CnnEncoder {
    pub fn new(
        config: &CnnEncoderConfig,
        vocab_size: usize,
        device: &Device,
        rng: &mut SeededRng,
    ) -> Result<Self> {
        config.validate()?;
        let mut params = ParamStore::new(device);
        let embedding = params.create(
            "embedding",
            (vocab_size, config.embed_dim),
            Init::Normal {
                mean: 0.0,
                std: 1.0,
            },
            rng,
        )?;
        let mut convs = Vec::new();
        for (&f, &n) in config.filter_sizes.iter().zip(&config.num_filters) {
            let fan_in = f * config.embed_dim;
            let bound = 1.0 / (fan_in as f32).sqrt();
            let init = Init::Uniform {
                low: -bound,
                high: bound,
            };
            let w = params.create(&format!("conv{f}.weight"), (fan_in, n), init, rng)?;
            let b = params.create(&format!("conv{f}.bias"), n, init, rng)?;
            convs.push((f, w, b));
        }
        Ok(Self {
            params,
            embedding,
            convs,
            embed_dim: config.embed_dim,
        })
    }

    pub fn params(&self) -> &ParamStore {
        &self.params
    }

    /// Sentence vectors `[B, sum(num_filters)]` of `[B, T]` token ids.
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let x = self
            .embedding
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((b, t, self.embed_dim))?;
        let mut pooled = Vec::with_capacity(self.convs.len());
        for (f, w, bias) in &self.convs {
            pooled.push(
                text_models::kernels::conv_max_pool(&x, w, bias, *f, GradientOrder::First)
                    .map_err(|e| match e {
                        text_models::Error::Candle(c) => Error::Candle(c),
                        other => Error::Shape(other.to_string()),
                    })?,
            );
        }
        Ok(Tensor::cat(&pooled, 1)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gan_core::gradient_flow::check_gradient_flow;

    #[test]
    fn every_weight_gets_a_gradient() {
        let config = CnnEncoderConfig {
            embed_dim: 6,
            filter_sizes: vec![2, 3],
            num_filters: vec![4, 5],
            max_len: 7,
            vocab_size: 20,
            min_frequency: 1,
            level: TokenLevel::Word,
        };
        let enc = CnnEncoder::new(&config, 20, &Device::Cpu, &mut SeededRng::new(1)).unwrap();
        let ids = Tensor::new(
            &[[1u32, 2, 3, 4, 5, 0, 0], [7, 8, 9, 1, 0, 0, 0]],
            &Device::Cpu,
        )
        .unwrap();
        let f = enc.forward(&ids).unwrap();
        assert_eq!(f.dims(), &[2, 9]);
        // The loss reads every feature, and every embedding row used gets a gradient; the
        // unused rows are no weight the check needs (it looks at variables as a whole).
        check_gradient_flow(&f.sqr().unwrap().sum_all().unwrap(), enc.params()).unwrap();
        let bad = CnnEncoderConfig {
            max_len: 2,
            ..config
        };
        assert!(bad.validate().unwrap_err().to_string().contains("width 3"));
    }
}
