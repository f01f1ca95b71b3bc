//! A GAN on a ring of eight Gaussians: the smallest model crate of socgan, written by the recipe
//! in `docs/ARCHITECTURE.md` ("Adding a model crate"), and the mode-collapse benchmark of the
//! unrolled-GAN paper (Metz et al. 2017): real points come from eight Gaussians of standard
//! deviation 0.02 on a circle of radius 2; a generator that covers every mode with points close
//! to it has learnt the distribution, one that covers a few has collapsed.
//!
//! - [`ring`]: the data (a seeded sampler of the mixture) and the scores (modes covered,
//!   high-quality share);
//! - [`nets`]: the two multilayer perceptrons;
//! - [`task`]: the [`gan_core::Task`] (a discriminator and a generator update);
//! - [`experiment`]: the `ring_gan` config and the [`gan_core::Experiment`] the `socgan` binary
//!   dispatches to.

pub mod error;
pub mod experiment;
pub mod nets;
pub mod ring;
pub mod task;

pub use error::{Error, Result};
