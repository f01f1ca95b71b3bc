//! `socgan eval` of image GAN checkpoints: classifier-FID and classifier score with the run's
//! classifier and reference rows.

use std::path::PathBuf;

use candle_core::Device;
use gan_core::{Checkpoint, SeededRng};
use serde_json::{json, Value};

use crate::classifier::Classifier;
use crate::evaluation::{generate, FidEvaluator};
use crate::experiment::data::prepare;
use crate::experiment::train::checkpoint_generator;
use crate::{Error, Result};

/// Scores each `(path as given, checkpoint)` with `samples` images (the run's count by default),
/// noise from `seed`. One JSON object per checkpoint: `{checkpoint, model, loss, metrics}`.
pub fn eval(
    checkpoints: &[(PathBuf, Checkpoint)],
    seed: u64,
    samples: Option<usize>,
    device: &Device,
) -> Result<Vec<Value>> {
    let mut lines = Vec::new();
    for (given, ckpt) in checkpoints {
        let (config, generator, shape) = checkpoint_generator(ckpt, device)?;
        let images = prepare(&config)?;
        if images.train_native.labels.is_none() {
            return Err(Error::Config(format!(
                "{}: the run's images have no classes, so there is no classifier to score with",
                given.display()
            )));
        }
        let classifier_dir = config
            .evaluation
            .classifier
            .clone()
            .unwrap_or_else(|| config.out_dir.join("classifier"));
        let classifier = Classifier::load(&classifier_dir, device)?;
        let n = samples
            .unwrap_or(config.evaluation.samples)
            .min(images.test.len());
        let evaluator = FidEvaluator::new(
            classifier,
            &images.test,
            &images.train,
            &images.validation,
            n,
            config.data_seed,
        )?;
        let generated = generate(
            &generator,
            shape.pixel_range(),
            shape.noise_dim,
            n,
            &mut SeededRng::derive(seed, "evaluation", 0),
            device,
        )?;
        let metrics = evaluator.score(&generated)?.flatten();
        lines.push(json!({
            "checkpoint": ckpt.dir.display().to_string(),
            "model": config.model.architecture.name(),
            "loss": config.loss.name(),
            "metrics": metrics,
        }));
    }
    Ok(lines)
}
