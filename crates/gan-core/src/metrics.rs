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
                let kept: Vec<String> = read_records(path)?
                    .into_iter()
                    .filter(|r| {
                        r.get("step")
                            .and_then(Value::as_u64)
                            .is_some_and(|s| s <= limit)
                    })
                    .map(|r| r.to_string() + "\n")
                    .collect();
                crate::checkpoint::write_atomic(path, kept.concat().as_bytes())?;
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
        out.push(value);
    }
    Ok(out)
}
