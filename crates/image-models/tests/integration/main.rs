//! The image GANs through the public API, one test binary.

mod gradient_penalty;
mod models;
