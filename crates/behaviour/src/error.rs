use std::path::PathBuf;

/// Errors of `behaviour`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] gan_core::Error),
    #[error(transparent)]
    Nn(#[from] socgan_nn::Error),
    #[error(transparent)]
    Data(#[from] socgan_data::Error),
    #[error(transparent)]
    TextModels(#[from] text_models::Error),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("invalid setting: {0}")]
    Config(String),
    /// A user or item id a request names that the run has never seen.
    #[error("{0}")]
    Unknown(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn file(path: &std::path::Path, message: impl Into<String>) -> Self {
        Error::File {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

impl From<Error> for gan_core::Error {
    /// Lets a [`gan_core::Task`] implemented here report any behaviour error.
    fn from(e: Error) -> Self {
        match e {
            Error::Core(inner) => inner,
            Error::Candle(inner) => gan_core::Error::Candle(inner),
            Error::Nn(socgan_nn::Error::Candle(inner)) => gan_core::Error::Candle(inner),
            other => gan_core::Error::Config(other.to_string()),
        }
    }
}
