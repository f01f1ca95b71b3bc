//! Building a run from its config: device, oracle and data, models, task.

use std::path::Path;

use anyhow::{bail, Context, Result};
use candle_core::Device;
use gan_core::{Checkpoint, SeededRng};
use socgan_data::TokenSequences;
use text_models::{
    CnnDiscriminator, GeneratorConfig, LstmGenerator, Oracle, OracleEvaluator, TextGan,
};

use crate::config::{DataConfig, OracleSource, RunConfig};

/// CPU by default; the first CUDA device when built with `--features cuda`.
pub fn device() -> Result<Device> {
    #[cfg(feature = "cuda")]
    {
        return Device::new_cuda(0).context("no usable CUDA device");
    }
    #[cfg(not(feature = "cuda"))]
    Ok(Device::Cpu)
}

/// The oracle and its samples.
pub struct OracleData {
    pub oracle: Oracle,
    pub train: TokenSequences,
    pub test: TokenSequences,
    pub eval_samples: usize,
}

pub fn oracle_data(config: &RunConfig, device: &Device) -> Result<OracleData> {
    let DataConfig::Oracle {
        oracle,
        num_train,
        num_test,
        eval_samples,
        data_seed,
    } = &config.data;
    let g = &config.generator;
    let oracle = match oracle {
        OracleSource::Seqgan { path } => {
            let o = Oracle::load_seqgan(path, g.seq_len, device)?;
            let oc = o.config();
            if oc.vocab_size != g.vocab_size || g.start_token != 0 {
                bail!(
                    "{}: the oracle's vocabulary is {}, but generator.vocab_size = {} (start_token must be 0)",
                    path.display(),
                    oc.vocab_size,
                    g.vocab_size
                );
            }
            o
        }
        OracleSource::Random { seed } => {
            // TextGAN-PyTorch's oracle has the generator's sizes (embedding 32, hidden 32).
            let cfg = GeneratorConfig {
                embed_dim: 32,
                hidden_dim: 32,
                ..g.clone()
            };
            Oracle::random(cfg, *seed, device)?
        }
    };
    let train = oracle.sample(
        *num_train,
        &mut SeededRng::derive(*data_seed, "oracle-data", 0),
    )?;
    let test = oracle.sample(
        *num_test,
        &mut SeededRng::derive(*data_seed, "oracle-data", 1),
    )?;
    Ok(OracleData {
        oracle,
        train,
        test,
        eval_samples: *eval_samples,
    })
}

/// A generator with the config's sizes, initialised from the run seed.
pub fn generator(config: &RunConfig, device: &Device) -> Result<LstmGenerator> {
    Ok(LstmGenerator::new(
        config.generator.clone(),
        device,
        &mut SeededRng::derive(config.seed, "init", 0),
    )?)
}

/// Loads `generator.*` weights from a checkpoint into `generator`.
pub fn load_generator(generator: &LstmGenerator, checkpoint: &Path, device: &Device) -> Result<()> {
    let ckpt = Checkpoint::load(checkpoint, device)?;
    generator
        .params()
        .load_with_prefix(&ckpt.tensors, "generator.", &ckpt.dir)
        .with_context(|| "generator sizes must match the checkpoint's")?;
    Ok(())
}

/// The task the trainer runs.
pub fn text_gan(
    config: &RunConfig,
    data: OracleData,
    device: &Device,
) -> Result<TextGan<OracleEvaluator>> {
    let generator = generator(config, device)?;
    if let Some(init) = &config.init_from {
        load_generator(&generator, init, device)
            .with_context(|| format!("init_from {}", init.display()))?;
    }
    let discriminator = CnnDiscriminator::new(
        config.discriminator.clone(),
        config.generator.vocab_size,
        config.generator.seq_len,
        device,
        &mut SeededRng::derive(config.seed, "init", 1),
    )?;
    let evaluator = OracleEvaluator::new(data.oracle, data.test, data.eval_samples);
    Ok(TextGan::new(
        generator,
        discriminator,
        data.train,
        config.algorithm.clone(),
        config.batch_size,
        evaluator,
    )?)
}
