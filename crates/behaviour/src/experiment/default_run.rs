//! The config of a run without a file (`socgan train --task behaviour --dataset LOG`): the
//! model, objective and columns from flags, everything else at its default.

use std::path::{Path, PathBuf};

use gan_core::config::ConfigTable;

use crate::evaluation::EvaluationConfig;
use crate::experiment::args::{BehaviourTrainArgs, ModelArg};
use crate::experiment::config::{BehaviourConfig, BehaviourTag, LogConfig, TrainingConfig};
use crate::model::{ModelConfig, PopularityConfig};
use crate::{Error, Result};

/// The run config of `args` on the log file `dataset`, as a table `--set` overrides apply to.
pub fn table(dataset: Option<&Path>, args: &BehaviourTrainArgs) -> Result<ConfigTable> {
    let path = dataset.ok_or_else(|| {
        Error::Config("no config: pass --config FILE, or --dataset LOG (an interaction log)".into())
    })?;
    let name = path
        .file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let model = match args.recommender {
        ModelArg::Sasrec => ModelConfig::Sasrec(Default::default()),
        ModelArg::Gru4rec => ModelConfig::Gru4rec(Default::default()),
        ModelArg::Popularity => ModelConfig::Popularity(PopularityConfig::default()),
    };
    let config = BehaviourConfig {
        task: BehaviourTag::Behaviour,
        seed: 0,
        out_dir: PathBuf::from(format!(
            "runs/behaviour/{name}-{}-{}",
            model.name(),
            args.next_item_loss.name()
        )),
        data: LogConfig {
            name,
            path: path.to_path_buf(),
            layout: args.log_layout,
            user_column: args.user_column.clone(),
            item_column: args.item_column.clone(),
            timestamp_column: args.timestamp_column.clone(),
            action_column: args.action_column.clone(),
            actions: args.actions.clone(),
            min_user_interactions: args.min_user_interactions,
            min_item_interactions: args.min_item_interactions,
            lossy: false,
        },
        model,
        training: TrainingConfig {
            loss: args.next_item_loss,
            ..TrainingConfig::default()
        },
        evaluation: EvaluationConfig::default(),
        augmentation: None,
    };
    let table = toml::Table::try_from(&config).map_err(|e| Error::Config(e.to_string()))?;
    Ok(ConfigTable {
        table,
        origin: format!("the default behaviour run on {}", path.display()),
    })
}
