//! Image GANs on socgan's core: DCGAN (64x64, and a 32x32 variant with fewer filters for cheap
//! comparisons) and the MLP GAN, trained by `gan_core`'s trainer with any of its adversarial
//! losses, with the discriminator's normalisation selectable (batch, layer, spectral, none), and
//! scored by classifier-FID and the classifier score in the feature space of a small classifier
//! each run trains on its own data ([`classifier`], [`fid`], [`evaluation`]).
//!
//! Convolutions and normalisations come from `socgan-nn` (convolutions differentiable to any
//! order, so WGAN-GP's penalty trains convolutional critics); image data sets from
//! `socgan_data::images`. [`experiment`] is what `socgan` runs for a `task = "image_gan"` config.

pub mod classifier;
pub mod dcgan;
pub mod error;
pub mod evaluation;
pub mod experiment;
pub mod fid;
pub mod layers;
pub mod mlp;
pub mod nets;
pub mod precision_recall;
pub mod stabilizers;
pub mod task;

pub use error::{Error, Result};
pub use layers::Normalization;
pub use nets::{Architecture, Discriminator, Generator, NetShape};
pub use task::{ImageGan, ImageUpdate};
