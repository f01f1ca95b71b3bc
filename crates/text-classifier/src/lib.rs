//! Few-label sentiment and emotion analysis on socgan's core: a semi-supervised GAN classifier
//! whose discriminator is also a `K + 1`-way classifier (Salimans et al. 2016; GAN-BERT, Croce et
//! al. 2020), learning from a few labelled posts and many unlabelled ones.
//!
//! - [`encoder`]: a trainable CNN over token ids, or all-MiniLM-L6-v2 frozen (candle-transformers,
//!   mean pooling and L2 normalisation as sentence-transformers, vectors cached on disk);
//! - [`ssgan`]: the feature generator, the discriminator-classifier with GAN-BERT's `K + 1`
//!   outputs or Salimans et al.'s fixed fake logit, and their losses;
//! - [`task`]: the [`gan_core::Task`]: adversarial updates, or the labelled-only baseline with the
//!   same encoder and head;
//! - [`metrics`]: TweetEval's scores (macro-recall, macro-F1, the F1 of one class) and accuracy;
//! - [`experiment`]: what `socgan` runs for a `task = "text_classifier"` config (train from files
//!   or a named data set, predict, evaluate with a confusion-matrix chart).

pub mod baseline;
pub mod encoder;
pub mod error;
pub mod experiment;
pub mod metrics;
pub mod probabilities;
pub mod ssgan;
pub mod task;

pub use error::{Error, Result};
pub use metrics::{ConfusionMatrix, Score};
