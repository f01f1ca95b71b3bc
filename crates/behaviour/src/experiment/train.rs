//! `socgan train` for a behaviour run: read and split the log, build the model, train with
//! selection on validation NDCG@10 (full ranking), report both protocols on the test items.

use gan_core::experiment::TrainRequest;
use gan_core::run_dir::{Invocation, RunFile, RunFolder};
use gan_core::{ParamStore, RunConfig, RunOutcome};
use socgan_data::interactions::LeaveOneOut;

use crate::evaluation::RankingEvaluator;
use crate::experiment::args::BehaviourTrainArgs;
use crate::experiment::config::BehaviourConfig;
use crate::experiment::data::{
    read_interactions, read_synthetic_histories, to_json, INTERACTIONS_FILE,
};
use crate::experiment::default_run;
use crate::experiment::saved::build_recommender;
use crate::model::Recommender;
use crate::task::{RecommenderTask, TrainingHistories};
use crate::{Error, Result};

/// The config of `socgan train`: `--config` (or the default run on the log `--dataset`) with
/// the overrides applied last.
pub fn resolve_config(
    request: &TrainRequest<'_>,
    args: &BehaviourTrainArgs,
) -> Result<BehaviourConfig> {
    let table = match &request.config {
        Some(t) => t.clone(),
        None => default_run::table(request.dataset.as_deref().map(std::path::Path::new), args)?,
    };
    Ok(BehaviourConfig::from_table(
        table.with_overrides(&request.overrides)?,
    )?)
}

/// Trains the run `config` describes.
pub fn train(config: BehaviourConfig, invocation: &Invocation) -> Result<RunOutcome> {
    let folder = RunFolder::claim(config.out_dir(), invocation)?;
    let device = &invocation.device;
    // Data errors surface before anything in the run directory is touched.
    let log = read_interactions(&config.data)?;
    let split = LeaveOneOut::new(&log);
    let mut params = ParamStore::new(device);
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
        device,
    );
    let files = vec![RunFile::in_checkpoints(INTERACTIONS_FILE, to_json(&log))];
    let launch = folder.begin(&config, files, invocation)?;
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
            launch.dir().display()
        );
    }
    let trainer_config = config.trainer_config(task.batches_per_epoch(), trained);
    Ok(launch.train(trainer_config, &mut task)?)
}
