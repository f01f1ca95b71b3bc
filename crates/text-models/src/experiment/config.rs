//! The config of a text GAN run: one TOML file, every key known (unknown keys are errors),
//! defaults equal to the setting being reproduced (RelGAN's synthetic-data setting). The
//! effective config is written beside every checkpoint, so a checkpoint alone rebuilds its model.

use std::path::{Path, PathBuf};

use gan_core::config::ConfigTable;
use gan_core::trainer::plan::DEFAULT_DIVERGENCE_FACTOR;
use gan_core::{AdamConfig, AdversarialLoss, OptimizerSpec, PhaseSpec, RunConfig, TrainerConfig};
use serde::{Deserialize, Serialize};
use socgan_data::datasets::TrainingFiles;
use socgan_data::posts::Normalizer;
use socgan_data::tokenizer::{PreTokenizer, TokenizerKind};

use crate::algorithms::{names, TextUpdate};
use crate::{Algorithm, DiscriminatorConfig, DiscriminatorData, Error, GeneratorConfig, Result};

gan_core::task_tag!(
    /// The `task` tag of a text GAN config: `task = "text_gan"`.
    TextGanTag,
    TextGan,
    "text_gan"
);

/// Where the oracle of a synthetic run comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case", deny_unknown_fields)]
pub enum OracleSource {
    /// SeqGAN's fixed oracle (the one behind the published tables), from safetensors.
    Seqgan { path: PathBuf },
    /// A random oracle drawn from `seed` (TextGAN-PyTorch style; comparable only to itself).
    Random { seed: u64 },
}

/// Training and evaluation data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DataConfig {
    /// The synthetic-oracle benchmark: `num_train` oracle samples to train on, `num_test` held out
    /// for NLL_gen, `eval_samples` generator samples scored by the oracle for NLL_oracle.
    Oracle {
        oracle: OracleSource,
        #[serde(default = "default_10k")]
        num_train: usize,
        #[serde(default = "default_10k")]
        num_test: usize,
        #[serde(default = "default_10k")]
        eval_samples: usize,
        /// Seed of the oracle samples, separate from the training seed so that runs of
        /// different algorithms and seeds train on the same data.
        #[serde(default)]
        data_seed: u64,
    },
    /// Real text: one post per line (`.txt`), CSV/TSV (a column), JSONL (a field), Parquet (a
    /// column) or TweetEval files; normalised, tokenised, encoded to `generator.seq_len` ids
    /// (tokens, `<eos>`, `<pad>`s). Evaluated by BLEU-2..5 and Self-BLEU-2..5 of
    /// `num_hypotheses` samples against the whole test set, and NLL_gen on the test set.
    Text {
        train: DataFiles,
        /// Without a test file, the last `holdout_fraction` of the training posts (in file
        /// order, at least one) are held out as the test set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        test: Option<DataFiles>,
        #[serde(default = "default_holdout")]
        holdout_fraction: f64,
        /// Column (CSV/TSV) or field (JSONL) holding the text.
        #[serde(default = "default_text_field")]
        text_field: String,
        /// Train a class-conditional generator (mle, catgan): the column or field holding each
        /// post's class (TweetEval `_text.txt` files read their `_labels.txt` and
        /// `mapping.txt`). Test posts need labels too: each class is scored on its own.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label_field: Option<String>,
        /// Replace invalid UTF-8 instead of stopping at it.
        #[serde(default)]
        lossy: bool,
        #[serde(default)]
        normalize: Normalizer,
        #[serde(default)]
        tokenizer: TokenizerConfig,
        #[serde(default = "default_hypotheses")]
        num_hypotheses: usize,
        /// Canaries planted in the training posts, for `socgan audit --checkpoint`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        canaries: Option<CanaryConfig>,
    },
}

