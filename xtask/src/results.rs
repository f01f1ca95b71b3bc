//! What a finished run reports in its `results.json` (written by socgan's trainer).

use std::fs;
use std::path::Path;

use serde_json::Value;

fn read(run: &Path) -> Result<Value, String> {
    let path = run.join("results.json");
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Whether `run` finished (a run stopped by Ctrl-C or `--halt-after` writes its results too,
/// with `completed` false: it is to be resumed, not tabled).
pub fn finished(run: &Path) -> bool {
    read(run).is_ok_and(|r| r["completed"] == true)
}

/// The step of the run's selected (best) checkpoint, if it selects one.
pub fn selected_step(run: &Path) -> Option<u64> {
    read(run).ok()?["best"]["step"].as_u64()
}

/// Every metric of the run's selected evaluation: the best checkpoint's (by the run's selection
/// metric), or, for a run that selects nothing, the last evaluation's.
pub fn selected_metrics(run: &Path) -> Result<Value, String> {
    let results = read(run)?;
    if results["best"].is_null() {
        return Ok(results["final"].clone());
    }
    let metrics = &results["best"]["metrics"];
    if metrics.as_object().is_some_and(|m| !m.is_empty()) {
        return Ok(metrics.clone());
    }
    Err(format!(
        "{}: results.json has no metrics of the best checkpoint (written by an older socgan); train the run again",
        run.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_with(results: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("results.json"), results).unwrap();
        dir
    }

    #[test]
    fn the_selected_evaluation_is_the_best_one_and_stopped_runs_are_not_finished() {
        let best = run_with(
            r#"{"completed": true, "final": {"test/score": 0.1}, "best": {"step": 40, "metrics": {"test/score": 0.7}}}"#,
        );
        assert!(finished(best.path()));
        assert_eq!(selected_step(best.path()), Some(40));
        assert_eq!(selected_metrics(best.path()).unwrap()["test/score"], 0.7);
        let plain = run_with(r#"{"completed": true, "final": {"test/score": 0.1}, "best": null}"#);
        assert_eq!(selected_metrics(plain.path()).unwrap()["test/score"], 0.1);
        let stopped =
            run_with(r#"{"completed": false, "interrupted": true, "final": {}, "best": null}"#);
        assert!(!finished(stopped.path()));
        let old =
            run_with(r#"{"completed": true, "final": {}, "best": {"step": 4, "metrics": {}}}"#);
        let err = selected_metrics(old.path()).unwrap_err();
        assert!(err.contains("older socgan"), "{err}");
        assert!(!finished(&old.path().join("missing")));
    }
}
