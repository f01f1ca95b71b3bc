//! User-behaviour prediction on socgan's core: which item a user touches next.
//!
//! - [`batches`]: histories as right-aligned, padding-aware model input;
//! - [`sasrec`], [`gru4rec`], [`popularity`]: the next-item models, behind [`model`];
//!   [`attention_kernel`] and [`gru_kernel`] are SASRec's attention and GRU4Rec's recurrence
//!   as fused CPU ops;
//! - [`loss`]: SASRec's sampled-negative binary cross-entropy and the full softmax
//!   cross-entropy over all items;
//! - [`ranking`], [`evaluation`]: HR@10, NDCG@10 and MRR under full ranking and SASRec's 100
//!   sampled negatives, side by side;
//! - [`task`]: the [`gan_core::Task`] the trainer runs;
//! - [`experiment`]: what `socgan` runs for a `task = "behaviour"` config (train from a log,
//!   evaluate, recommend).

pub mod attention_kernel;
pub mod batches;
pub mod error;
pub mod evaluation;
pub mod experiment;
pub mod gru4rec;
pub mod gru_kernel;
pub mod loss;
pub mod model;
pub mod popularity;
pub mod ranking;
pub mod sasrec;
pub mod synthetic;
pub mod task;

/// How far the next-item models are differentiated: once. No behaviour model is trained through
/// a gradient penalty (the behaviour GAN refuses `wgan_gp`), so the fused CPU kernels always run
/// on the CPU.
pub const GRADIENTS: socgan_nn::GradientOrder = socgan_nn::GradientOrder::First;

pub use error::{Error, Result};
