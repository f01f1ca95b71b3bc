//! The run config: one TOML file, every key known (unknown keys are errors), defaults equal to the
//! setting being reproduced. The effective config is written beside every checkpoint.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use gan_core::{AdamConfig, AdversarialLoss, TrainSchedule, TrainerConfig};
use serde::{Deserialize, Serialize};
use socgan_data::posts::Normalizer;
use socgan_data::tokenizer::{PreTokenizer, TokenizerKind};
use text_models::{Algorithm, DiscriminatorConfig, GeneratorConfig};

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
        /// Replace invalid UTF-8 instead of stopping at it.
        #[serde(default)]
        lossy: bool,
        #[serde(default)]
        normalize: Normalizer,
        #[serde(default)]
        tokenizer: TokenizerConfig,
        #[serde(default = "default_hypotheses")]
        num_hypotheses: usize,
    },
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

    fn to_toml(&self) -> toml::Value {
        toml::Value::try_from(self).expect("paths serialise")
    }
}

/// Data chosen on the command line (`train --dataset`), replacing the config's data files.
#[derive(Clone, Debug)]
pub struct DatasetChoice {
    /// Names the default run directory.
    pub name: String,
    pub train: Vec<PathBuf>,
    pub test: Option<Vec<PathBuf>>,
    pub text_field: String,
}

