//! `socgan generate` from a text GAN checkpoint.

use std::path::Path;

use candle_core::Device;
use gan_core::{Checkpoint, RunConfig, SeededRng};
use socgan_data::tokenizer::TextTokenizer;

use crate::experiment::args::SamplingArgs;
use crate::experiment::config::TextGanConfig;
use crate::experiment::data;
use crate::experiment::train::{checkpoint_tokenizer, LABELS_FILE};
use crate::experiment::write_samples;
use crate::{Error, Result};
use socgan_data::labels::LabelMap;

/// Samples `n` sequences (decoded text for a text run, ids otherwise) from `ckpt`'s generator,
/// of class `label` for a class-conditional one, all draws from `seed`; to `output` atomically,
/// or to standard output.
pub fn generate(
    ckpt: &Checkpoint,
    n: usize,
    seed: u64,
    label: Option<&str>,
    sampling: &SamplingArgs,
    output: Option<&Path>,
    device: &Device,
) -> Result<()> {
    let sampling = sampling.config()?;
    let config = TextGanConfig::from_checkpoint(ckpt)?;
    let class = requested_class(ckpt, config.generator.classes, label)?;
    let generator = data::generator(&config, device)?;
    data::load_generator(&generator, ckpt)?;
    let samples = generator.sample_given(
        n,
        class,
        &sampling,
        &mut SeededRng::derive(seed, "generate", 0),
    )?;
    let tokenizer = checkpoint_tokenizer(ckpt)
        .map(|p| TextTokenizer::load(&p))
        .transpose()?;
    write_samples(&samples, tokenizer.as_ref(), output)
}

/// The class id of `label` in a conditional checkpoint's label map; `None` for an
/// unconditional one. Asking a conditional generator for no class, or an unconditional one for
/// a class, or for a class it does not have, is an error naming the classes.
fn requested_class(ckpt: &Checkpoint, classes: usize, label: Option<&str>) -> Result<Option<u32>> {
    if classes == 0 {
        return match label {
            None => Ok(None),
            Some(l) => Err(Error::Config(format!(
                "{}: this generator is unconditional; it cannot generate posts of `{l}` (train with data.label_field and algorithm catgan)",
                ckpt.dir.display()
            ))),
        };
    }
    let text = ckpt.read_extra(LABELS_FILE)?;
    let map: LabelMap = serde_json::from_str(&text).map_err(|e| {
        Error::Config(format!(
            "{}: not a label map: {e}",
            ckpt.dir.join(LABELS_FILE).display()
        ))
    })?;
    let names = map.names().join(", ");
    match label {
        None => Err(Error::Config(format!(
            "{}: a class-conditional generator: pass --label (one of {names})",
            ckpt.dir.display()
        ))),
        Some(l) => map.id(l).map(Some).ok_or_else(|| {
            Error::Config(format!(
                "label `{l}` is not one of this generator's classes ({names})"
            ))
        }),
    }
}
