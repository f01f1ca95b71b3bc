//! The behaviour-sequence GAN (`task = "behaviour_gan"`): the token-sequence generator and
//! discriminator of `text-models` over item ids (MLE, SeqGAN or RelGAN, as text GANs train),
//! learning from the training part of each history of all users but a held-out share; then
//! `socgan generate` writes a synthetic log in SASRec's layout with the original item ids, which
//! a behaviour run can take as augmentation (`augmentation.synthetic_log`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use candle_core::Device;
use gan_core::experiment::TrainRequest;
use gan_core::run_dir::{Invocation, RunFile, RunFolder};
use gan_core::{AdversarialLoss, Checkpoint, RunConfig, RunOutcome, SeededRng};
use serde::{Deserialize, Serialize};
use socgan_data::interactions::{InteractionLog, LeaveOneOut};
use socgan_io::write_atomic;
use text_models::algorithms::names;
use text_models::experiment::config::{OptimConfig, ScheduleConfig};
use text_models::{
    Algorithm, CnnDiscriminator, CoreConfig, DiscriminatorConfig, GeneratorConfig,
    SequenceGenerator, TextGan,
};

use crate::experiment::config::LogConfig;
use crate::experiment::data::{self, read_interactions, INTERACTIONS_FILE};
use crate::synthetic::{BehaviourEvaluator, HistoryCodec};
use crate::{Error, Result};

gan_core::task_tag!(
    /// The `task` tag of a behaviour-GAN config: `task = "behaviour_gan"`.
    BehaviourGanTag,
    BehaviourGan,
    "behaviour_gan"
);

/// The task tag of behaviour-GAN configs and checkpoints.
pub const GAN_TASK: &str = BehaviourGanTag::TAG;

/// The generator's widths (its vocabulary and length follow from the catalogue and
/// `max_items`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryGeneratorShape {
    pub embed_dim: usize,
    /// The LSTM's units (a relational memory's width is its own).
    pub hidden_dim: usize,
    /// The recurrent core: an LSTM (default) or RelGAN's relational memory.
    pub core: CoreConfig,
}

impl Default for HistoryGeneratorShape {
    fn default() -> Self {
        Self {
            embed_dim: 32,
            hidden_dim: 64,
            core: CoreConfig::Lstm,
        }
    }
}

/// A behaviour-GAN run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BehaviourGanConfig {
    pub task: BehaviourGanTag,
    #[serde(default)]
    pub seed: u64,
    pub out_dir: PathBuf,
    pub algorithm: Algorithm,
    pub data: LogConfig,
    /// Items per generated history (longer training histories keep their newest).
    #[serde(default = "default_max_items")]
    pub max_items: usize,
    /// Share of users the generator never sees: the copy audit's holdout.
    #[serde(default = "default_holdout")]
    pub holdout_users: f64,
    /// Synthetic histories drawn per evaluation.
    #[serde(default = "default_samples")]
    pub samples: usize,
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    #[serde(default)]
    pub generator: HistoryGeneratorShape,
    #[serde(default = "DiscriminatorConfig::relgan")]
    pub discriminator: DiscriminatorConfig,
    #[serde(default = "default_loss")]
    pub loss: AdversarialLoss,
    #[serde(default)]
    pub schedule: ScheduleConfig,
    #[serde(default)]
    pub optim: OptimConfig,
}

fn default_max_items() -> usize {
    20
}
fn default_holdout() -> f64 {
    0.1
}
fn default_samples() -> usize {
    2000
}
fn default_batch() -> usize {
    64
}
fn default_loss() -> AdversarialLoss {
    AdversarialLoss::Rsgan
}

impl RunConfig for BehaviourGanConfig {
    const TASK: &'static str = GAN_TASK;

    fn out_dir(&self) -> &Path {
        &self.out_dir
    }

    fn validate(&self) -> gan_core::Result<()> {
        // Up to half: the copy audit compares as many training histories as held-out ones.
        if !(self.holdout_users > 0.0 && self.holdout_users <= 0.5) {
            return Err(gan_core::Error::Config(
                "holdout_users must be in (0, 0.5]".into(),
            ));
        }
        if matches!(self.loss, AdversarialLoss::WganGp { .. }) {
            return Err(gan_core::Error::Config(
                "wgan_gp is not available for behaviour generators (its penalty needs \
                 second-order gradients through the item embeddings); use rsgan, hinge, ..."
                    .into(),
            ));
        }
        if self.max_items == 0 || self.samples == 0 || self.batch_size == 0 {
            return Err(gan_core::Error::Config(
                "max_items, samples and batch_size must be at least 1".into(),
            ));
        }
        self.loss.validate()?;
        self.algorithm.validate()?;
        self.schedule
            .validate_discriminator_data(&self.algorithm, &self.loss, self.batch_size)?;
        // The trainer's own checks, before a run directory is touched.
        self.schedule
            .trainer_config(
                self.seed,
                &self.algorithm,
                &self.loss,
                &self.optim,
                1,
                self.batch_size,
            )
            .validate()
    }
}

