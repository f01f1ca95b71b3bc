//! Posts scored under a text run's generator, after the run's own normalisation and tokenizer:
//! each post's mean log-likelihood per token (what `socgan audit --checkpoint` turns into
//! membership inference and canary exposure, and `--zero-shot` into a detector), and the share
//! of its tokens among the model's top-ranked predictions (GLTR).

use candle_core::Device;
use gan_core::experiment::RankShares;
use gan_core::{Checkpoint, RunConfig};
use socgan_data::tokenizer::TextTokenizer;
use socgan_data::TokenSequences;

use crate::experiment::config::{DataConfig, TextGanConfig};
use crate::experiment::data;
use crate::experiment::train::checkpoint_tokenizer;
use crate::generator::SequenceGenerator;
use crate::{Error, Result};

/// A run's generator and posts encoded as it encodes them (cut to its sequence length).
struct Encoded {
    generator: SequenceGenerator,
    seqs: TokenSequences,
    pad: u32,
}

impl Encoded {
    fn new(ckpt: &Checkpoint, posts: &[String], device: &Device) -> Result<Self> {
        let config = TextGanConfig::from_checkpoint(ckpt)?;
        let DataConfig::Text { normalize, .. } = &config.data else {
            return Err(Error::Config(format!(
                "{}: an oracle run has no text to score posts with",
                ckpt.dir.display()
            )));
        };
        if config.generator.classes > 0 {
            return Err(Error::Config(format!(
                "{}: a class-conditional generator scores posts of a class; use an unconditional run",
                ckpt.dir.display()
            )));
        }
        let tokenizer_path = checkpoint_tokenizer(ckpt)
            .ok_or_else(|| Error::Config(format!("{}: no tokenizer.json", ckpt.dir.display())))?;
        let tokenizer = TextTokenizer::load(&tokenizer_path)?;
        let generator = data::generator(&config, device)?;
        data::load_generator(&generator, ckpt)?;
        let seq_len = config.generator.seq_len;
        let mut ids = Vec::with_capacity(posts.len() * seq_len);
        for post in posts {
            ids.extend(tokenizer.encode_fixed(&normalize.apply(post), seq_len)?);
        }
        Ok(Self {
            generator,
            seqs: TokenSequences::new(seq_len, ids)?,
            pad: tokenizer.pad_id(),
        })
    }

    /// `per_token` folded over each post's tokens and `<eos>` (not its padding).
    fn per_post<T: Copy>(&self, per_token: &[T], fold: impl Fn(&[T]) -> f64) -> Vec<f64> {
        let seq_len = self.seqs.seq_len();
        self.seqs
            .tokens()
            .chunks(seq_len)
            .zip(per_token.chunks(seq_len))
            .map(|(ids, values)| {
                let kept: Vec<T> = ids
                    .iter()
                    .zip(values)
                    .filter(|(&id, _)| id != self.pad)
                    .map(|(_, &v)| v)
                    .collect();
                fold(&kept)
            })
            .collect()
    }
}

/// The mean log-likelihood per token of each post (its tokens and `<eos>`, as cut to the run's
/// sequence length).
pub fn record_log_likelihoods(
    ckpt: &Checkpoint,
    posts: &[String],
    device: &Device,
) -> Result<Vec<f64>> {
    let encoded = Encoded::new(ckpt, posts, device)?;
    let nll = encoded.generator.token_nll(&encoded.seqs)?;
    Ok(encoded.per_post(&nll, |kept| {
        -kept.iter().map(|&x| x as f64).sum::<f64>() / kept.len().max(1) as f64
    }))
}

/// The share of each post's tokens (and `<eos>`) among the generator's top 10, 100 and 1,000
/// predictions at their positions.
pub fn record_rank_shares(
    ckpt: &Checkpoint,
    posts: &[String],
    device: &Device,
) -> Result<Vec<RankShares>> {
    let encoded = Encoded::new(ckpt, posts, device)?;
    let ranks = encoded.generator.token_ranks(&encoded.seqs)?;
    let share = |top: u32| {
        encoded.per_post(&ranks, move |kept| {
            kept.iter().filter(|&&r| r <= top).count() as f64 / kept.len().max(1) as f64
        })
    };
    let (top10, top100, top1000) = (share(10), share(100), share(1000));
    Ok((0..posts.len())
        .map(|i| RankShares {
            top10: top10[i],
            top100: top100[i],
            top1000: top1000[i],
        })
        .collect())
}
