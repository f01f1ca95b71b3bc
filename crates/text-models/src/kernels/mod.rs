//! Fused CPU kernels of the token-sequence models, each with a plain candle reference beside it
//! (the equivalence tests compare the two): a convolution + max-over-time pooling for the CNN
//! discriminators, and the LSTM recurrence over a whole sequence. The vocabulary-sized kernels
//! (projection + cross-entropy, sampling) are shared building blocks in `socgan-nn`.

pub mod conv;
pub mod lstm;

pub use conv::conv_max_pool;
pub use lstm::lstm_sequence;
