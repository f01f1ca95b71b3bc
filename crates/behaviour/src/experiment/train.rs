//! `socgan train` for a behaviour run: read and split the log, build the model, train with
//! selection on validation NDCG@10 (full ranking), report both protocols on the test items.

use std::path::Path;

use gan_core::checkpoint::write_atomic;
use gan_core::config::ConfigTable;
use gan_core::run_dir::{self, Existing, Invocation};
use gan_core::{ParamStore, RunOptions, RunOutcome, Trainer};
use socgan_data::interactions::LeaveOneOut;

use crate::evaluation::RankingEvaluator;
use crate::experiment::args::BehaviourTrainArgs;
use crate::experiment::config::BehaviourConfig;
use crate::experiment::data::{
    read_interactions, read_synthetic_histories, to_json, INTERACTIONS_FILE,
};
use crate::experiment::saved::build_recommender;
use crate::experiment::{default_run, TASK};
use crate::model::Recommender;
use crate::task::{RecommenderTask, TrainingHistories};
use crate::{Error, Result};

/// The device of a run (CPU, or CUDA with `--features cuda`).
pub use gan_core::host::device;

/// Trains the run `table` (or the default run on the log `dataset`) with `overrides` last.
pub fn train(
    table: Option<ConfigTable>,
    overrides: &[String],
    dataset: Option<&Path>,
    args: &BehaviourTrainArgs,
    invocation: &Invocation,
) -> Result<RunOutcome> {
    let table = match table {
        Some(t) => t,
        None => default_run::table(dataset, args)?,
    };
    let config = BehaviourConfig::from_table(table.with_overrides(overrides)?)?;
    let run_dir = config.out_dir.clone();
    run_dir::check(&run_dir, invocation.existing)?;
    let device = device()?;
    // Data errors surface before anything in the run directory is touched.
    let log = read_interactions(&config.data)?;
    let split = LeaveOneOut::new(&log);
    let mut params = ParamStore::new(&device);
    let recommender = build_recommender(&config, &log, &split, &mut params)?;
    let evaluator = RankingEvaluator::new(&split, log.num_items(), config.seed, &config.evaluation);
    if evaluator.num_users() == 0 {
        return Err(Error::Config(format!(
            "{}: no user has the 3 interactions a validation and a test item need",
            config.data.path.display()
        )));
    }
    let synthetic = match &config.augmentation {
        Some(a) => read_synthetic_histories(&a.synthetic_log, &log)?,
        None => Vec::new(),
    };
    let train = TrainingHistories::new(&split.train, &synthetic);
    let trained = matches!(recommender, Recommender::Sequence { .. });
    if trained && train.is_empty() {
        return Err(Error::Config(format!(
            "{}: no training history has the 2 items next-item training needs",
            config.data.path.display()
        )));
    }
    let mut task = RecommenderTask::new(
        recommender,
        params,
        config.training.loss,
        train,
        evaluator,
        config.training.batch_size,
        log.num_items(),
        &device,
    );
    run_dir::clear_for(&run_dir, invocation.existing)?;
    let config_toml = config.to_toml()?;
    write_atomic(&run_dir.join("config.toml"), config_toml.as_bytes())?;
    if !invocation.quiet {
        eprintln!(
            "socgan: {} ({}) on {} users, {} items, {} interactions ({} users evaluated) -> {}",
            config.model.name(),
            if trained {
                config.training.loss.name()
            } else {
                "no training"
            },
            log.num_users(),
            log.num_items(),
            log.num_interactions(),
            task.evaluator.num_users(),
            run_dir.display()
        );
    }
    let trainer_config = config.trainer_config(task.batches_per_epoch(), trained);
    let options = RunOptions {
        quiet: invocation.quiet,
        resume: invocation.existing == Existing::Resume,
        halt_after: invocation.halt_after,
        task: TASK.to_string(),
        config_json: serde_json::to_value(&config).map_err(|e| Error::Config(e.to_string()))?,
        checkpoint_files: vec![
            ("config.toml".to_string(), config_toml),
            (INTERACTIONS_FILE.to_string(), to_json(&log)),
        ],
    };
    Ok(Trainer::new(trainer_config, &run_dir, options)?.run(&mut task)?)
}
