//! Data for socgan: reading posts (text, CSV/TSV, JSONL, Parquet, TweetEval; one reader per
//! format), labelled posts with label maps and seeded stratified splits, social-media
//! normalisation, tokenisation with Hugging Face `tokenizers`, hub download and named data sets,
//! token-sequence corpora with seeded batching, and user-behaviour logs (SASRec, CSV/TSV with
//! MovieLens, JSONL, Parquet) as per-user item sequences with k-core filtering and SASRec's
//! leave-one-out split.
//!
//! Only `hub` (and `datasets` through it) touches the network, and only when asked to fetch a
//! file that is not cached; every shuffle draws from the run's seed.

pub mod corpus;
pub mod datasets;
pub mod error;
pub mod guard;
pub mod hub;
pub mod images;
pub mod interactions;
pub mod labels;
pub mod normalize;
pub mod numpy_pickle;
mod parquet_file;
pub mod posts;
pub mod seqgan_oracle;
pub mod sequences;
pub mod tokenizer;

pub use error::{Error, Result};
pub use sequences::TokenSequences;
