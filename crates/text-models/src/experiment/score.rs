//! Posts scored under a text run's generator: each post's mean log-likelihood per token, after
//! the run's own normalisation and tokenizer (what `socgan audit --checkpoint` turns into
//! membership inference and canary exposure).

use candle_core::Device;
use gan_core::{Checkpoint, RunConfig};
use socgan_data::tokenizer::TextTokenizer;
use socgan_data::TokenSequences;

use crate::experiment::config::{DataConfig, TextGanConfig};
use crate::experiment::data;
use crate::experiment::train::checkpoint_tokenizer;
use crate::{Error, Result};

/// The mean log-likelihood per token of each post (its tokens and `<eos>`, as cut to the run's
/// sequence length).
pub fn record_log_likelihoods(
    ckpt: &Checkpoint,
    posts: &[String],
    device: &Device,
) -> Result<Vec<f64>> {
    let config = TextGanConfig::from_checkpoint(ckpt)?;
    let DataConfig::Text { normalize, .. } = &config.data else {
        return Err(Error::Config(format!(
            "{}: an oracle run has no text to score posts with",
            ckpt.dir.display()
        )));
    };
    if config.generator.classes > 0 {
        return Err(Error::Config(format!(
            "{}: a class-conditional generator scores posts of a class; audit an unconditional run",
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
    let pad = tokenizer.pad_id();
    let nll = generator.token_nll(&TokenSequences::new(seq_len, ids.clone())?)?;
    Ok(ids
        .chunks(seq_len)
        .zip(nll.chunks(seq_len))
        .map(|(ids, nll)| {
            let (sum, n) = ids
                .iter()
                .zip(nll)
                .filter(|(&id, _)| id != pad)
                .fold((0f64, 0usize), |(s, n), (_, &x)| (s - x as f64, n + 1));
            sum / n.max(1) as f64
        })
        .collect())
}
