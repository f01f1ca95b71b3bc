use std::path::PathBuf;

/// Errors of `gan-core`. Every variant renders as one line that says what went wrong and where.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Checkpoint { path: PathBuf, message: String },
    #[error("invalid setting: {0}")]
    Config(String),
    #[error("gradient flow: {0}")]
    GradientFlow(String),
    #[error("step {step}: {message}; the run diverged (lower the learning rate or clip gradients); checkpoints written before it are kept")]
    Diverged { step: u64, message: String },
    #[error("{path}: cannot draw chart: {message}")]
    Chart { path: PathBuf, message: String },
    #[error(
        "the gradient penalty needs second-order gradients: set CANDLE_GRAD_DO_NOT_DETACH=1 \
         before the first backward pass of the thread"
    )]
    SecondOrderGradientsDisabled,
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
    pub fn checkpoint(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Checkpoint {
            path: path.into(),
            message: message.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
