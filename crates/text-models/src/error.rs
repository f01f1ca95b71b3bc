use std::path::PathBuf;

/// Errors of `text-models`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] gan_core::Error),
    #[error(transparent)]
    Data(#[from] socgan_data::Error),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error(transparent)]
    Io(#[from] socgan_io::Error),
    #[error(transparent)]
    Nn(#[from] socgan_nn::Error),
    #[error("{path}: {message}")]
    Oracle { path: PathBuf, message: String },
    #[error("shape mismatch: {0}")]
    Shape(String),
    #[error("invalid setting: {0}")]
    Config(String),
}

pub type Result<T> = std::result::Result<T, Error>;

// A `gan_core::Task` implemented here reports any text-model error with its kind kept.
gan_core::model_error!(Error);
