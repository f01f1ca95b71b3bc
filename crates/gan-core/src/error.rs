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
    /// A model crate's own error, raised inside a [`crate::Task`] or a shared step of its
    /// experiment: kept whole, so its kind and message reach the user unchanged.
    #[error(transparent)]
    Model(Box<dyn std::error::Error + Send + Sync + 'static>),
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
    /// A model crate's error, kept whole.
    pub fn model(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Model(Box::new(e))
    }
    /// An invalid setting found in the config read from `origin`: the file is named once, in
    /// front of the setting; other errors pass unchanged.
    pub fn in_config(self, origin: &str) -> Self {
        match self {
            Error::Config(message) if !message.starts_with(origin) => {
                Error::Config(format!("{origin}: {message}"))
            }
            other => other,
        }
    }
}

impl From<socgan_io::Error> for Error {
    fn from(e: socgan_io::Error) -> Self {
        Error::Io {
            path: e.path,
            source: e.source,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Lets a model crate's error type travel through [`crate::Task`] and the trainer without
/// losing its kind: `Core` comes back as the core error it was, `Config` as an invalid
/// setting, candle's errors as candle's, anything else whole as [`Error::Model`].
///
/// ```text
/// gan_core::model_error!(Error);   // in a model crate whose Error has Core, Candle, Config
/// ```
#[macro_export]
macro_rules! model_error {
    ($error:ident) => {
        impl From<$error> for $crate::Error {
            fn from(e: $error) -> Self {
                match e {
                    $error::Core(inner) => inner,
                    $error::Candle(inner) => $crate::Error::Candle(inner),
                    $error::Config(message) => $crate::Error::Config(message),
                    other => $crate::Error::model(other),
                }
            }
        }
    };
}
