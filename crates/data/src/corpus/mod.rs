//! Whole-corpus commands, streaming so that a corpus larger than memory works: what a corpus
//! holds (`socgan data stats`, [`stats`]) and a tokenizer trained on it with every post encoded
//! to a fixed-length id row (`socgan data tokenize`, [`encode`]).

mod encode;
mod stats;

pub use encode::{encode, EncodeOptions, EncodedCorpus};
pub use stats::{stats, CorpusStats};
