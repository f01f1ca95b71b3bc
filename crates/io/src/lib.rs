//! Files written safely, and digests as hex: what every socgan crate that writes or identifies a
//! file needs, with nothing of candle or the models in it.
//!
//! - [`write_atomic`] replaces a file through a uniquely named temporary file in the same folder
//!   and a rename, so a reader sees the old file or the complete new one, and two processes
//!   writing beside each other never share a temporary name;
//! - [`stage_dir`] stages a whole directory the same way;
//! - [`hex`], [`sha256_hex`] and [`sha256_file`] name contents by digest.

mod atomic;
mod digest;

pub use atomic::{old_copy, stage_dir, write_atomic, write_atomic_with, StagedDir};
pub use digest::{hex, sha256_file, sha256_hex};

/// An I/O error and the path it happened at; renders as one line, `path: what went wrong`.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct Error {
    pub path: std::path::PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl Error {
    pub fn new(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Self {
        Self {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

pub use tempfile::TempDir;