/// Canaries for the audit's exposure measure (Carlini et al., "The Secret Sharer"): `count`
/// random posts of the data's own form (lengths and words drawn from its training posts), each
/// inserted `repeats` times into the training posts, and `candidates` more of the same form
/// never trained on; written beside the run as `canaries.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryConfig {
    pub count: usize,
    pub repeats: usize,
    #[serde(default = "default_canary_candidates")]
    pub candidates: usize,
}

fn default_canary_candidates() -> usize {
    1000
}

/// One file, or several read in order (a split sharded into Parquet files).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DataFiles {
    One(PathBuf),
    Many(Vec<PathBuf>),
}

impl DataFiles {
    pub fn paths(&self) -> Vec<&Path> {
        match self {
            DataFiles::One(p) => vec![p.as_path()],
            DataFiles::Many(ps) => ps.iter().map(PathBuf::as_path).collect(),
        }
    }

    fn from_paths(mut paths: Vec<PathBuf>) -> Self {
        if paths.len() == 1 {
            DataFiles::One(paths.remove(0))
        } else {
            DataFiles::Many(paths)
        }
    }

    /// As a TOML value; a path that is not UTF-8 cannot be written into a config.
    fn to_toml(&self) -> Result<toml::Value> {
        toml::Value::try_from(self).map_err(|e| {
            Error::Config(format!(
                "{}: cannot be written into a config ({e})",
                self.paths()
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }
}

/// The run a bare `socgan train --dataset X` makes: MLE for 10 epochs on length-40 sequences
/// (COCO captions and tweets fit; longer posts are cut), evaluated every 2 epochs.
pub const DATASET_DEFAULT_RUN: &str = r#"
task = "text_gan"
algorithm = { kind = "mle" }
[generator]
seq_len = 40
[schedule]
mle_epochs = 10
mle_eval_every_epochs = 2
"#;

/// The tokenizer of a text run: trained on the training posts, or a pretrained `tokenizer.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenizerConfig {
    pub kind: TokenizerKind,
    pub pre_tokenizer: PreTokenizer,
    /// Largest vocabulary, special tokens included.
    pub vocab_size: usize,
    pub min_frequency: u64,
    /// Use this `tokenizer.json` instead of training one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pretrained: Option<PathBuf>,
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        Self {
            kind: TokenizerKind::WordLevel,
            pre_tokenizer: PreTokenizer::default(),
            vocab_size: 30_000,
            min_frequency: 1,
            pretrained: None,
        }
    }
}

fn default_holdout() -> f64 {
    0.1
}
fn default_text_field() -> String {
    "text".to_string()
}
fn default_hypotheses() -> usize {
    // TextGAN-PyTorch scores 200 generated sentences (RelGAN 100).
    200
}
fn default_10k() -> usize {
    10_000
}

/// The schedule in the units text GANs are described in (MLE epochs, adversarial rounds).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleConfig {
    pub mle_epochs: u64,
    pub discriminator_pretrain_steps: u64,
    pub adversarial_rounds: u64,
    /// Discriminator steps a round with fresh batches (SeqGAN's pools set their own count).
    pub discriminator_steps_per_round: u64,
    /// Fresh batches every discriminator step (the default), or SeqGAN's sample pools:
    /// `{ kind = "sampled_pool", refreshes = 5, epochs = 3, samples = 10000 }`.
    pub discriminator_data: DiscriminatorData,
    pub generator_steps_per_round: u64,
    /// Evaluate every this many MLE epochs (0: at the end of MLE only).
    pub mle_eval_every_epochs: u64,
    pub adversarial_eval_every: u64,
    pub log_every: u64,
    /// Checkpoint every this many MLE epochs (0: at the end of MLE only).
    pub mle_checkpoint_every_epochs: u64,
    /// Checkpoint every this many discriminator-pretraining steps and adversarial rounds (0: at
    /// the end of each phase only).
    pub checkpoint_every: u64,
    /// Checkpoint every this many discriminator-pretraining steps instead (SeqGAN's pools make
    /// tens of thousands of them).
    pub discriminator_pretrain_checkpoint_every: Option<u64>,
    pub keep_checkpoints: usize,
    /// Stop when a loss exceeds this many times its running low (see `gan_core`'s trainer).
    pub divergence_factor: Option<f64>,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            mle_epochs: 0,
            discriminator_pretrain_steps: 0,
            adversarial_rounds: 0,
            discriminator_steps_per_round: 1,
            discriminator_data: DiscriminatorData::FreshBatches,
            generator_steps_per_round: 1,
            mle_eval_every_epochs: 0,
            adversarial_eval_every: 0,
            log_every: 10,
            mle_checkpoint_every_epochs: 0,
            checkpoint_every: 0,
            discriminator_pretrain_checkpoint_every: None,
            keep_checkpoints: 2,
            divergence_factor: Some(DEFAULT_DIVERGENCE_FACTOR),
        }
    }
}

