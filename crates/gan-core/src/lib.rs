//! Domain-independent pieces of training, adversarial or not.
//!
//! `gan-core` knows nothing of text, items or images. It provides:
//! - [`AdversarialLoss`]: the standard GAN objectives from real/fake discriminator logits, in
//!   numerically stable (softplus) forms;
//! - [`SeededRng`] and [`ParamStore`]: every random draw and every parameter initialisation flows
//!   from one seed (candle's own CPU RNG cannot be seeded), also for candle-nn layers built
//!   through [`ParamStore::var_builder`]; buffers that are checkpointed but not trained; [`Mode`]
//!   (train or eval) for every forward pass that depends on it;
//! - [`Adam`]: Adam/AdamW with global-norm clipping, learning-rate schedules and state that can be
//!   checkpointed;
//! - [`Trainer`]: runs any [`Task`] through the phases its [`TrainerConfig`] declares (pretrain G
//!   -> pretrain D -> adversarial rounds, or epochs of a supervised loss) over named
//!   [`ParamGroup`]s, with metrics written as JSONL while it runs, model selection on a
//!   validation metric, early stopping, divergence detection, and atomic, resumable checkpoints;
//! - [`config`] (TOML run configs with overrides and a task tag, the [`RunConfig`] every model
//!   crate's config implements), [`run_dir`] (the launch sequence: claim a run folder, begin,
//!   train), [`charts`], [`interrupt`] (a clean stop on Ctrl-C);
//! - [`experiment`]: the [`Experiment`] interface every model crate implements and the `socgan`
//!   binary dispatches through; [`host`]: the device choice and what produced a file;
//! - [`gradient_flow`]: the check that every trainable variable of a model receives a gradient.

pub mod bench;
pub mod charts;
pub mod checkpoint;
pub mod config;
pub mod error;
pub mod evaluation;
pub mod experiment;
mod fast_ln;
pub mod gradient_flow;
pub mod groups;
pub mod host;
pub mod interrupt;
pub mod loss;
pub mod metrics;
pub mod mode;
pub mod optim;
pub mod params;
pub mod rng;
pub mod run_dir;
pub mod sections;
pub mod testing;
pub mod trainer;

pub use checkpoint::{Checkpoint, CheckpointStore, Pick};
pub use config::RunConfig;
pub use error::{Error, Result};
pub use evaluation::Evaluation;
pub use experiment::Experiment;
pub use groups::{FrozenSource, ParamGroup};
pub use host::{DeviceChoice, Provenance};
pub use loss::AdversarialLoss;
pub use metrics::{Metrics, MetricsLog};
pub use mode::Mode;
pub use optim::{Adam, AdamConfig, LrSchedule};
pub use params::{Init, ParamStore};
pub use rng::SeededRng;
pub use run_dir::{Invocation, Launch, RunFile, RunFolder};
pub use trainer::{
    EvalContext, Goal, Losses, OptimizerSpec, PhaseSpec, RunOptions, RunOutcome, Selection,
    StepContext, Task, Trainer, TrainerConfig, UpdateKind,
};
