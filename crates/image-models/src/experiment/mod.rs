//! The image GAN experiment: what `socgan train / generate / eval / bench` do for a run whose
//! config says `task = "image_gan"` (DCGAN and the MLP GAN on MNIST or a folder of images).

pub mod args;
pub mod bench;
pub mod config;
pub mod data;
mod eval;
mod generate;
mod train;

use clap::{Args, Command, FromArgMatches};
use gan_core::experiment::{
    BenchRequest, EvalRequest, Experiment, ExperimentResult, GenerateRequest, TrainRequest,
};
use gan_core::RunOutcome;
use serde_json::Value;

pub use eval::eval;
pub use generate::generate;
pub use train::{build_nets, resolve_config, train, ImageNets};

use crate::experiment::args::ImageTrainArgs;
use crate::experiment::config::ImageGanTag;
use crate::nets::Architecture;

/// The task tag of image GAN configs and checkpoints.
pub const TASK: &str = ImageGanTag::TAG;

/// `task = "image_gan"`: DCGAN and the MLP GAN.
pub struct ImageGanExperiment;

impl Experiment for ImageGanExperiment {
    fn task(&self) -> &'static str {
        TASK
    }

    fn about(&self) -> &'static str {
        "image GANs (DCGAN, the MLP GAN) on MNIST or a folder of images"
    }

    fn train_flags(&self, command: Command) -> Command {
        ImageTrainArgs::augment_args(command)
    }

    fn needs_second_order_gradients(&self, request: &TrainRequest<'_>) -> ExperimentResult<bool> {
        let args = ImageTrainArgs::from_arg_matches(request.flags)?;
        let config = resolve_config(request, &args)?;
        Ok(config.loss.gradient_penalty_weight().is_some())
    }

    /// An MLP GAN's element-wise ops are 64 x 128: on the calling thread its epoch takes 0.36 s
    /// at two threads against 0.44 s through candle's pool (machine C); DCGAN's larger maps gain
    /// a little from the pool (0.90 s against 0.93 s a step), so it keeps it.
    fn serial_elementwise(&self, request: &TrainRequest<'_>) -> ExperimentResult<bool> {
        let args = ImageTrainArgs::from_arg_matches(request.flags)?;
        let config = resolve_config(request, &args)?;
        Ok(config.model.architecture == Architecture::Mlp)
    }

    fn serial_elementwise_workload(&self, workload: &str) -> bool {
        workload == "mlp-gan-epoch"
    }

    fn train(&self, request: TrainRequest<'_>) -> ExperimentResult<RunOutcome> {
        let args = ImageTrainArgs::from_arg_matches(request.flags)?;
        let config = resolve_config(&request, &args)?;
        Ok(train(config, &request.invocation)?)
    }

    fn generate(&self, request: GenerateRequest<'_>) -> ExperimentResult<()> {
        if request.label.is_some() {
            return Err(format!(
                "{}: image runs are unconditional; --label needs a class-conditional text run",
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

    fn eval(&self, request: EvalRequest<'_>) -> ExperimentResult<Vec<Value>> {
        Ok(eval(
            &request.checkpoints,
            request.seed,
            request.samples,
            &request.device,
        )?)
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
}