/// The run a bare `socgan train --dataset X` makes: MLE for 10 epochs on length-40 sequences
/// (COCO captions and tweets fit; longer posts are cut), evaluated every 2 epochs.
const DATASET_DEFAULT_RUN: &str = r#"
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
    pub discriminator_steps_per_round: u64,
    pub generator_steps_per_round: u64,
    /// Evaluate every this many MLE epochs (0: at the end of MLE only).
    pub mle_eval_every_epochs: u64,
    pub adversarial_eval_every: u64,
    pub log_every: u64,
    pub checkpoint_every: u64,
    pub keep_checkpoints: usize,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        let core = TrainSchedule::default();
        Self {
            mle_epochs: 0,
            discriminator_pretrain_steps: 0,
            adversarial_rounds: 0,
            discriminator_steps_per_round: 1,
            generator_steps_per_round: 1,
            mle_eval_every_epochs: 0,
            adversarial_eval_every: 0,
            log_every: core.log_every,
            checkpoint_every: 0,
            keep_checkpoints: core.keep_checkpoints,
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
pub struct RunConfig {
    #[serde(default)]
    pub seed: u64,
    /// Run directory: checkpoints, metrics, samples and charts go here.
    pub out_dir: PathBuf,
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    pub algorithm: Algorithm,
    /// Start the generator (and the discriminator, if its shapes match) from this checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<PathBuf>,
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

impl RunConfig {
    /// The config of `socgan train`: `path` (or, with only a data set, a default MLE run), with
    /// the data set's files in place of the config's and `overrides` applied last.
    pub fn load_for_training(
        path: Option<&Path>,
        dataset: Option<&DatasetChoice>,
        overrides: &[String],
    ) -> Result<Self> {
        let (text, origin) = match path {
            Some(p) => (
                std::fs::read_to_string(p)
                    .with_context(|| format!("{}: cannot read config", p.display()))?,
                p.display().to_string(),
            ),
            None => (DATASET_DEFAULT_RUN.to_string(), "default run".to_string()),
        };
        let mut table: toml::Table =
            toml::from_str(&text).map_err(|e| anyhow!("{origin}: {}", one_line(&e.to_string())))?;
        if let Some(d) = dataset {
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
                DataFiles::from_paths(d.train.clone()).to_toml(),
            );
            match &d.test {
                Some(test) => {
                    data.insert("test".into(), DataFiles::from_paths(test.clone()).to_toml());
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
        }
        Self::from_table(table, overrides).with_context(|| origin)
    }

    pub fn parse(text: &str, overrides: &[String]) -> Result<Self> {
        let value: toml::Table =
            toml::from_str(text).map_err(|e| anyhow!("{}", one_line(&e.to_string())))?;
        Self::from_table(value, overrides)
    }

    fn from_table(mut value: toml::Table, overrides: &[String]) -> Result<Self> {
        for assignment in overrides {
            apply_override(&mut value, assignment)?;
        }
        let config: RunConfig = value
            .try_into()
            .map_err(|e: toml::de::Error| anyhow!("{}", one_line(&e.to_string())))?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<()> {
        self.generator.validate()?;
        self.discriminator.validate(self.generator.seq_len)?;
        self.algorithm.validate()?;
        self.trainer_config(1).validate()?;
        if self.batch_size == 0 {
            bail!("batch_size must be at least 1");
        }
        if matches!(self.algorithm, Algorithm::Mle) && self.schedule.adversarial_rounds > 0 {
            bail!(
                "algorithm `mle` trains no adversarial rounds: set schedule.adversarial_rounds = 0"
            );
        }
        if !matches!(self.algorithm, Algorithm::Mle) && self.schedule.adversarial_rounds == 0 {
            bail!(
                "algorithm `{}` needs schedule.adversarial_rounds > 0",
                self.algorithm.name()
            );
        }
        match &self.data {
            DataConfig::Oracle {
                num_train,
                num_test,
                eval_samples,
                ..
            } => {
                if *num_train < self.batch_size || *num_test == 0 || *eval_samples == 0 {
                    bail!("data: num_train must be at least batch_size ({}), num_test and eval_samples at least 1", self.batch_size);
                }
            }
            DataConfig::Text {
                num_hypotheses,
                tokenizer,
                holdout_fraction,
                ..
            } => {
                if !(*holdout_fraction > 0.0 && *holdout_fraction <= 0.5) {
                    bail!("data.holdout_fraction must be in (0, 0.5], got {holdout_fraction}");
                }
                if *num_hypotheses < 2 {
                    bail!("data: num_hypotheses must be at least 2 (Self-BLEU compares each with the others)");
                }
                if tokenizer.vocab_size < 5 {
                    bail!("data.tokenizer.vocab_size must exceed the 4 special tokens");
                }
            }
        }
        Ok(())
    }

    /// The trainer's config, with MLE epochs turned into steps of `batches_per_epoch`.
    pub fn trainer_config(&self, batches_per_epoch: u64) -> TrainerConfig {
        let s = &self.schedule;
        TrainerConfig {
            seed: self.seed,
            schedule: TrainSchedule {
                generator_pretrain_steps: s.mle_epochs * batches_per_epoch,
                discriminator_pretrain_steps: s.discriminator_pretrain_steps,
                adversarial_rounds: s.adversarial_rounds,
                discriminator_steps_per_round: s.discriminator_steps_per_round,
                generator_steps_per_round: s.generator_steps_per_round,
                pretrain_eval_every: s.mle_eval_every_epochs * batches_per_epoch,
                adversarial_eval_every: s.adversarial_eval_every,
                log_every: s.log_every,
                checkpoint_every: s.checkpoint_every,
                keep_checkpoints: s.keep_checkpoints,
            },
            loss: self.loss.clone(),
            generator_pretrain_optim: self.optim.generator_pretrain.clone(),
            generator_optim: self.optim.generator.clone(),
            discriminator_optim: self.optim.discriminator.clone(),
        }
    }

    pub fn to_toml(&self) -> Result<String> {
        Ok(toml::to_string_pretty(self)?)
    }
}

/// toml's messages span several lines (with a source excerpt); errors here are one line.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with('|') && !l.chars().all(|c| c == '^' || c == ' ')
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Applies `a.b.c=value`; `value` is read as TOML (numbers, booleans, quoted strings, inline
/// tables) and as a bare string if it is not valid TOML.
fn apply_override(root: &mut toml::Table, assignment: &str) -> Result<()> {
    let (key, raw) = assignment
        .split_once('=')
        .ok_or_else(|| anyhow!("override `{assignment}`: expected KEY=VALUE"))?;
    let parsed: toml::Value = match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut t) => t.remove("v").expect("just parsed"),
        Err(_) => toml::Value::String(raw.to_string()),
    };
    let parts: Vec<&str> = key.trim().split('.').collect();
    let mut table = root;
    for part in &parts[..parts.len() - 1] {
        let entry = table
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = entry
            .as_table_mut()
            .ok_or_else(|| anyhow!("override `{key}`: `{part}` is not a table"))?;
    }
    table.insert(parts[parts.len() - 1].to_string(), parsed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
out_dir = "runs/x"
algorithm = { kind = "relgan", beta_max = 100.0, straight_through = false }
[data]
kind = "oracle"
oracle = { source = "random", seed = 1 }
[schedule]
mle_epochs = 1
adversarial_rounds = 5
"#;

    #[test]
    fn defaults_are_relgans_and_overrides_apply() {
        let c = RunConfig::parse(
            MINIMAL,
            &[
                "schedule.adversarial_rounds=7".into(),
                "optim.generator.lr=0.5".into(),
            ],
        )
        .unwrap();
        assert_eq!(c.schedule.adversarial_rounds, 7);
        assert_eq!(c.optim.generator.lr, 0.5);
        assert_eq!(c.discriminator, DiscriminatorConfig::relgan());
        assert_eq!(c.loss, AdversarialLoss::Rsgan);
        // The saved config reads back to the same value.
        assert_eq!(RunConfig::parse(&c.to_toml().unwrap(), &[]).unwrap(), c);
    }

    #[test]
    fn unknown_keys_and_impossible_settings_are_one_line_errors() {
        let err = RunConfig::parse(&format!("{MINIMAL}\nbogus = 1\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown field `bogus`") && !err.contains('\n'),
            "{err}"
        );
        let err = RunConfig::parse(MINIMAL, &["schedule.typo=1".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `typo`"), "{err}");
        let err = RunConfig::parse(MINIMAL, &["generator.seq_len=3".into()])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("filter width 4 does not fit sequences of length 3"),
            "{err}"
        );
        let err = RunConfig::parse(MINIMAL, &["optim.generator.lr=-1".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("lr > 0"), "{err}");
    }
}
