//! Checkpoints: `weights.safetensors` (model and optimizer tensors) plus `state.json` (step, RNG
//! state, optimizer step counts, the run's task tag and config) and any files the caller adds (its
//! config in TOML, a tokenizer), in a directory `checkpoints/step-NNNNNNNN/`; the best one by the
//! run's selection metric, if it has one, in `checkpoints/best/`.
//!
//! Writing is atomic: everything goes into a hidden temporary directory that is renamed into place
//! only once complete, and `checkpoints/latest` is replaced by rename too. A run killed at any
//! moment leaves the previous checkpoint intact and `latest` pointing at a complete directory.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};

use crate::{Error, Result};

const WEIGHTS: &str = "weights.safetensors";
const STATE: &str = "state.json";
const LATEST: &str = "latest";
const BEST: &str = "best";

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so that a
/// reader sees either the old file or the complete new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// A loaded checkpoint.
pub struct Checkpoint {
    pub dir: PathBuf,
    pub tensors: HashMap<String, Tensor>,
    pub state: serde_json::Value,
}

impl Checkpoint {
    /// Loads the checkpoint `path` names: a step directory, a `checkpoints/` directory or a run
    /// directory (both resolved through `latest`).
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        Self::load_pick(path, Pick::Latest, device)
    }

    /// Loads the latest or the best checkpoint of `path` (see [`resolve_pick`]).
    pub fn load_pick(path: &Path, pick: Pick, device: &Device) -> Result<Self> {
        let dir = resolve_pick(path, pick)?;
        let weights = dir.join(WEIGHTS);
        if !weights.is_file() {
            return Err(Error::checkpoint(&weights, "missing checkpoint weights"));
        }
        let tensors = candle_core::safetensors::load(&weights, device).map_err(|e| {
            Error::checkpoint(&weights, format!("not a readable safetensors file: {e}"))
        })?;
        let state_path = dir.join(STATE);
        let text = fs::read_to_string(&state_path).map_err(|e| Error::io(&state_path, e))?;
        let state = serde_json::from_str(&text)
            .map_err(|e| Error::checkpoint(&state_path, format!("invalid JSON: {e}")))?;
        Ok(Self {
            dir,
            tensors,
            state,
        })
    }

    /// Reads a file saved beside the weights (e.g. `config.toml`).
    pub fn read_extra(&self, name: &str) -> Result<String> {
        let path = self.dir.join(name);
        fs::read_to_string(&path).map_err(|e| Error::io(&path, e))
    }
}

/// Which checkpoint of a run directory to load.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pick {
    /// The newest one (`checkpoints/latest`).
    #[default]
    Latest,
    /// The best one by the run's selection metric (`checkpoints/best`).
    Best,
}

/// Resolves a run or `checkpoints/` directory to its latest or best checkpoint; a checkpoint
/// directory itself resolves to itself.
pub fn resolve_pick(path: &Path, pick: Pick) -> Result<PathBuf> {
    if pick == Pick::Latest || path.join(WEIGHTS).is_file() {
        return resolve(path);
    }
    for root in [path.join("checkpoints"), path.to_path_buf()] {
        let best = root.join(BEST);
        if best.join(WEIGHTS).is_file() {
            return Ok(best);
        }
    }
    Err(Error::checkpoint(
        path,
        "no best checkpoint: the run keeps one only when its config sets a selection metric",
    ))
}

/// Resolves a run directory, a `checkpoints/` directory or a step directory to a step directory.
pub fn resolve(path: &Path) -> Result<PathBuf> {
    if path.join(WEIGHTS).is_file() {
        return Ok(path.to_path_buf());
    }
    for root in [path.join("checkpoints"), path.to_path_buf()] {
        let latest = root.join(LATEST);
        if latest.is_file() {
            let name = fs::read_to_string(&latest).map_err(|e| Error::io(&latest, e))?;
            return Ok(root.join(name.trim()));
        }
    }
    if !path.exists() {
        return Err(Error::checkpoint(
            path,
            "no such checkpoint or run directory",
        ));
    }
    Err(Error::checkpoint(
        path,
        "not a checkpoint: expected weights.safetensors or checkpoints/latest",
    ))
}

/// The `checkpoints/` directory of one run.
pub struct CheckpointStore {
    root: PathBuf,
    keep_last: usize,
}