impl ScheduleConfig {
    /// One adversarial round: fresh-batch discriminator steps then the generator's (as
    /// TextGAN-PyTorch orders them), or SeqGAN's order with its pools, the generator's step
    /// first and then the pools' epochs.
    fn adversarial_round(&self, batch_size: usize) -> Vec<(TextUpdate, u64)> {
        let generator = (TextUpdate::Generator, self.generator_steps_per_round);
        match self.discriminator_data.steps_per_round(batch_size) {
            None => vec![
                (
                    TextUpdate::Discriminator,
                    self.discriminator_steps_per_round,
                ),
                generator,
            ],
            Some(pool_steps) => vec![generator, (TextUpdate::Discriminator, pool_steps)],
        }
    }

    /// SeqGAN's pools only where they apply, and without a step count they would override.
    pub fn validate_discriminator_data(
        &self,
        algorithm: &Algorithm,
        loss: &AdversarialLoss,
        batch_size: usize,
    ) -> Result<()> {
        self.discriminator_data
            .validate(algorithm.adversarial().as_ref(), loss, batch_size)?;
        if self.discriminator_data != DiscriminatorData::FreshBatches
            && self.discriminator_steps_per_round != 1
        {
            return Err(Error::Config(format!(
                "schedule.discriminator_steps_per_round ({}) counts fresh batches; sampled_pool makes refreshes x epochs x batches steps a round: remove it",
                self.discriminator_steps_per_round
            )));
        }
        Ok(())
    }

    /// The trainer's plan of a run of `algorithm`: MLE epochs, then (adversarial algorithms)
    /// discriminator pretraining and adversarial rounds; every model crate that trains the
    /// token-sequence GANs (text, behaviour sequences) declares its run through this.
    #[allow(clippy::too_many_arguments)]
    pub fn trainer_config(
        &self,
        seed: u64,
        algorithm: &Algorithm,
        loss: &AdversarialLoss,
        optim: &OptimConfig,
        batches_per_epoch: u64,
        batch_size: usize,
    ) -> TrainerConfig<TextUpdate> {
        let s = self;
        let phase = |name: &str, steps, round, eval_every, checkpoint_every| PhaseSpec {
            name: name.to_string(),
            steps,
            round,
            eval_every,
            checkpoint_every,
        };
        let mut phases = vec![phase(
            "generator_pretrain",
            s.mle_epochs.saturating_mul(batches_per_epoch),
            vec![(TextUpdate::Mle, 1)],
            s.mle_eval_every_epochs.saturating_mul(batches_per_epoch),
            s.mle_checkpoint_every_epochs
                .saturating_mul(batches_per_epoch),
        )];
        let mut optimizers = vec![OptimizerSpec::new(
            names::GENERATOR_PRETRAIN_OPTIMIZER,
            names::GENERATOR,
            optim.generator_pretrain.clone(),
        )];
        if algorithm.adversarial().is_some() {
            phases.push(phase(
                "discriminator_pretrain",
                s.discriminator_pretrain_steps,
                vec![(TextUpdate::DiscriminatorPretrain, 1)],
                0,
                s.discriminator_pretrain_checkpoint_every
                    .unwrap_or(s.checkpoint_every),
            ));
            phases.push(phase(
                "adversarial",
                s.adversarial_rounds,
                s.adversarial_round(batch_size),
                s.adversarial_eval_every,
                s.checkpoint_every,
            ));
            optimizers.push(OptimizerSpec::new(
                names::GENERATOR_OPTIMIZER,
                names::GENERATOR,
                optim.generator.clone(),
            ));
            optimizers.push(OptimizerSpec::critic(
                names::DISCRIMINATOR_OPTIMIZER,
                names::DISCRIMINATOR,
                optim.discriminator.clone(),
                loss,
            ));
        }
        phases.retain(|p| p.steps > 0);
        TrainerConfig {
            phases,
            optimizers,
            log_every: s.log_every,
            keep_checkpoints: s.keep_checkpoints,
            divergence_factor: s.divergence_factor,
            ..TrainerConfig::new(seed)
        }
    }
}

