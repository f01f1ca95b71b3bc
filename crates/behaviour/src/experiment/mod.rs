//! The behaviour experiment: what `socgan train / eval / recommend` do for a run whose config
//! says `task = "behaviour"`.

pub mod args;
pub mod bench;
pub mod config;
pub mod data;
mod default_run;
pub mod gan;
mod recommend;
pub mod saved;
mod train;

use std::path::PathBuf;

use candle_core::Device;
use clap::{Args, Command, FromArgMatches};
use gan_core::checkpoint::Pick;
use gan_core::experiment::{
    BenchRequest, CommandPlace, CommandRequest, EvalRequest, Experiment, ExperimentResult,
    GenerateRequest, ScoreRequest, TrainRequest,
};
use gan_core::{Checkpoint, RunOutcome};
use serde_json::{json, Value};

pub use gan::{
    eval as eval_gan, generate, history_log_likelihoods, resolve_gan_config, train_gan, GAN_TASK,
};
pub use recommend::{recommend, top_k, Recommendation};
pub use train::{resolve_config, train};

use crate::evaluation::RankingEvaluator;
use crate::experiment::args::{BehaviourTrainArgs, RecommendCommandArgs};
use crate::experiment::config::BehaviourTag;
use saved::SavedRecommender;

/// The task tag of behaviour configs and checkpoints.
pub const TASK: &str = BehaviourTag::TAG;

/// `task = "behaviour"`: next-item prediction (SASRec, GRU4Rec, popularity); it adds
/// `socgan recommend`.
pub struct BehaviourExperiment;

impl Experiment for BehaviourExperiment {
    fn task(&self) -> &'static str {
        TASK
    }

    fn about(&self) -> &'static str {
        "next-item prediction and recommendation from interaction logs (SASRec, GRU4Rec, popularity)"
    }

    fn checkpoint_files(&self) -> &'static [&'static str] {
        &[data::INTERACTIONS_FILE]
    }

    fn train_flags(&self, command: Command) -> Command {
        BehaviourTrainArgs::augment_args(command)
    }

    fn train(&self, request: TrainRequest<'_>) -> ExperimentResult<RunOutcome> {
        let args = BehaviourTrainArgs::from_arg_matches(request.flags)?;
        let config = resolve_config(&request, &args)?;
        Ok(train(config, &request.invocation)?)
    }

    fn generate(&self, request: GenerateRequest<'_>) -> ExperimentResult<()> {
        let path = request.path.display();
        Err(format!(
            "{path}: a behaviour run generates nothing here; ask it with `socgan recommend --checkpoint {path} --user ID`"
        )
        .into())
    }

    fn eval(&self, request: EvalRequest<'_>) -> ExperimentResult<Vec<Value>> {
        Ok(eval(&request.checkpoints, &request.device)?)
    }

    fn workloads(&self) -> &'static [&'static str] {
        &bench::WORKLOADS
    }

    fn bench(&self, request: BenchRequest) -> ExperimentResult<Value> {
        Ok(bench::run(
            &request.workload,
            request.repeats,
            &request.device,
        )?)
    }

    fn commands(&self) -> Vec<(CommandPlace, Command)> {
        vec![(
            CommandPlace::TopLevel,
            RecommendCommandArgs::augment_args(Command::new("recommend")).about(
                "Top-k items with scores for users of a behaviour run (original ids in and out)",
            ),
        )]
    }

    fn run_command(&self, request: CommandRequest<'_>) -> ExperimentResult<()> {
        let args = RecommendCommandArgs::from_arg_matches(request.matches)?;
        let path = &args.checkpoint;
        let ckpt = Checkpoint::load_pick(path, Pick::best_if_kept(path), &request.device)?;
        let (task, _) = gan_core::trainer::checkpoint_task(&ckpt)?;
        if task != TASK {
            return Err(format!(
                "{}: a {task} run; recommend needs a behaviour run",
                path.display()
            )
            .into());
        }
        Ok(recommend(&ckpt, &args.request, &request.device)?)
    }
}

/// `task = "behaviour_gan"`: behaviour-sequence GANs (items as tokens) for augmentation and
/// synthetic logs.
pub struct BehaviourGanExperiment;

impl Experiment for BehaviourGanExperiment {
    fn task(&self) -> &'static str {
        GAN_TASK
    }

    fn about(&self) -> &'static str {
        "behaviour-sequence GANs (items as tokens) for augmentation and synthetic logs"
    }

    fn checkpoint_files(&self) -> &'static [&'static str] {
        &[data::INTERACTIONS_FILE]
    }

    fn train(&self, request: TrainRequest<'_>) -> ExperimentResult<RunOutcome> {
        let config = resolve_gan_config(&request)?;
        Ok(train_gan(config, &request.invocation)?)
    }

    fn generate(&self, request: GenerateRequest<'_>) -> ExperimentResult<()> {
        if request.label.is_some() {
            return Err(format!(
                "{}: behaviour generators are unconditional; drop --label",
                request.path.display()
            )
            .into());
        }
        Ok(generate(
            &request.checkpoint,
            request.num,
            request.seed,
            request.output.as_deref(),
            &request.device,
        )?)
    }

    fn record_log_likelihoods(&self, request: ScoreRequest<'_>) -> ExperimentResult<Vec<f64>> {
        Ok(history_log_likelihoods(
            request.checkpoint,
            request.records,
            request.device,
        )?)
    }

    fn eval(&self, request: EvalRequest<'_>) -> ExperimentResult<Vec<Value>> {
        Ok(eval_gan(
            &request.checkpoints,
            request.seed,
            request.samples,
            &request.device,
        )?)
    }
}

/// `socgan eval` of behaviour checkpoints: both protocols on the validation and test items of
/// each run's split; one JSON object each.
pub fn eval(
    checkpoints: &[(PathBuf, Checkpoint)],
    device: &Device,
) -> crate::Result<Vec<serde_json::Value>> {
    let mut lines = Vec::new();
    for (path, ckpt) in checkpoints {
        let saved = SavedRecommender::load(ckpt, device)?;
        let evaluator = RankingEvaluator::new(
            &saved.split,
            saved.log.num_items(),
            saved.config.seed,
            &saved.config.evaluation,
        );
        let metrics = evaluator.evaluate(&saved.recommender, device)?.flatten();
        lines.push(json!({
            "checkpoint": path.display().to_string(),
            "model": saved.config.model.name(),
            "loss": saved.config.training.loss.name(),
            "metrics": metrics,
        }));
    }
    Ok(lines)
}