impl CheckpointStore {
    /// `keep_last` complete checkpoints are kept; older ones are removed after a new one is in place.
    pub fn new(run_dir: &Path, keep_last: usize) -> Self {
        Self {
            root: run_dir.join("checkpoints"),
            keep_last: keep_last.max(1),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes checkpoint `step` atomically and points `latest` at it.
    pub fn save(
        &self,
        step: u64,
        tensors: Vec<(String, Tensor)>,
        state: &serde_json::Value,
        extra_files: &[(&str, &str)],
    ) -> Result<PathBuf> {
        let name = format!("step-{step:08}");
        let dir = self.write_dir(&name, tensors, state, extra_files)?;
        write_atomic(&self.root.join(LATEST), name.as_bytes())?;
        self.prune()?;
        Ok(dir)
    }

    /// Where the best checkpoint (by the run's selection metric) is kept, apart from the step
    /// checkpoints and never pruned.
    pub fn best_dir(&self) -> PathBuf {
        self.root.join(BEST)
    }

    /// Replaces the best checkpoint atomically.
    pub fn save_best(
        &self,
        tensors: Vec<(String, Tensor)>,
        state: &serde_json::Value,
        extra_files: &[(&str, &str)],
    ) -> Result<PathBuf> {
        self.write_dir(BEST, tensors, state, extra_files)
    }

    /// Writes a complete checkpoint directory `name` under a temporary name, then swaps it in.
    fn write_dir(
        &self,
        name: &str,
        tensors: Vec<(String, Tensor)>,
        state: &serde_json::Value,
        extra_files: &[(&str, &str)],
    ) -> Result<PathBuf> {
        fs::create_dir_all(&self.root).map_err(|e| Error::io(&self.root, e))?;
        let final_dir = self.root.join(name);
        let tmp_dir = self
            .root
            .join(format!(".{name}.{}.tmp", std::process::id()));
        let _ = fs::remove_dir_all(&tmp_dir);
        fs::create_dir_all(&tmp_dir).map_err(|e| Error::io(&tmp_dir, e))?;
        let map: HashMap<String, Tensor> = tensors.into_iter().collect();
        let weights = tmp_dir.join(WEIGHTS);
        candle_core::safetensors::save(&map, &weights)
            .map_err(|e| Error::checkpoint(&weights, e.to_string()))?;
        let state_text = serde_json::to_string_pretty(state)
            .map_err(|e| Error::checkpoint(&tmp_dir, e.to_string()))?;
        write_atomic(&tmp_dir.join(STATE), state_text.as_bytes())?;
        for (file, text) in extra_files {
            write_atomic(&tmp_dir.join(file), text.as_bytes())?;
        }
        if final_dir.exists() {
            // Re-saving (a step after a resume, or a new best): move the old copy aside first.
            let old = self.root.join(format!(".{name}.old"));
            let _ = fs::remove_dir_all(&old);
            fs::rename(&final_dir, &old).map_err(|e| Error::io(&final_dir, e))?;
            fs::rename(&tmp_dir, &final_dir).map_err(|e| Error::io(&final_dir, e))?;
            let _ = fs::remove_dir_all(&old);
        } else {
            fs::rename(&tmp_dir, &final_dir).map_err(|e| Error::io(&final_dir, e))?;
        }
        Ok(final_dir)
    }

    /// The newest complete checkpoint, if any.
    pub fn latest(&self) -> Option<PathBuf> {
        let name = fs::read_to_string(self.root.join(LATEST)).ok()?;
        let dir = self.root.join(name.trim());
        dir.join(WEIGHTS).is_file().then_some(dir)
    }

    fn prune(&self) -> Result<()> {
        let mut steps: Vec<PathBuf> = fs::read_dir(&self.root)
            .map_err(|e| Error::io(&self.root, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("step-"))
            })
            .collect();
        steps.sort();
        let excess = steps.len().saturating_sub(self.keep_last);
        for old in &steps[..excess] {
            fs::remove_dir_all(old).map_err(|e| Error::io(old, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_prune_and_resolve() {
        let run = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(run.path(), 2);
        for step in [10u64, 20, 30] {
            let t = Tensor::new(&[step as f32, 1.0], &Device::Cpu).unwrap();
            store
                .save(
                    step,
                    vec![("w".into(), t)],
                    &serde_json::json!({ "step": step }),
                    &[("config.toml", "seed = 1\n")],
                )
                .unwrap();
        }
        let ckpt = Checkpoint::load(run.path(), &Device::Cpu).unwrap();
        assert_eq!(ckpt.state["step"], 30);
        assert_eq!(ckpt.tensors["w"].to_vec1::<f32>().unwrap(), vec![30.0, 1.0]);
        assert_eq!(ckpt.read_extra("config.toml").unwrap(), "seed = 1\n");
        let kept: Vec<_> = fs::read_dir(store.root())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().into_string().unwrap())
            .filter(|n| n.starts_with("step"))
            .collect();
        assert_eq!(kept.len(), 2);
        let missing = Checkpoint::load(&run.path().join("nope"), &Device::Cpu)
            .err()
            .unwrap()
            .to_string();
        assert!(missing.contains("no such checkpoint"), "{missing}");
    }
}
