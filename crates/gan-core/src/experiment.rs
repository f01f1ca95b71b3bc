//! The interface every model crate implements for its experiment, and what the `socgan` binary
//! dispatches through: a new model crate is an implementation of [`Experiment`] and one line in
//! the binary's list.
//!
//! An experiment owns a task tag (`task = "..."` in its configs and checkpoints), its config
//! type, and what `socgan train / generate / eval / bench` do for it; each command hands it one
//! request type with the common run options (device, run folder policy, seed, output) and the
//! crate's own flags, which it declares as a clap `Args` struct and reads back from the parsed
//! command line. Commands that only one crate has (`predict`, `recommend`, `data embed`) are
//! declared by that crate too.

use std::path::PathBuf;

use candle_core::Device;
use clap::{ArgMatches, Command};
use serde_json::Value;

use crate::config::ConfigTable;
use crate::run_dir::Invocation;
use crate::{Checkpoint, RunOutcome};

/// Any error of a model crate, with its kind and message kept (the binary prints it as one line).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
/// The result of an [`Experiment`] call.
pub type ExperimentResult<T> = std::result::Result<T, BoxError>;

/// `socgan train`: a config (or a default run), overrides, and how to treat the run folder.
pub struct TrainRequest<'a> {
    /// `--config`, read but not yet overridden.
    pub config: Option<ConfigTable>,
    /// `--set KEY=VALUE` (and `--seed`, `--out-dir`), applied last, in order.
    pub overrides: Vec<String>,
    /// `--dataset`: a file, folder or named data set, for runs without a config.
    pub dataset: Option<String>,
    /// `--test`: the test file of a `--dataset` file (instead of a held-out share of it).
    pub test: Option<PathBuf>,
    /// Resume, overwrite or refuse; halt after N steps; quiet; the device.
    pub invocation: Invocation,
    /// The command line, for the experiment's own flags (`Args::from_arg_matches`).
    pub flags: &'a ArgMatches,
}

/// `socgan generate`: a loaded checkpoint and what to sample.
pub struct GenerateRequest<'a> {
    /// The checkpoint path as given (a run folder or a checkpoint folder).
    pub path: PathBuf,
    pub checkpoint: Checkpoint,
    pub num: usize,
    pub seed: u64,
    /// Samples of this class (class-conditional generators only).
    pub label: Option<String>,
    /// Where the samples go (atomically); standard output without it.
    pub output: Option<PathBuf>,
    pub device: Device,
    pub flags: &'a ArgMatches,
}

/// `socgan eval`: one or more checkpoints of this experiment's task.
pub struct EvalRequest<'a> {
    /// Each checkpoint with its path as given.
    pub checkpoints: Vec<(PathBuf, Checkpoint)>,
    pub seed: u64,
    /// Samples to generate and score (the run's own count without it).
    pub samples: Option<usize>,
    pub device: Device,
    pub flags: &'a ArgMatches,
}

/// `socgan bench`: one timed workload.
pub struct BenchRequest {
    pub workload: String,
    /// Timed repetitions; the median is reported.
    pub repeats: usize,
    pub device: Device,
}

/// `socgan audit --checkpoint`: records to score under a checkpoint's model.
pub struct ScoreRequest<'a> {
    /// The checkpoint path as given (a run folder or a checkpoint folder).
    pub path: &'a std::path::Path,
    pub checkpoint: &'a Checkpoint,
    /// The records as read from their files: a post's text, or a user's item ids joined by
    /// spaces.
    pub records: &'a [String],
    pub device: &'a Device,
}

/// The share of a record's tokens that a model ranks among its top 10, 100 and 1,000
/// predictions at their positions (GLTR, Gehrmann et al., 2019: sampled text keeps to the top
/// ranks, people's text strays from them).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RankShares {
    pub top10: f64,
    pub top100: f64,
    pub top1000: f64,
}

/// A command of one experiment's own (`socgan predict`, `socgan data embed`, ...).
pub struct CommandRequest<'a> {
    /// The command's name, as declared.
    pub name: &'a str,
    pub matches: &'a ArgMatches,
    pub device: Device,
}

/// Where a command an experiment declares goes on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandPlace {
    /// `socgan NAME`.
    TopLevel,
    /// `socgan data NAME`.
    Data,
}

