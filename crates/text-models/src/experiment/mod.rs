//! The text GAN experiment: what `socgan train / generate / eval / bench` do for a run whose
//! config says `task = "text_gan"` (MLE, SeqGAN, RelGAN on the synthetic oracle or on real
//! text). The binary parses its own flags, includes [`args`], and dispatches here.

pub mod args;
pub mod bench;
pub mod config;
pub mod data;
mod eval;
mod generate;
pub mod posts;
pub mod quality_diversity;
mod render;
mod score;
mod train;

use std::path::Path;

use clap::{Args, Command, FromArgMatches};
use gan_core::experiment::{
    BenchRequest, EvalRequest, Experiment, ExperimentResult, GenerateRequest, RankShares,
    ScoreRequest, TrainRequest,
};
use gan_core::experiment::{CommandPlace, CommandRequest};
use gan_core::RunOutcome;
use serde_json::Value;
use socgan_data::tokenizer::TextTokenizer;
use socgan_data::TokenSequences;

use crate::experiment::args::{SamplingArgs, TextEvalArgs, TextTrainArgs};
use crate::experiment::config::TextGanTag;
use crate::{Algorithm, CoreConfig, Result};

pub use eval::eval;
pub use generate::generate;
pub use train::{resolve_config, train};

/// The task tag of text GAN configs and checkpoints.
pub const TASK: &str = TextGanTag::TAG;

/// `task = "text_gan"`: MLE, SeqGAN, RelGAN and CatGAN on the oracle or real text.
pub struct TextGanExperiment;

impl Experiment for TextGanExperiment {
    fn task(&self) -> &'static str {
        TASK
    }

    fn about(&self) -> &'static str {
        "token-sequence GANs (MLE, SeqGAN, RelGAN, CatGAN) on the synthetic oracle or real text"
    }

    fn checkpoint_files(&self) -> &'static [&'static str] {
        &[
            train::TOKENIZER_FILE,
            train::LABELS_FILE,
            train::CANARIES_FILE,
        ]
    }

    fn train_flags(&self, command: Command) -> Command {
        TextTrainArgs::augment_args(command)
    }

    fn generate_flags(&self, command: Command) -> Command {
        SamplingArgs::augment_args(command)
    }

    fn eval_flags(&self, command: Command) -> Command {
        TextEvalArgs::augment_args(command)
    }

    fn needs_second_order_gradients(&self, request: &TrainRequest<'_>) -> ExperimentResult<bool> {
        let args = TextTrainArgs::from_arg_matches(request.flags)?;
        let config = resolve_config(request, &args)?;
        Ok(config.loss.gradient_penalty_weight().is_some())
    }

    /// An LSTM trained by MLE alone keeps candle's few element-wise ops (the loss, the embedding
    /// gradient) on the calling thread: its epoch took 3.56 s at two threads against 3.68 s through
    /// candle's pool, whose spinning thread competes with socgan's two on two cores (machine C,
    /// three alternating pairs). Runs with a discriminator keep the pool (RelGAN's step was
    /// 4.95 s with it and 5.28 s without).
    fn serial_elementwise(&self, request: &TrainRequest<'_>) -> ExperimentResult<bool> {
        let args = TextTrainArgs::from_arg_matches(request.flags)?;
        let config = resolve_config(request, &args)?;
        Ok(config.algorithm == Algorithm::Mle && matches!(config.generator.core, CoreConfig::Lstm))
    }

    fn serial_elementwise_workload(&self, workload: &str) -> bool {
        workload == "mle-epoch"
    }

    fn train(&self, request: TrainRequest<'_>) -> ExperimentResult<RunOutcome> {
        let args = TextTrainArgs::from_arg_matches(request.flags)?;
        let config = resolve_config(&request, &args)?;
        Ok(train(config, &request.invocation)?)
    }

    fn generate(&self, request: GenerateRequest<'_>) -> ExperimentResult<()> {
        let sampling = SamplingArgs::from_arg_matches(request.flags)?;
        Ok(generate(
            &request.checkpoint,
            request.num,
            request.seed,
            request.label.as_deref(),
            &sampling,
            request.output.as_deref(),
            &request.device,
        )?)
    }

    fn eval(&self, request: EvalRequest<'_>) -> ExperimentResult<Vec<Value>> {
        let args = TextEvalArgs::from_arg_matches(request.flags)?;
        let lines = eval(
            &request.checkpoints,
            request.seed,
            request.samples,
            &args,
            &request.device,
        )?;
        if !args.temperatures.is_empty() {
            eprintln!(
                "socgan: quality-diversity chart written to {}",
                args.chart.display()
            );
        }
        Ok(lines)
    }

    fn workloads(&self) -> &'static [&'static str] {
        &bench::WORKLOADS
    }

    fn record_log_likelihoods(&self, request: ScoreRequest<'_>) -> ExperimentResult<Vec<f64>> {
        Ok(score::record_log_likelihoods(
            request.checkpoint,
            request.records,
            request.device,
        )?)
    }

    fn record_rank_shares(
        &self,
        request: ScoreRequest<'_>,
    ) -> ExperimentResult<Option<Vec<RankShares>>> {
        Ok(Some(score::record_rank_shares(
            request.checkpoint,
            request.records,
            request.device,
        )?))
    }

    fn commands(&self) -> Vec<(CommandPlace, Command)> {
        vec![(
            CommandPlace::Data,
            render::RenderArgs::augment_args(Command::new("render")).about(
                "Real posts as a text run's generator writes its samples (its normalisation, word split and length; words spaced, unknown words kept), one per line: what a detector or an audit compares with generated posts",
            ),
        )]
    }

    fn run_command(&self, request: CommandRequest<'_>) -> ExperimentResult<()> {
        match request.name {
            "render" => Ok(render::run(
                render::RenderArgs::from_arg_matches(request.matches)?,
                &request.device,
            )?),
            name => Err(format!("text_gan has no command `{name}`").into()),
        }
    }

    fn bench(&self, request: BenchRequest) -> ExperimentResult<Value> {
        Ok(bench::run(
            &request.workload,
            request.repeats,
            &request.device,
        )?)
    }
}

/// Writes samples as text (decoded) for a text run, as ids otherwise; to `output` atomically, or
/// to standard output.
pub fn write_samples(
    samples: &TokenSequences,
    tokenizer: Option<&TextTokenizer>,
    output: Option<&Path>,
) -> Result<()> {
    let mut out = String::new();
    for row in samples.rows() {
        match tokenizer {
            Some(tok) => out.push_str(&tok.decode(row)?),
            None => out.push_str(
                &row.iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        }
        out.push('\n');
    }
    match output {
        Some(path) => socgan_io::write_atomic(path, out.as_bytes())?,
        None => print!("{out}"),
    }
    Ok(())
}
