//! Token-sequence models: a generator (LSTM or relational memory), SeqGAN's and RelGAN's CNN discriminators, the
//! synthetic-oracle benchmark, the MLE / SeqGAN / RelGAN algorithms as a [`gan_core::Task`], and
//! the text GAN [`experiment`] (what `socgan` runs for a `task = "text_gan"` config).
//!
//! The models read token ids and nothing textual: the behaviour crate trains the same generator
//! and discriminator over item ids. Text enters only through the experiment's data preparation
//! (tokenizers) and BLEU. The vocabulary-sized computations (projection, softmax, cross-entropy,
//! sampling) run in `socgan-nn`'s fused kernels; the discriminators' convolutions and the LSTM
//! recurrence in [`kernels`].

pub mod algorithms;
pub mod discriminator;
pub mod discriminator_pool;
pub mod error;
pub mod evaluation;
pub mod experiment;
pub mod generator;
pub mod kernels;
pub mod oracle;
pub mod relational_memory;

pub use algorithms::{AdversarialMethod, Algorithm, TextGan, TextUpdate, TrainingRows};
pub use discriminator::{CnnDiscriminator, DiscriminatorConfig, DiscriminatorInput};
pub use discriminator_pool::DiscriminatorData;
pub use error::{Error, Result};
pub use evaluation::{ClassTextEvaluator, OracleEvaluator, SequenceEvaluator, TextEvaluator};
pub use generator::{CoreConfig, GeneratorConfig, SequenceGenerator};
pub use oracle::Oracle;
pub use relational_memory::RelationalMemoryConfig;
pub use socgan_nn::SamplingConfig;
