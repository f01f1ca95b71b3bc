//! Data for socgan: reading posts (text, CSV/TSV, JSONL, TweetEval), social-media
//! normalisation, tokenisation with Hugging Face `tokenizers`, and token-sequence corpora with
//! seeded batching.
//!
//! Library crates never touch the network; every shuffle draws from the run's seed.

pub mod error;
pub mod posts;
pub mod sequences;
pub mod tokenizer;

pub use error::{Error, Result};
pub use sequences::TokenSequences;
