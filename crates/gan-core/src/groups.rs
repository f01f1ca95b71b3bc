//! Named parameter groups: what a task trains, and what it holds frozen.
//!
//! A trained group's weights and optimizer state go into every checkpoint under its name. A
//! frozen pretrained group (a sentence encoder, say) is not copied: the checkpoint records the
//! file it came from and the file's SHA-256, and resuming checks that the file is unchanged.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{ParamStore, Result};

/// Where a frozen group's weights come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrozenSource {
    pub path: PathBuf,
    /// Lower-case hex SHA-256 of the file's bytes.
    pub sha256: String,
}

impl FrozenSource {
    /// Hashes `path`.
    pub fn of_file(path: &Path) -> Result<Self> {
        Ok(Self {
            path: path.to_path_buf(),
            sha256: socgan_io::sha256_file(path)?,
        })
    }
}

/// One parameter group of a task.
pub enum ParamGroup<'a> {
    /// Trained (or at least checkpointed): weights under `{name}.` in every checkpoint.
    Trained {
        name: &'a str,
        params: &'a ParamStore,
    },
    /// Held fixed and loaded from `source`; referenced by path and hash, not copied.
    Frozen {
        name: &'a str,
        source: &'a FrozenSource,
    },
}

impl ParamGroup<'_> {
    pub fn name(&self) -> &str {
        match self {
            ParamGroup::Trained { name, .. } | ParamGroup::Frozen { name, .. } => name,
        }
    }
}
