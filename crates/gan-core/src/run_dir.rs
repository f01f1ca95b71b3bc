//! The life of a run directory: refuse to mix two runs in one directory, replace one only when
//! asked, and write the effective config before training starts.

use std::path::Path;

use crate::trainer::METRICS_FILE;
use crate::{Error, Result};

/// What to do when the run directory already holds a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Refuse (the default): a second run would silently mix with the first.
    Refuse,
    /// Continue the run from its latest checkpoint.
    Resume,
    /// Delete it and start over.
    Overwrite,
}

/// Whether `dir` holds (part of) a run.
pub fn holds_run(dir: &Path) -> bool {
    dir.join("checkpoints").exists() || dir.join(METRICS_FILE).exists()
}

/// Checks `dir` against `existing`; call before reading data, so that nothing is touched when a
/// run is refused.
pub fn check(dir: &Path, existing: Existing) -> Result<()> {
    if existing == Existing::Refuse && holds_run(dir) {
        return Err(Error::Config(format!(
            "{}: already holds a run; pass --resume to continue it or --overwrite to replace it",
            dir.display()
        )));
    }
    Ok(())
}

/// Clears `dir` for an overwriting run; call once the config and data have been read without
/// error, so that a mistake does not cost the earlier run.
pub fn clear_for(dir: &Path, existing: Existing) -> Result<()> {
    if existing == Existing::Overwrite && dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    Ok(())
}

/// The options of one `socgan train` invocation that any model crate honours.
#[derive(Clone, Copy, Debug)]
pub struct Invocation {
    pub existing: Existing,
    /// Stop (checkpointed) after this many run steps; `--resume` continues.
    pub halt_after: Option<u64>,
    /// No progress bar or status lines.
    pub quiet: bool,
}