/// A model crate's experiment: one task tag and everything the binary does with it.
pub trait Experiment: Send + Sync {
    /// The task tag of its configs and checkpoints, e.g. `text_gan`.
    fn task(&self) -> &'static str;
    /// One line for `socgan --help` and `--task`'s list.
    fn about(&self) -> &'static str;
    /// Files its checkpoints carry beside the weights, `state.json` and `config.toml`.
    fn checkpoint_files(&self) -> &'static [&'static str] {
        &[]
    }
    /// Adds its own `socgan train` flags (a clap `Args` struct's `augment_args`).
    fn train_flags(&self, command: Command) -> Command {
        command
    }
    /// Adds its own `socgan generate` flags.
    fn generate_flags(&self, command: Command) -> Command {
        command
    }
    /// Adds its own `socgan eval` flags.
    fn eval_flags(&self, command: Command) -> Command {
        command
    }
    /// Whether the run differentiates a gradient (WGAN-GP's penalty): the binary then sets
    /// candle's `CANDLE_GRAD_DO_NOT_DETACH` before any thread starts. Reads the config only.
    fn needs_second_order_gradients(&self, request: &TrainRequest<'_>) -> ExperimentResult<bool> {
        let _ = request;
        Ok(false)
    }
    /// Whether the run's candle element-wise ops should stay on the calling thread: candle hands
    /// every op above one chunk to its own pool of `CANDLE_NUM_THREADS` threads, and for small
    /// tensors (an MLP GAN's 64 x 128 activations) the hand-off costs more than the work. The
    /// binary then sets `CANDLE_NUM_THREADS=1`, unless the user set it, before any thread
    /// starts; socgan's own kernels still use every rayon thread. Reads the config only.
    fn serial_elementwise(&self, request: &TrainRequest<'_>) -> ExperimentResult<bool> {
        let _ = request;
        Ok(false)
    }
    /// [`Experiment::serial_elementwise`] for one of its bench workloads.
    fn serial_elementwise_workload(&self, workload: &str) -> bool {
        let _ = workload;
        false
    }
    /// Trains a run.
    fn train(&self, request: TrainRequest<'_>) -> ExperimentResult<RunOutcome>;
    /// Samples from a checkpoint; experiments that generate nothing say what to use instead.
    fn generate(&self, request: GenerateRequest<'_>) -> ExperimentResult<()> {
        Err(format!(
            "{}: a {} run generates nothing",
            request.path.display(),
            self.task()
        )
        .into())
    }
    /// Evaluates checkpoints with the run's protocol: one JSON object per checkpoint (and
    /// setting).
    fn eval(&self, request: EvalRequest<'_>) -> ExperimentResult<Vec<Value>>;
    /// Its benchmark workloads (`socgan bench --workload NAME`).
    fn workloads(&self) -> &'static [&'static str] {
        &[]
    }
    /// Times one of [`Experiment::workloads`]; one JSON object.
    fn bench(&self, request: BenchRequest) -> ExperimentResult<Value> {
        Err(format!("{} has no workload `{}`", self.task(), request.workload).into())
    }
    /// Each record's mean log-likelihood per token under the checkpoint's model (its own
    /// normalisation and tokenizer applied), for the audit's membership inference and canary
    /// exposure; experiments whose models give none say so.
    fn record_log_likelihoods(&self, request: ScoreRequest<'_>) -> ExperimentResult<Vec<f64>> {
        Err(format!(
            "{}: a {} checkpoint gives no likelihood of records",
            request.path.display(),
            self.task()
        )
        .into())
    }
    /// Each record's [`RankShares`] under the checkpoint's model (the zero-shot detector's rank
    /// statistics); `None` from experiments whose models rank no tokens.
    fn record_rank_shares(
        &self,
        request: ScoreRequest<'_>,
    ) -> ExperimentResult<Option<Vec<RankShares>>> {
        let _ = request;
        Ok(None)
    }
    /// Commands of its own, and where they go.
    fn commands(&self) -> Vec<(CommandPlace, Command)> {
        Vec::new()
    }
    /// Runs one of [`Experiment::commands`].
    fn run_command(&self, request: CommandRequest<'_>) -> ExperimentResult<()> {
        Err(format!("{} has no command `{}`", self.task(), request.name).into())
    }
}

/// The task tag of a config or checkpoint as it is written on the command line: `text-gan` for
/// `text_gan`.
pub fn flag_name(task: &str) -> String {
    task.replace('_', "-")
}
