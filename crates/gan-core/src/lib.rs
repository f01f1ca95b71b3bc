//! Domain-independent pieces of adversarial training.
//!
//! `gan-core` knows nothing of text, items or images. It provides:
//! - [`AdversarialLoss`]: the standard GAN objectives from real/fake discriminator logits, in
//!   numerically stable (softplus) forms;
//! - [`SeededRng`] and [`ParamStore`]: every random draw and every parameter initialisation flows
//!   from one seed (candle's own CPU RNG cannot be seeded);
//! - [`Adam`]: Adam/AdamW with global-norm clipping, learning-rate schedules and state that can be
//!   checkpointed;
//! - [`Trainer`]: the `pretrain G -> pretrain D -> adversarial rounds` loop over any [`GanTask`],
//!   with metrics written as JSONL while it runs and atomic, resumable checkpoints;
//! - [`gradient_flow`]: the check that every trainable variable of a model receives a gradient.

pub mod checkpoint;
pub mod error;
pub mod gradient_flow;
pub mod loss;
pub mod metrics;
pub mod optim;
pub mod params;
pub mod rng;
pub mod trainer;

pub use checkpoint::{Checkpoint, CheckpointStore};
pub use error::{Error, Result};
pub use loss::AdversarialLoss;
pub use metrics::{Metrics, MetricsLog};
pub use optim::{Adam, AdamConfig, LrSchedule};
pub use params::{Init, ParamStore};
pub use rng::SeededRng;
pub use trainer::{GanTask, LossReport, Phase, StepContext, TrainSchedule, Trainer, TrainerConfig};
