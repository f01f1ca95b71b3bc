//! Token-sequence GANs: an LSTM generator, SeqGAN's and RelGAN's CNN discriminators, the
//! synthetic-oracle benchmark, and the MLE / SeqGAN / RelGAN algorithms as [`gan_core::GanTask`]s.
//!
//! The vocabulary-sized computations (projection, softmax, cross-entropy, sampling) run in the
//! fused CPU kernels of [`kernels`], with candle reference implementations beside them.

pub mod algorithms;
pub mod bleu;
pub mod discriminator;
pub mod error;
pub mod evaluation;
pub mod generator;
pub mod kernels;
pub mod oracle;

pub use algorithms::{Algorithm, TextGan};
pub use discriminator::{CnnDiscriminator, DiscriminatorConfig, DiscriminatorInput};
pub use error::{Error, Result};
pub use evaluation::{OracleEvaluator, SequenceEvaluator, TextEvaluator};
pub use generator::{GeneratorConfig, LstmGenerator};
pub use kernels::SamplingConfig;
pub use oracle::Oracle;
