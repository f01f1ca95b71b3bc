//! Metrics written as JSON Lines while a run goes on: one object per record, flushed per line, so
//! a crashed or still-running job can be inspected (`tail -f metrics.jsonl`) and plotted.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{Error, Result};

/// Named scalar metrics, in name order.
pub type Metrics = BTreeMap<String, f64>;

/// An append-only JSONL metrics file.
pub struct MetricsLog {
    path: PathBuf,
    file: File,
}

impl MetricsLog {
    /// Opens `path` for appending. With `keep_up_to_step`, records with a larger `step` (written
    /// after the checkpoint a run resumes from) are dropped first, so a resumed run's log matches
    /// an uninterrupted one.
    pub fn open(path: &Path, keep_up_to_step: Option<u64>) -> Result<Self> {
        if let Some(limit) = keep_up_to_step {
            if path.exists() {
                // Kept lines are copied as they were written: parsing a record and printing it
                // again can change a float in its last bit.
                let kept: Vec<String> = read_lines(path)?
                    .into_iter()
                    .filter(|(_, record)| {
                        record
                            .get("step")
                            .and_then(Value::as_u64)
                            .is_some_and(|s| s <= limit)
                    })
                    .map(|(line, _)| line + "\n")
                    .collect();
                socgan_io::write_atomic(path, kept.concat().as_bytes())?;
            }
        } else if path.exists() {
            fs::remove_file(path).map_err(|e| Error::io(path, e))?;
        }
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn write(&mut self, record: &Value) -> Result<()> {
        let line = record.to_string() + "\n";
        self.file
            .write_all(line.as_bytes())
            .map_err(|e| Error::io(&self.path, e))?;
        self.file.flush().map_err(|e| Error::io(&self.path, e))
    }
}

/// Reads every record of a JSONL metrics file.
pub fn read_records(path: &Path) -> Result<Vec<Value>> {
    Ok(read_lines(path)?.into_iter().map(|(_, r)| r).collect())
}

/// Every non-empty line of a JSONL file with its parsed record.
fn read_lines(path: &Path) -> Result<Vec<(String, Value)>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(&line).map_err(|e| {
            Error::checkpoint(path, format!("line {}: not a JSON object: {e}", i + 1))
        })?;
        out.push((line, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resuming_keeps_earlier_records_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        // Values whose shortest printed forms are awkward to parse back exactly.
        let values = [
            0.1 + 0.2,
            8.908_123_456_789_012,
            1e-300 * 3.3,
            9.116_000_000_000_001,
        ];
        let mut log = MetricsLog::open(&path, None).unwrap();
        for (step, v) in values.iter().enumerate() {
            log.write(&serde_json::json!({"step": step, "loss": v}))
                .unwrap();
        }
        drop(log);
        let before = std::fs::read_to_string(&path).unwrap();
        MetricsLog::open(&path, Some(2)).unwrap();
        let after = std::fs::read_to_string(&path).unwrap();
        let kept: Vec<&str> = before.lines().take(3).collect();
        assert_eq!(after, kept.join("\n") + "\n");
    }
}
