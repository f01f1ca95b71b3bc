//! The run's interactions: read from the configured log, and saved beside every checkpoint
//! (original user and item ids, and every user's time-ordered history), so that evaluation and
//! recommendations map ids back from the checkpoint alone.

use std::path::Path;

use serde::{Deserialize, Serialize};
use socgan_data::interactions::{read_log, InteractionLog, LogFormat};

use crate::experiment::config::LogConfig;
use crate::{Error, Result};

/// The interactions file of a run and its checkpoints.
pub const INTERACTIONS_FILE: &str = "interactions.json";

/// Reads, filters and remaps the log of `config`.
pub fn read_interactions(config: &LogConfig) -> Result<InteractionLog> {
    let format = config.format()?;
    let interactions = read_log(&config.path, &format, config.lossy)?;
    Ok(InteractionLog::build(
        interactions,
        config.kcore(),
        config.actions.as_deref(),
    )?)
}

#[derive(Serialize, Deserialize)]
struct SavedInteractions {
    users: Vec<String>,
    items: Vec<String>,
    histories: Vec<Vec<u32>>,
}

/// The log as the JSON saved beside checkpoints.
pub fn to_json(log: &InteractionLog) -> String {
    let saved = SavedInteractions {
        users: log.user_names().to_vec(),
        items: log.item_names().to_vec(),
        histories: log.histories().to_vec(),
    };
    serde_json::to_string(&saved).expect("interactions serialise")
}

/// The log saved in a checkpoint.
pub fn from_checkpoint(ckpt: &gan_core::Checkpoint) -> Result<InteractionLog> {
    let text = ckpt.read_extra(INTERACTIONS_FILE)?;
    let path = ckpt.dir.join(INTERACTIONS_FILE);
    let saved: SavedInteractions = serde_json::from_str(&text)
        .map_err(|e| Error::file(&path, format!("not a saved interaction log: {e}")))?;
    Ok(InteractionLog::from_parts(
        saved.users,
        saved.items,
        saved.histories,
    )?)
}

/// The histories of a synthetic log (SASRec's layout), in `log`'s item ids; an item the log does
/// not have is an error naming it.
pub fn read_synthetic_histories(path: &Path, log: &InteractionLog) -> Result<Vec<Vec<u32>>> {
    let rows = read_log(path, &LogFormat::Sasrec, false)?;
    let mut users: Vec<String> = Vec::new();
    let mut histories: Vec<Vec<u32>> = Vec::new();
    for (line, row) in rows.iter().enumerate() {
        let item = log.item_id(&row.item).ok_or_else(|| {
            Error::file(
                path,
                format!(
                    "line {}: item `{}` is not in the training log (was the generator trained on it?)",
                    line + 1,
                    row.item
                ),
            )
        })?;
        if users.last() != Some(&row.user) {
            users.push(row.user.clone());
            histories.push(Vec::new());
        }
        histories.last_mut().expect("pushed").push(item);
    }
    Ok(histories)
}
