//! What a finished run reports in its `results.json` (written by socgan's trainer).

use std::fs;
use std::path::Path;

use serde_json::Value;

/// Every metric of the run's selected evaluation: the best checkpoint's (by the run's selection
/// metric), or, for a run that selects nothing, the last evaluation's.
pub fn selected_metrics(run: &Path) -> Result<Value, String> {
    let path = run.join("results.json");
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let results: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if results["best"].is_null() {
        return Ok(results["final"].clone());
    }
    let metrics = &results["best"]["metrics"];
    if metrics.is_object() {
        return Ok(metrics.clone());
    }
    Err(format!(
        "{}: the best checkpoint's metrics are missing (written by an older socgan); train the run again",
        path.display()
    ))
}
