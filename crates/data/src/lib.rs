//! Data for socgan: corpora of token sequences, their files, batching and shuffling.
//!
//! Library crates never touch the network; every shuffle draws from the run's seed.

pub mod error;
pub mod sequences;

pub use error::{Error, Result};
pub use sequences::TokenSequences;
