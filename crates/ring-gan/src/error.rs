//! Errors of `ring-gan`.

/// Errors of `ring-gan`: the core's, candle's and socgan-nn's kept whole, and its own settings.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] gan_core::Error),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error(transparent)]
    Nn(#[from] socgan_nn::Error),
    #[error(transparent)]
    Io(#[from] socgan_io::Error),
    #[error("invalid setting: {0}")]
    Config(String),
}

pub type Result<T> = std::result::Result<T, Error>;

// The task reports its errors through the trainer with their kind kept.
gan_core::model_error!(Error);
