//! The config of a behaviour run (`task = "behaviour"`): the log and how to read it, the model,
//! the objective and schedule, evaluation. Defaults are SASRec's on the sparse Amazon sets
//! (pmixer/SASRec.pytorch: batch 128, Adam lr 1e-3 with betas (0.9, 0.98)).

use std::path::PathBuf;

use gan_core::trainer::plan::DEFAULT_DIVERGENCE_FACTOR;
use gan_core::{AdamConfig, Goal, OptimizerSpec, PhaseSpec, RunConfig, Selection, TrainerConfig};
use serde::{Deserialize, Serialize};
use socgan_data::interactions::{KCore, LogColumns, LogFormat};

use crate::evaluation::EvaluationConfig;
use crate::loss::NextItemLoss;
use crate::model::ModelConfig;
use crate::ranking::metric_names;
use crate::task::{NextItemUpdate, MODEL_GROUP};
use crate::{Error, Result};

gan_core::task_tag!(
    /// The `task` tag of a behaviour config: `task = "behaviour"`.
    BehaviourTag,
    Behaviour,
    "behaviour"
);

/// How the log file is laid out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LogLayout {
    /// By extension: `ratings.csv` is MovieLens, `.csv` / `.tsv` / `.jsonl` / `.parquet` name
    /// their columns, anything else is SASRec's `user item` lines.
    #[default]
    Auto,
    /// `user item` per line, time-ordered (SASRec's files).
    Sasrec,
    /// MovieLens `ratings.csv`.
    Movielens,
    Csv,
    Tsv,
    Jsonl,
    Parquet,
}

/// The interaction log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// A short name for tables (`games`, `movielens`).
    #[serde(default)]
    pub name: String,
    pub path: PathBuf,
    #[serde(default)]
    pub layout: LogLayout,
    /// User and item columns of a tabular log (CSV / TSV / JSONL / Parquet); unset for SASRec's
    /// layout and MovieLens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_column: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_column: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_column: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_column: Option<String>,
    /// Keep only these action types (needs `action_column`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<String>>,
    #[serde(default)]
    pub min_user_interactions: usize,
    #[serde(default)]
    pub min_item_interactions: usize,
    /// Replace invalid UTF-8 instead of failing.
    #[serde(default)]
    pub lossy: bool,
}

impl LogConfig {
    /// The named columns, if any (both user and item, or neither).
    fn columns(&self) -> Result<Option<LogColumns>> {
        match (&self.user_column, &self.item_column) {
            (Some(user), Some(item)) => Ok(Some(LogColumns {
                user: user.clone(),
                item: item.clone(),
                timestamp: self.timestamp_column.clone(),
                action: self.action_column.clone(),
            })),
            (None, None) => Ok(None),
            _ => Err(Error::Config(
                "data: name both user_column and item_column (or neither)".into(),
            )),
        }
    }

    pub fn format(&self) -> Result<LogFormat> {
        let named = self.columns()?;
        if matches!(self.layout, LogLayout::Auto) {
            return Ok(LogFormat::for_path(&self.path, named)?);
        }
        let columns = || {
            named.clone().ok_or_else(|| {
                Error::Config(format!(
                    "data: a {:?} log needs user_column and item_column",
                    self.layout
                ))
            })
        };
        Ok(match self.layout {
            LogLayout::Auto => unreachable!("returned above"),
            LogLayout::Sasrec => LogFormat::Sasrec,
            LogLayout::Movielens => LogFormat::movielens(),
            LogLayout::Csv => LogFormat::Delimited {
                delimiter: b',',
                columns: columns()?,
            },
            LogLayout::Tsv => LogFormat::Delimited {
                delimiter: b'\t',
                columns: columns()?,
            },
            LogLayout::Jsonl => LogFormat::Jsonl {
                columns: columns()?,
            },
            LogLayout::Parquet => LogFormat::Parquet {
                columns: columns()?,
            },
        })
    }

    pub fn kcore(&self) -> KCore {
        KCore {
            min_user_interactions: self.min_user_interactions,
            min_item_interactions: self.min_item_interactions,
        }
    }
}

/// The objective and schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainingConfig {
    pub loss: NextItemLoss,
    pub epochs: u64,
    pub batch_size: usize,
    pub optimizer: AdamConfig,
    /// Evaluate (and checkpoint) every this many epochs.
    pub eval_every_epochs: u64,
    /// Stop after this many evaluations without a better validation NDCG@10.
    pub patience: Option<u64>,
    pub log_every: u64,
    pub divergence_factor: Option<f64>,
}

