//! `socgan generate` from a text GAN checkpoint.

use std::path::Path;

use gan_core::{Checkpoint, SeededRng};
use socgan_data::tokenizer::TextTokenizer;

use crate::experiment::args::SamplingArgs;
use crate::experiment::data;
use crate::experiment::train::{checkpoint_config, checkpoint_tokenizer};
use crate::experiment::write_samples;
use crate::Result;

/// Samples `n` sequences (decoded text for a text run, ids otherwise) from `ckpt`'s generator,
/// all draws from `seed`; to `output` atomically, or to standard output.
pub fn generate(
    ckpt: &Checkpoint,
    n: usize,
    seed: u64,
    sampling: &SamplingArgs,
    output: Option<&Path>,
) -> Result<()> {
    let sampling = sampling.config()?;
    let config = checkpoint_config(ckpt)?;
    let device = data::device()?;
    let generator = data::generator(&config, &device)?;
    data::load_generator(&generator, ckpt)?;
    let samples = generator.sample(n, &sampling, &mut SeededRng::derive(seed, "generate", 0))?;
    let tokenizer = checkpoint_tokenizer(ckpt)
        .map(|p| TextTokenizer::load(&p))
        .transpose()?;
    write_samples(&samples, tokenizer.as_ref(), output)
}
