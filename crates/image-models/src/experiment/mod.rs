//! The image GAN experiment: what `socgan train / generate / eval / bench` do for a run whose
//! config says `task = "image_gan"` (DCGAN and the MLP GAN on MNIST or a folder of images).

pub mod args;
pub mod bench;
pub mod config;
pub mod data;
mod eval;
mod generate;
mod train;

pub use eval::eval;
pub use generate::generate;
pub use train::train;

/// The task tag of image GAN configs and checkpoints.
pub const TASK: &str = "image_gan";