/// Optimizers of the three kinds of update.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimConfig {
    pub generator_pretrain: AdamConfig,
    pub generator: AdamConfig,
    pub discriminator: AdamConfig,
}

impl Default for OptimConfig {
    /// RelGAN's settings: MLE with Adam lr 1e-2, adversarial G and D with Adam lr 1e-4,
    /// betas (0.9, 0.999); gradients clipped to norm 5 as TextGAN-PyTorch does.
    fn default() -> Self {
        let adam = |lr| AdamConfig {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            grad_clip: Some(5.0),
            ..Default::default()
        };
        Self {
            generator_pretrain: adam(1e-2),
            generator: adam(1e-4),
            discriminator: adam(1e-4),
        }
    }
}

/// A whole run. The defaults are RelGAN's synthetic-data setting (Nie et al. 2019).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextGanConfig {
    pub task: TextGanTag,
    #[serde(default)]
    pub seed: u64,
    /// Run directory: checkpoints, metrics, samples and charts go here.
    pub out_dir: PathBuf,
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    pub algorithm: Algorithm,
    /// Start the generator from this run's (or checkpoint's) generator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<PathBuf>,
    /// With `init_from` a run directory: start from the checkpoint at the end of this MLE epoch
    /// (the run must have trained on the same data with the same batch size, and kept it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from_epoch: Option<u64>,
    pub data: DataConfig,
    #[serde(default)]
    pub generator: GeneratorConfig,
    #[serde(default = "DiscriminatorConfig::relgan")]
    pub discriminator: DiscriminatorConfig,
    #[serde(default = "default_loss")]
    pub loss: AdversarialLoss,
    #[serde(default)]
    pub schedule: ScheduleConfig,
    #[serde(default)]
    pub optim: OptimConfig,
}

fn default_batch() -> usize {
    64
}
fn default_loss() -> AdversarialLoss {
    AdversarialLoss::Rsgan
}

impl TextGanConfig {
    /// The config of `socgan train`: `table` with the data set's files in place of its own
    /// (a default MLE run's when there is only a data set) and `overrides` applied last.
    pub fn load_for_training(
        table: Option<ConfigTable>,
        dataset: Option<&TrainingFiles>,
        overrides: &[String],
    ) -> Result<Self> {
        let mut source = match table {
            Some(t) => t,
            None => ConfigTable::parse(DATASET_DEFAULT_RUN, "default text run")?,
        };
        if let Some(d) = dataset {
            use_dataset(&mut source.table, d)?;
        }
        Ok(Self::from_table(source.with_overrides(overrides)?)?)
    }

    /// The trainer's plan: MLE epochs of `batches_per_epoch` steps, discriminator pretraining,
    /// adversarial rounds; the optimizers each algorithm uses.
    pub fn trainer_config(&self, batches_per_epoch: u64) -> TrainerConfig<TextUpdate> {
        self.schedule.trainer_config(
            self.seed,
            &self.algorithm,
            &self.loss,
            &self.optim,
            batches_per_epoch,
            self.batch_size,
        )
    }
}

impl RunConfig for TextGanConfig {
    const TASK: &'static str = TextGanTag::TAG;

