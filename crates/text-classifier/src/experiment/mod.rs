//! The classifier experiment: what `socgan train / predict / eval` do for a run whose config says
//! `task = "text_classifier"`.

pub mod args;
pub mod bench;
pub mod config;
pub mod data;
mod default_run;
mod embed;
pub mod encoding;
mod predict;
pub mod report;
pub mod saved;
mod tfidf_run;
mod train;

use std::path::{Path, PathBuf};

use gan_core::Checkpoint;

pub use embed::{embed_file, BertImplementation};
pub use predict::predict;
pub use train::{device, train};

/// The task tag of classifier configs and checkpoints.
pub const TASK: &str = "text_classifier";

/// `socgan eval` of classifier checkpoints: the score and per-class report on the run's test
/// posts (or on `data`), the confusion matrix written beside each run; one JSON line each.
pub fn eval(
    checkpoints: &[(PathBuf, Checkpoint)],
    data: Option<&Path>,
) -> crate::Result<Vec<serde_json::Value>> {
    let device = device()?;
    let mut lines = Vec::new();
    for (path, ckpt) in checkpoints {
        let saved = saved::SavedClassifier::load(ckpt, &device, false)?;
        let result = report::evaluate(&saved, data, &device)?;
        eprint!("{}", result.report);
        let run_dir = if path.join("checkpoints").is_dir() || path.join("config.toml").is_file() {
            path.clone()
        } else {
            ckpt.dir.clone()
        };
        // Training wrote the selected checkpoint's chart; an evaluation writes its own.
        let chart = run_dir.join(report::EVAL_CONFUSION_CHART);
        report::write_confusion_chart(
            &chart,
            &result.matrix,
            saved.map.names(),
            &format!(
                "{} ({})",
                saved.config.method.name(),
                saved.config.encoder.name()
            ),
        )?;
        eprintln!("socgan: confusion matrix written to {}", chart.display());
        let mut json = result.json;
        json["checkpoint"] = serde_json::Value::String(path.display().to_string());
        lines.push(json);
    }
    Ok(lines)
}
