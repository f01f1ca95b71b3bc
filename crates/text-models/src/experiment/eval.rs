//! `socgan eval` of text GAN checkpoints: the run's own protocol, optionally swept over sampling
//! temperatures into a quality-diversity chart.

use std::path::PathBuf;

use candle_core::Device;
use gan_core::charts::write_svg;
use gan_core::evaluation::Evaluation;
use gan_core::{Checkpoint, Metrics, RunConfig, SeededRng};
use serde_json::{json, Value};

use crate::experiment::args::TextEvalArgs;
use crate::experiment::config::{DataConfig, TextGanConfig};
use crate::experiment::data;
use crate::experiment::quality_diversity::quality_diversity_panel;
use crate::experiment::train::checkpoint_tokenizer;
use crate::{Result, SamplingConfig};

/// Evaluates each `(path as given, checkpoint)` at each temperature of `args` (1 by default),
/// with the evaluation stream of `seed`, scoring `samples` generated sequences (the run's count
/// by default). Returns one JSON object per checkpoint and temperature:
/// `{checkpoint, algorithm, temperature, metrics}`; writes the chart when sweeping.
pub fn eval(
    checkpoints: &[(PathBuf, Checkpoint)],
    seed: u64,
    samples: Option<usize>,
    args: &TextEvalArgs,
    device: &Device,
) -> Result<Vec<Value>> {
    let temperatures = if args.temperatures.is_empty() {
        vec![1.0]
    } else {
        args.temperatures.clone()
    };
    let mut lines = Vec::new();
    let mut curves = Vec::new();
    for (given, ckpt) in checkpoints {
        let mut config = TextGanConfig::from_checkpoint(ckpt)?;
        if let Some(n) = samples {
            match &mut config.data {
                DataConfig::Oracle { eval_samples, .. } => *eval_samples = n,
                DataConfig::Text { num_hypotheses, .. } => *num_hypotheses = n,
            }
        }
        let tokenizer = checkpoint_tokenizer(ckpt);
        let mut prepared = data::prepare(&mut config, device, tokenizer.as_deref())?;
        let generator = data::generator(&config, device)?;
        data::load_generator(&generator, ckpt)?;
        let mut points: Vec<(f32, Metrics)> = Vec::new();
        for &temperature in &temperatures {
            let sampling = SamplingConfig {
                temperature,
                ..Default::default()
            };
            sampling.validate()?;
            prepared.evaluator.set_sampling(sampling);
            let metrics = Evaluation::test_only(
                prepared
                    .evaluator
                    .evaluate(&generator, &mut SeededRng::derive(seed, "evaluation", 0))?,
            )
            .flatten();
            lines.push(json!({
                "checkpoint": ckpt.dir.display().to_string(),
                "algorithm": config.algorithm.name(),
                "temperature": temperature,
                "metrics": metrics,
            }));
            points.push((temperature, metrics));
        }
        // The run folder's name (not the whole path) keeps the chart's legend readable.
        let run_name = given
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        curves.push((format!("{} ({run_name})", config.algorithm.name()), points));
    }
    if !args.temperatures.is_empty() {
        write_svg(
            &args.chart,
            &[quality_diversity_panel(&curves, &args.references)],
        )?;
    }
    Ok(lines)
}