    fn out_dir(&self) -> &Path {
        &self.out_dir
    }

    fn validate(&self) -> gan_core::Result<()> {
        let bail = |m: String| Err(gan_core::Error::Config(m));
        if let DataConfig::Text {
            canaries: Some(c),
            label_field,
            ..
        } = &self.data
        {
            if c.count == 0 || c.repeats == 0 || c.candidates < 10 {
                return bail(format!(
                    "data.canaries: count {} and repeats {} must be at least 1, candidates {} at least 10",
                    c.count, c.repeats, c.candidates
                ));
            }
            if label_field.is_some() {
                return bail(
                    "data.canaries go into unlabelled posts only (drop data.label_field)".into(),
                );
            }
        }
        self.generator.validate()?;
        self.algorithm.validate()?;
        if self.algorithm.adversarial().is_some() {
            self.discriminator.validate(self.generator.seq_len)?;
        }
        self.trainer_config(1).validate()?;
        self.schedule
            .validate_discriminator_data(&self.algorithm, &self.loss, self.batch_size)?;
        if self.batch_size == 0 {
            return bail("batch_size must be at least 1".into());
        }
        let s = &self.schedule;
        match self.algorithm {
            Algorithm::Mle if s.adversarial_rounds > 0 || s.discriminator_pretrain_steps > 0 => {
                return bail("algorithm `mle` trains no discriminator: set schedule.adversarial_rounds and schedule.discriminator_pretrain_steps to 0".into());
            }
            Algorithm::SeqGan { .. } | Algorithm::RelGan { .. } | Algorithm::CatGan { .. }
                if s.adversarial_rounds == 0 =>
            {
                return bail(format!(
                    "algorithm `{}` needs schedule.adversarial_rounds > 0",
                    self.algorithm.name()
                ));
            }
            _ => {}
        }
        if self.init_from_epoch.is_some() && self.init_from.is_none() {
            return bail("init_from_epoch needs init_from".into());
        }
        let labelled = matches!(
            &self.data,
            DataConfig::Text {
                label_field: Some(_),
                ..
            }
        );
        if self.algorithm.needs_classes() && !labelled {
            return bail(format!(
                "algorithm `{}` generates posts of a class: set data.label_field (text data with labels)",
                self.algorithm.name()
            ));
        }
        if labelled && !matches!(self.algorithm, Algorithm::Mle | Algorithm::CatGan { .. }) {
            return bail(format!(
                "data.label_field trains a class-conditional generator, which algorithm `{}` does not: use mle or catgan",
                self.algorithm.name()
            ));
        }
        if self.algorithm.needs_classes() && self.loss.gradient_penalty_weight().is_some() {
            return bail("catgan compares each class's logit; the gradient penalty of wgan_gp is not defined for it".into());
        }
        match &self.data {
            DataConfig::Oracle {
                num_train,
                num_test,
                eval_samples,
                ..
            } => {
                if *num_train < self.batch_size || *num_test == 0 || *eval_samples == 0 {
                    return bail(format!("data: num_train must be at least batch_size ({}), num_test and eval_samples at least 1", self.batch_size));
                }
            }
            DataConfig::Text {
                train,
                test,
                num_hypotheses,
                tokenizer,
                holdout_fraction,
                ..
            } => {
                if train.paths().is_empty() || test.as_ref().is_some_and(|t| t.paths().is_empty()) {
                    return bail("data.train and data.test must name at least one file".into());
                }
                if !(*holdout_fraction > 0.0 && *holdout_fraction <= 0.5) {
                    return bail(format!(
                        "data.holdout_fraction must be in (0, 0.5], got {holdout_fraction}"
                    ));
                }
                if *num_hypotheses < 2 {
                    return bail("data: num_hypotheses must be at least 2 (Self-BLEU compares each with the others)".into());
                }
                if tokenizer.pre_tokenizer == PreTokenizer::Characters {
                    // Generated text decodes token by token with spaces between: characters
                    // would come out spaced apart, and BLEU would count characters.
                    return bail("data.tokenizer.pre_tokenizer = \"characters\" is for classifiers; a text GAN generates words (words_and_punctuation or whitespace)".into());
                }
                if tokenizer.vocab_size < 5 {
                    return bail(
                        "data.tokenizer.vocab_size must exceed the 4 special tokens".into(),
                    );
                }
            }
        }
        Ok(())
    }
}

