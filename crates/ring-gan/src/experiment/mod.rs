//! What `socgan train / generate / eval` do for a `task = "ring_gan"` run.

pub mod config;

use std::fmt::Write as _;

use gan_core::experiment::{
    EvalRequest, Experiment, ExperimentResult, GenerateRequest, TrainRequest,
};
use gan_core::run_dir::RunFolder;
use gan_core::{Checkpoint, RunConfig, RunOutcome, SeededRng};
use serde_json::{json, Value};

use crate::experiment::config::{RingGanConfig, RingGanTag};
use crate::task::{names, RingGan};
use crate::Result;

/// The task tag of ring GAN configs and checkpoints.
pub const TASK: &str = RingGanTag::TAG;

/// `task = "ring_gan"`.
pub struct RingGanExperiment;

/// The networks of a config, initialised from its seed.
fn build(config: &RingGanConfig, device: &candle_core::Device) -> Result<RingGan> {
    RingGan::new(
        &config.nets,
        config.ring.clone(),
        config.loss.clone(),
        config.batch_size,
        config.samples,
        config.seed,
        device,
    )
}

/// The run of a checkpoint, its generator's weights loaded.
fn load(ckpt: &Checkpoint, device: &candle_core::Device) -> Result<(RingGanConfig, RingGan)> {
    let config = RingGanConfig::from_checkpoint(ckpt)?;
    let gan = build(&config, device)?;
    let prefix = format!("{}.", names::GENERATOR);
    gan.g_params
        .load_with_prefix(&ckpt.tensors, &prefix, &ckpt.dir)?;
    Ok((config, gan))
}

impl Experiment for RingGanExperiment {
    fn task(&self) -> &'static str {
        TASK
    }

    fn about(&self) -> &'static str {
        "a GAN on a ring of eight Gaussians (mode collapse in two dimensions; the smallest model crate)"
    }

    fn needs_second_order_gradients(&self, request: &TrainRequest<'_>) -> ExperimentResult<bool> {
        Ok(config_of(request)?.loss.gradient_penalty_weight().is_some())
    }

    fn train(&self, request: TrainRequest<'_>) -> ExperimentResult<RunOutcome> {
        let config = config_of(&request)?;
        let invocation = &request.invocation;
        let folder = RunFolder::claim(config.out_dir(), invocation)?;
        let mut gan = build(&config, &invocation.device)?;
        let launch = folder.begin(&config, Vec::new(), invocation)?;
        Ok(launch.train(config.trainer_config(), &mut gan)?)
    }

    /// `x,y` lines, to `--output` or standard output.
    fn generate(&self, request: GenerateRequest<'_>) -> ExperimentResult<()> {
        if request.label.is_some() {
            let path = request.path.display();
            return Err(format!("{path}: the ring GAN is unconditional; drop --label").into());
        }
        let (_, gan) = load(&request.checkpoint, &request.device)?;
        let mut rng = SeededRng::derive(request.seed, "generate", 0);
        let points: Vec<f32> = gan
            .generate(request.num, &mut rng)?
            .flatten_all()?
            .to_vec1()?;
        let mut text = String::from("x,y\n");
        for p in points.chunks_exact(2) {
            let _ = writeln!(text, "{},{}", p[0], p[1]);
        }
        match &request.output {
            Some(path) => socgan_io::write_atomic(path, text.as_bytes())?,
            None => print!("{text}"),
        }
        Ok(())
    }

    fn eval(&self, request: EvalRequest<'_>) -> ExperimentResult<Vec<Value>> {
        let mut lines = Vec::new();
        for (path, ckpt) in &request.checkpoints {
            let (config, gan) = load(ckpt, &request.device)?;
            let n = request.samples.unwrap_or(config.samples);
            let mut rng = SeededRng::derive(request.seed, "evaluation", 0);
            let points: Vec<f32> = gan.generate(n, &mut rng)?.flatten_all()?.to_vec1()?;
            lines.push(json!({
                "checkpoint": path.display().to_string(),
                "loss": config.loss.name(),
                "metrics": config.ring.score(&points),
            }));
        }
        Ok(lines)
    }
}

/// `--config` with the overrides; a ring run has no default config.
fn config_of(request: &TrainRequest<'_>) -> Result<RingGanConfig> {
    let table = request.config.clone().ok_or_else(|| {
        crate::Error::Config("a ring_gan run needs --config (see configs/ring/)".into())
    })?;
    Ok(RingGanConfig::from_table(
        table.with_overrides(&request.overrides)?,
    )?)
}
