//! The behaviour experiment: what `socgan train / eval / recommend` do for a run whose config
//! says `task = "behaviour"`.

pub mod args;
pub mod bench;
pub mod config;
pub mod data;
mod default_run;
pub mod gan;
mod recommend;
pub mod saved;
mod train;

use std::path::PathBuf;

use gan_core::Checkpoint;
use serde_json::json;

pub use gan::{eval as eval_gan, generate, train_gan, GAN_TASK};
pub use recommend::{recommend, top_k, Recommendation};
pub use train::{device, train};

use crate::evaluation::RankingEvaluator;
use saved::SavedRecommender;

/// The task tag of behaviour configs and checkpoints.
pub const TASK: &str = "behaviour";

/// `socgan eval` of behaviour checkpoints: both protocols on the validation and test items of
/// each run's split; one JSON object each.
pub fn eval(checkpoints: &[(PathBuf, Checkpoint)]) -> crate::Result<Vec<serde_json::Value>> {
    let device = device()?;
    let mut lines = Vec::new();
    for (path, ckpt) in checkpoints {
        let saved = SavedRecommender::load(ckpt, &device)?;
        let evaluator = RankingEvaluator::new(
            &saved.split,
            saved.log.num_items(),
            saved.config.seed,
            &saved.config.evaluation,
        );
        let metrics = evaluator.evaluate(&saved.recommender, &device)?.flatten();
        lines.push(json!({
            "checkpoint": path.display().to_string(),
            "model": saved.config.model.name(),
            "loss": saved.config.training.loss.name(),
            "metrics": metrics,
        }));
    }
    Ok(lines)
}