/// Puts a data set's files in place of the table's data files, keeping the text settings of a
/// text config; a default run directory `runs/<name>` unless the table sets one.
fn use_dataset(table: &mut toml::Table, d: &TrainingFiles) -> Result<()> {
    let keep_text_settings = table
        .get("data")
        .and_then(|v| v.get("kind"))
        .and_then(|k| k.as_str())
        == Some("text");
    let mut data = if keep_text_settings {
        table["data"].as_table().cloned().unwrap_or_default()
    } else {
        let mut t = toml::Table::new();
        t.insert("kind".into(), "text".into());
        t
    };
    data.insert(
        "train".into(),
        DataFiles::from_paths(d.train.clone()).to_toml()?,
    );
    match &d.test {
        Some(test) => {
            data.insert(
                "test".into(),
                DataFiles::from_paths(test.clone()).to_toml()?,
            );
        }
        None => {
            data.remove("test");
        }
    }
    data.insert("text_field".into(), d.text_field.clone().into());
    table.insert("data".into(), toml::Value::Table(data));
    if !table.contains_key("out_dir") {
        let slug = d.name.replace(['/', '\\', '.'], "-");
        table.insert("out_dir".into(), format!("runs/{slug}").into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
task = "text_gan"
out_dir = "runs/x"
algorithm = { kind = "relgan", beta_max = 100.0, straight_through = false }
[data]
kind = "oracle"
oracle = { source = "random", seed = 1 }
[schedule]
mle_epochs = 1
adversarial_rounds = 5
"#;

    fn parse(text: &str, overrides: &[&str]) -> gan_core::Result<TextGanConfig> {
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        TextGanConfig::from_table(
            ConfigTable::parse(text, "test.toml")?.with_overrides(&overrides)?,
        )
    }

    #[test]
    fn defaults_are_relgans_and_overrides_apply() {
        let c = parse(
            MINIMAL,
            &["schedule.adversarial_rounds=7", "optim.generator.lr=0.5"],
        )
        .unwrap();
        assert_eq!(c.schedule.adversarial_rounds, 7);
        assert_eq!(c.optim.generator.lr, 0.5);
        assert_eq!(c.discriminator, DiscriminatorConfig::relgan());
        assert_eq!(c.loss, AdversarialLoss::Rsgan);
        // The saved config reads back to the same value.
        assert_eq!(
            TextGanConfig::parse(&c.to_toml().unwrap(), "saved").unwrap(),
            c
        );
        // An MLE run declares no discriminator optimizer; an adversarial one does.
        let plan = c.trainer_config(3);
        let names: Vec<&str> = plan.optimizers.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["generator_pretrain", "generator", "discriminator"]);
        let mle = parse(
            MINIMAL,
            &[
                "algorithm={ kind = \"mle\" }",
                "schedule.adversarial_rounds=0",
            ],
        )
        .unwrap()
        .trainer_config(3);
        assert_eq!(mle.optimizers.len(), 1);
        assert_eq!(mle.phases.len(), 1);
        assert_eq!(mle.total_steps(), 3);
    }

    #[test]
    fn seqgans_pools_set_the_rounds_discriminator_steps_and_apply_to_seqgan_only() {
        let pool = "schedule.discriminator_data={ kind = \"sampled_pool\", refreshes = 5, epochs = 3, samples = 10000 }";
        let seqgan = parse(
            MINIMAL,
            &[
                "algorithm={ kind = \"seqgan\", rollouts = 16 }",
                "loss={ kind = \"non_saturating\" }",
                "batch_size=64",
                pool,
            ],
        )
        .unwrap();
        let plan = seqgan.trainer_config(3);
        let round = &plan.phases.last().unwrap().round;
        assert_eq!(
            round[..],
            [
                (TextUpdate::Generator, 1),
                (TextUpdate::Discriminator, 5 * 3 * 312)
            ]
        );
        for (bad, expected) in [
            (vec![pool], "SeqGAN's schedule"),
            (
                vec![
                    "algorithm={ kind = \"seqgan\", rollouts = 16 }",
                    "loss={ kind = \"non_saturating\" }",
                    "schedule.discriminator_steps_per_round=15",
                    pool,
                ],
                "discriminator_steps_per_round",
            ),
        ] {
            let err = parse(MINIMAL, &bad).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }

    #[test]
    fn the_generator_core_is_an_lstm_unless_a_relational_memory_is_asked_for() {
        use crate::{CoreConfig, RelationalMemoryConfig};
        assert_eq!(
            parse(MINIMAL, &[]).unwrap().generator.core,
            CoreConfig::Lstm
        );
        let paper = parse(
            MINIMAL,
            &["generator.core={ kind = \"relational_memory\" }"],
        )
        .unwrap();
        assert_eq!(
            paper.generator.core,
            CoreConfig::RelationalMemory(RelationalMemoryConfig {
                slots: 1,
                heads: 2,
                head_size: 256
            })
        );
        assert_eq!(paper.generator.output_width(), 512);
        let saved = TextGanConfig::parse(&paper.to_toml().unwrap(), "saved").unwrap();
        assert_eq!(saved, paper);
        for (bad, expected) in [
            (
                "{ kind = \"transformer\" }",
                "unknown variant `transformer`",
            ),
            (
                "{ kind = \"relational_memory\", slot = 2 }",
                "unknown field `slot`",
            ),
            (
                "{ kind = \"relational_memory\", heads = 0 }",
                "at least one slot, head and unit per head",
            ),
        ] {
            let err = parse(MINIMAL, &[&format!("generator.core={bad}")])
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected) && !err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn unknown_keys_and_impossible_settings_are_one_line_errors() {
        let err = parse(&format!("{MINIMAL}\nbogus = 1\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown field `bogus`") && !err.contains('\n'),
            "{err}"
        );
        let err = parse(MINIMAL, &["schedule.typo=1"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `typo`"), "{err}");
        let err = parse(MINIMAL, &["generator.seq_len=3"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("filter width 4 does not fit sequences of length 3"),
            "{err}"
        );
        let err = parse(MINIMAL, &["optim.generator.lr=-1"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("lr > 0"), "{err}");
        let err = parse(MINIMAL, &["task=image_gan"]).unwrap_err().to_string();
        assert!(err.contains("unknown variant `image_gan`"), "{err}");
        // An empty file list was an index out of bounds when the data was read.
        let text = "task = \"text_gan\"\nout_dir = \"x\"\nalgorithm = { kind = \"mle\" }\n[data]\nkind = \"text\"\ntrain = []\n";
        let err = parse(text, &[]).unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid setting: test.toml: data.train and data.test must name at least one file"
        );
        let text = "task = \"text_gan\"\nout_dir = \"x\"\nalgorithm = { kind = \"mle\" }\n[data]\nkind = \"text\"\ntrain = \"t.txt\"\ntokenizer = { pre_tokenizer = \"characters\" }\n";
        let err = parse(text, &[]).unwrap_err().to_string();
        assert!(err.contains("is for classifiers"), "{err}");
    }

    /// Every config users copy from `configs/` parses and validates (paths need not exist).
    #[test]
    fn the_example_configs_are_valid() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        let configs = gan_core::config::example_configs(&root, TextGanTag::TAG).unwrap();
        for (path, table) in &configs {
            TextGanConfig::from_table(table.clone())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
        assert!(
            configs.len() >= 12,
            "only {} text_gan configs",
            configs.len()
        );
    }
}