impl Default for TrainingConfig {
    fn default() -> Self {
        Self {
            loss: NextItemLoss::Bce,
            epochs: 200,
            batch_size: 128,
            optimizer: AdamConfig {
                lr: 1e-3,
                beta1: 0.9,
                beta2: 0.98,
                ..AdamConfig::default()
            },
            eval_every_epochs: 20,
            patience: None,
            log_every: 50,
            divergence_factor: Some(DEFAULT_DIVERGENCE_FACTOR),
        }
    }
}

/// Extra training histories from a behaviour generator (`socgan generate` of a `behaviour_gan`
/// run trained on this log): whole synthetic histories added to the training part of the split;
/// validation and test are untouched.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AugmentationConfig {
    /// A synthetic log in SASRec's layout, with this log's item ids.
    pub synthetic_log: PathBuf,
}

/// A whole run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BehaviourConfig {
    pub task: BehaviourTag,
    #[serde(default)]
    pub seed: u64,
    pub out_dir: PathBuf,
    pub data: LogConfig,
    pub model: ModelConfig,
    #[serde(default)]
    pub training: TrainingConfig,
    #[serde(default)]
    pub evaluation: EvaluationConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augmentation: Option<AugmentationConfig>,
}

impl RunConfig for BehaviourConfig {
    const TASK: &'static str = BehaviourTag::TAG;

    fn out_dir(&self) -> &std::path::Path {
        &self.out_dir
    }

    fn validate(&self) -> gan_core::Result<()> {
        self.model.validate()?;
        let t = &self.training;
        if t.epochs == 0 || t.batch_size == 0 || t.eval_every_epochs == 0 || t.log_every == 0 {
            return Err(gan_core::Error::Config(
                "training.epochs, batch_size, eval_every_epochs and log_every must be at least 1"
                    .into(),
            ));
        }
        if self.data.actions.is_some() && self.data.action_column.is_none() {
            return Err(gan_core::Error::Config(
                "data.actions needs data.action_column".into(),
            ));
        }
        if self.evaluation.sampled_negatives == 0 || self.evaluation.sampled_users == 0 {
            return Err(gan_core::Error::Config(
                "evaluation.sampled_negatives and sampled_users must be at least 1".into(),
            ));
        }
        if self.augmentation.is_some() && matches!(self.model, ModelConfig::Popularity(_)) {
            return Err(gan_core::Error::Config(
                "the popularity baseline counts the log's items; augmentation has no effect on it"
                    .into(),
            ));
        }
        if t.epochs.checked_mul(1 << 32).is_none() {
            return Err(gan_core::Error::Config(
                "training.epochs is too large".into(),
            ));
        }
        self.data.columns()?;
        // The trainer's own checks (optimizer settings, patience, divergence factor), before a
        // run directory is touched.
        self.trainer_config(1, true).validate()
    }
}

impl BehaviourConfig {
    /// The trainer's plan: `epochs` of `batches_per_epoch` updates (none for the popularity
    /// baseline), selection on validation NDCG@10 under full ranking.
    pub fn trainer_config(
        &self,
        batches_per_epoch: u64,
        trained: bool,
    ) -> TrainerConfig<NextItemUpdate> {
        let t = &self.training;
        let steps = if trained {
            t.epochs.saturating_mul(batches_per_epoch)
        } else {
            0
        };
        let eval_every = t
            .eval_every_epochs
            .saturating_mul(batches_per_epoch)
            .min(steps);
        TrainerConfig {
            phases: if trained {
                vec![PhaseSpec {
                    name: "train".into(),
                    steps,
                    round: vec![(NextItemUpdate, 1)],
                    eval_every,
                    checkpoint_every: eval_every,
                }]
            } else {
                Vec::new()
            },
            optimizers: if trained {
                vec![OptimizerSpec::new(
                    MODEL_GROUP,
                    MODEL_GROUP,
                    t.optimizer.clone(),
                )]
            } else {
                Vec::new()
            },
            selection: Some(Selection {
                metric: format!("val/{}", metric_names::FULL_NDCG),
                goal: Goal::Max,
                patience: t.patience,
            }),
            log_every: t.log_every,
            keep_checkpoints: 1,
            divergence_factor: t.divergence_factor,
            ..TrainerConfig::new(self.seed)
        }
    }
}