impl BehaviourGanConfig {
    fn generator_config(&self, codec: &HistoryCodec) -> GeneratorConfig {
        GeneratorConfig {
            vocab_size: codec.vocab_size(),
            embed_dim: self.generator.embed_dim,
            hidden_dim: self.generator.hidden_dim,
            core: self.generator.core,
            seq_len: codec.seq_len(),
            start_token: 0,
            classes: 0,
        }
    }
}

/// The training parts of the generator's users and of the held-out users (non-empty only).
pub fn generator_histories(
    split: &LeaveOneOut,
    holdout_share: f64,
    seed: u64,
) -> (Vec<Vec<u32>>, Vec<Vec<u32>>) {
    let users: Vec<usize> = (0..split.num_users())
        .filter(|&u| !split.train[u].is_empty())
        .collect();
    let order = SeededRng::derive(seed, "holdout-users", 0).permutation(users.len());
    let held = ((users.len() as f64 * holdout_share).ceil() as usize).min(users.len());
    let mut holdout = vec![false; split.num_users()];
    for &i in &order[..held] {
        holdout[users[i]] = true;
    }
    let pick = |h: bool| {
        users
            .iter()
            .filter(|&&u| holdout[u] == h)
            .map(|&u| split.train[u].clone())
            .collect::<Vec<_>>()
    };
    (pick(false), pick(true))
}

/// The config of `socgan train` for a behaviour GAN: `--config` with the overrides applied.
pub fn resolve_gan_config(request: &TrainRequest<'_>) -> Result<BehaviourGanConfig> {
    let table = request.config.clone().ok_or_else(|| {
        Error::Config("a behaviour_gan run needs --config (see configs/behaviour-gan/)".into())
    })?;
    Ok(BehaviourGanConfig::from_table(
        table.with_overrides(&request.overrides)?,
    )?)
}

/// `socgan train` of a behaviour-GAN config.
pub fn train_gan(config: BehaviourGanConfig, invocation: &Invocation) -> Result<RunOutcome> {
    let folder = RunFolder::claim(config.out_dir(), invocation)?;
    let log = read_interactions(&config.data)?;
    let split = LeaveOneOut::new(&log);
    let (training, holdout) = generator_histories(&split, config.holdout_users, config.seed);
    if training.len() < config.batch_size || holdout.is_empty() {
        return Err(Error::Config(format!(
            "{}: {} training and {} held-out histories; the generator needs at least batch_size ({}) and the audit one",
            config.data.path.display(),
            training.len(),
            holdout.len(),
            config.batch_size
        )));
    }
    let codec = HistoryCodec {
        num_items: log.num_items(),
        max_items: config.max_items,
    };
    let mut task = build_gan(&config, &codec, &training, &holdout, &invocation.device)?;
    let files = vec![RunFile::in_checkpoints(
        INTERACTIONS_FILE,
        data::to_json(&log),
    )];
    let launch = folder.begin(&config, files, invocation)?;
    if !invocation.quiet {
        eprintln!(
            "socgan: behaviour {} over {} items, {} training / {} held-out histories -> {}",
            config.algorithm.name(),
            log.num_items(),
            training.len(),
            holdout.len(),
            launch.dir().display()
        );
    }
    let trainer_config = config.schedule.trainer_config(
        config.seed,
        &config.algorithm,
        &config.loss,
        &config.optim,
        task.batches_per_epoch(),
        config.batch_size,
    );
    Ok(launch.train(trainer_config, &mut task)?)
}

fn build_gan(
    config: &BehaviourGanConfig,
    codec: &HistoryCodec,
    training: &[Vec<u32>],
    holdout: &[Vec<u32>],
    device: &Device,
) -> Result<TextGan<BehaviourEvaluator>> {
    let init = |i| SeededRng::derive(config.seed, "init", i);
    let generator = SequenceGenerator::new(config.generator_config(codec), device, &mut init(0))?;
    let discriminator = match config.algorithm.adversarial() {
        Some(_) => Some(CnnDiscriminator::new(
            config.discriminator.clone(),
            codec.vocab_size(),
            codec.seq_len(),
            device,
            &mut init(1),
        )?),
        None => None,
    };
    let evaluator =
        BehaviourEvaluator::new(*codec, training, holdout, config.samples, config.seed)?;
    Ok(TextGan::new(
        generator,
        discriminator,
        &config.algorithm,
        config.loss.clone(),
        codec.encode(training)?,
        config.batch_size,
        evaluator,
    )?
    .with_discriminator_data(config.schedule.discriminator_data.clone())?)
}

/// A trained behaviour generator with its config and log.
struct SavedGenerator {
    config: BehaviourGanConfig,
    log: InteractionLog,
    codec: HistoryCodec,
    generator: SequenceGenerator,
}

impl SavedGenerator {
    fn load(ckpt: &Checkpoint, device: &Device) -> Result<Self> {
        let config = BehaviourGanConfig::from_checkpoint(ckpt)?;
        let log = data::from_checkpoint(ckpt)?;
        let codec = HistoryCodec {
            num_items: log.num_items(),
            max_items: config.max_items,
        };
        let generator = SequenceGenerator::new(
            config.generator_config(&codec),
            device,
            &mut SeededRng::new(0),
        )?;
        generator.params().load_with_prefix(
            &ckpt.tensors,
            &format!("{}.", names::GENERATOR),
            &ckpt.dir,
        )?;
        Ok(Self {
            config,
            log,
            codec,
            generator,
        })
    }
}

/// Each history's mean log-likelihood per token under a behaviour-GAN checkpoint's generator:
/// a history is its item ids (as in the log's file) joined by spaces; items the generator's log
/// does not have are left out, the newest `max_items` of the rest kept, and the end token
/// scored with them.
pub fn history_log_likelihoods(
    ckpt: &Checkpoint,
    histories: &[String],
    device: &Device,
) -> Result<Vec<f64>> {
    let saved = SavedGenerator::load(ckpt, device)?;
    let histories: Vec<Vec<u32>> = histories
        .iter()
        .map(|h| {
            h.split_whitespace()
                .filter_map(|item| saved.log.item_id(item))
                .collect()
        })
        .collect();
    let rows = saved.codec.encode(&histories)?;
    let nll = saved.generator.token_nll(&rows)?;
    let len = saved.codec.seq_len();
    Ok(histories
        .iter()
        .zip(nll.chunks(len))
        .map(|(history, nll)| {
            // The kept items and the end token.
            let scored = saved.codec.truncate(history).len() + 1;
            -nll[..scored].iter().map(|&x| x as f64).sum::<f64>() / scored as f64
        })
        .collect())
}

/// `socgan eval` of behaviour-GAN checkpoints: the run's evaluation (NLL of held-out users,
/// statistics and copy audit of `samples` synthetic histories, default the run's count).
pub fn eval(
    checkpoints: &[(PathBuf, Checkpoint)],
    seed: u64,
    samples: Option<usize>,
    device: &Device,
) -> Result<Vec<serde_json::Value>> {
    let mut lines = Vec::new();
    for (path, ckpt) in checkpoints {
        let saved = SavedGenerator::load(ckpt, device)?;
        let c = &saved.config;
        let split = LeaveOneOut::new(&saved.log);
        let (training, holdout) = generator_histories(&split, c.holdout_users, c.seed);
        let samples = samples.unwrap_or(c.samples);
        let mut evaluator =
            BehaviourEvaluator::new(saved.codec, &training, &holdout, samples, c.seed)?;
        let mut rng = SeededRng::derive(seed, "evaluation", 0);
        let metrics =
            text_models::SequenceEvaluator::evaluate(&mut evaluator, &saved.generator, &mut rng)?;
        lines.push(serde_json::json!({
            "checkpoint": path.display().to_string(),
            "algorithm": c.algorithm.name(),
            "samples": samples,
            "metrics": metrics,
        }));
    }
    Ok(lines)
}

/// `socgan generate` of a behaviour-GAN checkpoint: `n` synthetic users' histories, as
/// `synthetic-K item` lines (SASRec's layout, original item ids), to `output` or stdout.
pub fn generate(
    ckpt: &Checkpoint,
    n: usize,
    seed: u64,
    output: Option<&Path>,
    device: &Device,
) -> Result<()> {
    let SavedGenerator {
        log,
        codec,
        generator,
        ..
    } = SavedGenerator::load(ckpt, device)?;
    let rows = generator.sample(
        n,
        &Default::default(),
        &mut SeededRng::derive(seed, "generate", 0),
    )?;
    let text = synthetic_log(&codec.decode(&rows), &log);
    match output {
        Some(path) => {
            let provenance = data::Provenance {
                log_sha256: data::log_digest(&log),
                generator: ckpt.dir.display().to_string(),
            };
            let json = serde_json::to_string_pretty(&provenance)
                .map_err(|e| Error::Config(format!("provenance as JSON: {e}")))?;
            write_atomic(&data::provenance_path(path), json.as_bytes())?;
            write_atomic(path, text.as_bytes())?;
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// Synthetic histories as a SASRec-layout log (empty ones are left out).
fn synthetic_log(histories: &[Vec<u32>], log: &InteractionLog) -> String {
    let mut text = String::new();
    for (k, history) in histories.iter().filter(|h| !h.is_empty()).enumerate() {
        for &item in history {
            let _ = writeln!(text, "synthetic-{} {}", k + 1, log.item_name(item));
        }
    }
    text
}
