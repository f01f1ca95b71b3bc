//! Checkpoints: `weights.safetensors` (model and optimizer tensors) plus `state.json` (step, RNG
//! state, optimizer step counts, the run's task tag and config) and any files the caller adds (its
//! config in TOML, a tokenizer), in a directory `checkpoints/step-NNNNNNNN/`; the best one by the
//! run's selection metric, if it has one, in `checkpoints/best/`.
//!
//! Writing is atomic: everything goes into a uniquely named hidden directory that is renamed into
//! place only once complete, and `checkpoints/latest` is replaced by rename too. A run killed at
//! any moment leaves the previous checkpoint intact; if it dies between the two renames that
//! replace a checkpoint of the same name, the complete old copy is left as `.NAME.old`, and
//! [`CheckpointStore::recover_latest`] finds the newest complete checkpoint whatever `latest`
//! says.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};

use crate::host::CHECKPOINT_FORMAT;
use crate::{Error, Result};

/// A run's checkpoints folder.
pub const CHECKPOINTS_DIR: &str = "checkpoints";
const WEIGHTS: &str = "weights.safetensors";
const STATE: &str = "state.json";
const LATEST: &str = "latest";
const BEST: &str = "best";

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
        // The state first: it says whether this socgan can read the weights at all.
        let state = read_state(&dir)?;
        let weights = dir.join(WEIGHTS);
        if !weights.is_file() {
            return Err(Error::checkpoint(&weights, "missing checkpoint weights"));
        }
        let tensors = candle_core::safetensors::load(&weights, device).map_err(|e| {
            Error::checkpoint(&weights, format!("not a readable safetensors file: {e}"))
        })?;
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

/// A checkpoint's `state.json` as JSON, whatever socgan wrote it.
fn parse_state(dir: &Path) -> Result<serde_json::Value> {
    let path = dir.join(STATE);
    let text = fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::checkpoint(&path, format!("invalid JSON: {e}")))
}

/// A checkpoint's `state.json`, refused if a later socgan wrote it in a layout this one does
/// not know.
fn read_state(dir: &Path) -> Result<serde_json::Value> {
    let path = dir.join(STATE);
    let state = parse_state(dir)?;
    let format = state
        .pointer("/provenance/format")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    if format > u64::from(CHECKPOINT_FORMAT) {
        let version = state
            .pointer("/provenance/version")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("a later version");
        return Err(Error::checkpoint(
            &path,
            format!(
                "written by socgan {version} in checkpoint format {format}; this socgan ({}) reads formats up to {CHECKPOINT_FORMAT}: upgrade socgan",
                env!("CARGO_PKG_VERSION")
            ),
        ));
    }
    Ok(state)
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

impl Pick {
    /// The best checkpoint where the run at `path` keeps one, else the latest (what a run is
    /// used through: predictions, recommendations, its report).
    pub fn best_if_kept(path: &Path) -> Self {
        if resolve_pick(path, Pick::Best).is_ok() {
            Pick::Best
        } else {
            Pick::Latest
        }
    }
}

/// Resolves a run or `checkpoints/` directory to its latest or best checkpoint; a checkpoint
/// directory itself resolves to itself.
pub fn resolve_pick(path: &Path, pick: Pick) -> Result<PathBuf> {
    if pick == Pick::Latest || path.join(WEIGHTS).is_file() {
        return resolve(path);
    }
    for root in [path.join(CHECKPOINTS_DIR), path.to_path_buf()] {
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
    for root in [path.join(CHECKPOINTS_DIR), path.to_path_buf()] {
        let latest = root.join(LATEST);
        if latest.is_file() {
            let name = fs::read_to_string(&latest).map_err(|e| Error::io(&latest, e))?;
            let dir = root.join(name.trim());
            if dir.join(WEIGHTS).is_file() {
                return Ok(dir);
            }
            return Err(Error::checkpoint(
                &latest,
                format!(
                    "points at `{}`, which is not a complete checkpoint (the run was killed while saving?); `socgan train --resume` recovers the newest complete one",
                    name.trim()
                ),
            ));
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

/// The step a step checkpoint's folder name (`step-NNNNNNNN`, or its `.step-NNNNNNNN.old` copy)
/// carries.
fn step_of(name: &str) -> Option<u64> {
    let name = name
        .strip_prefix('.')
        .and_then(|n| n.strip_suffix(".old"))
        .unwrap_or(name);
    name.strip_prefix("step-")?.parse().ok()
}

impl CheckpointStore {
    /// `keep_last` complete checkpoints are kept; older ones are removed after a new one is in place.
    pub fn new(run_dir: &Path, keep_last: usize) -> Self {
        Self {
            root: run_dir.join(CHECKPOINTS_DIR),
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
        socgan_io::write_atomic(&self.root.join(LATEST), name.as_bytes())?;
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

    /// Writes a complete checkpoint directory `name` under a unique temporary name, then swaps
    /// it in.
    fn write_dir(
        &self,
        name: &str,
        tensors: Vec<(String, Tensor)>,
        state: &serde_json::Value,
        extra_files: &[(&str, &str)],
    ) -> Result<PathBuf> {
        let staged = socgan_io::stage_dir(&self.root.join(name))?;
        let map: HashMap<String, Tensor> = tensors.into_iter().collect();
        let weights = staged.path().join(WEIGHTS);
        candle_core::safetensors::save(&map, &weights)
            .map_err(|e| Error::checkpoint(&weights, e.to_string()))?;
        let state_text = serde_json::to_string_pretty(state)
            .map_err(|e| Error::checkpoint(staged.path(), e.to_string()))?;
        socgan_io::write_atomic(&staged.path().join(STATE), state_text.as_bytes())?;
        for (file, text) in extra_files {
            socgan_io::write_atomic(&staged.path().join(file), text.as_bytes())?;
        }
        Ok(staged.commit()?)
    }

    /// Whether any step checkpoint was ever put in place here (or its kept copy): a run killed
    /// before its first one has nothing to continue and may start afresh (a `best` or a staging
    /// folder left from step 0 does not count).
    pub fn has_step_checkpoints(&self) -> bool {
        fs::read_dir(&self.root).is_ok_and(|entries| {
            entries
                .filter_map(|e| e.ok())
                .any(|e| step_of(&e.file_name().to_string_lossy()).is_some())
        })
    }

    /// The newest complete checkpoint, if `latest` points at one.
    pub fn latest(&self) -> Option<PathBuf> {
        let name = fs::read_to_string(self.root.join(LATEST)).ok()?;
        let dir = self.root.join(name.trim());
        is_complete(&dir).then_some(dir)
    }

    /// The checkpoint a resumed run continues from: the one `latest` points at, or, when
    /// `latest` is missing or broken (a run killed between the renames of a checkpoint swap),
    /// the newest complete step checkpoint, its kept `.old` copy included, which is then put
    /// back in place. `None` only when no complete checkpoint exists.
    pub fn recover_latest(&self) -> Result<Option<PathBuf>> {
        self.recover_best()?;
        if let Some(dir) = self.latest() {
            return Ok(Some(dir));
        }
        let Ok(entries) = fs::read_dir(&self.root) else {
            return Ok(None);
        };
        let newest = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter_map(|p| {
                let step = step_of(&p.file_name()?.to_string_lossy())?;
                is_complete(&p).then_some((step, p))
            })
            .max_by_key(|(step, p)| (*step, !p.to_string_lossy().ends_with(".old")));
        let Some((step, dir)) = newest else {
            return Ok(None);
        };
        let name = format!("step-{step:08}");
        let target = self.root.join(&name);
        if dir != target {
            fs::rename(&dir, &target).map_err(|e| Error::io(&dir, e))?;
        }
        socgan_io::write_atomic(&self.root.join(LATEST), name.as_bytes())?;
        Ok(Some(target))
    }

    /// Puts the best checkpoint's kept copy back if a swap was cut between its renames.
    fn recover_best(&self) -> Result<()> {
        let best = self.best_dir();
        let old = socgan_io::old_copy(&best);
        if !best.exists() && is_complete(&old) {
            fs::rename(&old, &best).map_err(|e| Error::io(&old, e))?;
        }
        Ok(())
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

/// A checkpoint folder with its weights and a readable state (of any format: one a later socgan
/// wrote is complete, and loading it says so).
fn is_complete(dir: &Path) -> bool {
    dir.join(WEIGHTS).is_file() && parse_state(dir).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn save(store: &CheckpointStore, step: u64) {
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

    #[test]
    fn save_load_prune_and_resolve() {
        let run = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(run.path(), 2);
        for step in [10u64, 20, 30] {
            save(&store, step);
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

    /// A run killed between the two renames of a checkpoint swap leaves `latest` pointing at a
    /// missing folder and the complete old copy beside it.
    #[test]
    fn a_broken_latest_pointer_is_named_and_recovered() {
        let run = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(run.path(), 5);
        save(&store, 10);
        save(&store, 20);
        let root = store.root();
        fs::rename(root.join("step-00000020"), root.join(".step-00000020.old")).unwrap();
        assert!(store.latest().is_none());
        let err = Checkpoint::load(run.path(), &Device::Cpu)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("not a complete checkpoint") && err.contains("--resume"),
            "{err}"
        );
        let recovered = store.recover_latest().unwrap().unwrap();
        assert_eq!(recovered, root.join("step-00000020"));
        assert_eq!(
            Checkpoint::load(run.path(), &Device::Cpu).unwrap().state["step"],
            20
        );

        // Half-written folders (no weights, unreadable state) are never chosen.
        fs::remove_file(root.join("step-00000020").join(WEIGHTS)).unwrap();
        fs::create_dir(root.join("step-00000030")).unwrap();
        fs::write(root.join("step-00000030").join(STATE), "{").unwrap();
        let recovered = store.recover_latest().unwrap().unwrap();
        assert_eq!(recovered, root.join("step-00000010"));
        let empty = CheckpointStore::new(&run.path().join("other"), 1);
        assert!(empty.recover_latest().unwrap().is_none() && !empty.has_step_checkpoints());
        assert!(store.has_step_checkpoints());
        // A best checkpoint written at step 0 before a kill is not a step to continue from.
        let early = CheckpointStore::new(&run.path().join("early"), 1);
        let t = Tensor::new(&[1f32], &Device::Cpu).unwrap();
        early
            .save_best(vec![("w".into(), t)], &serde_json::json!({}), &[])
            .unwrap();
        assert!(!early.has_step_checkpoints());
    }

    #[test]
    fn a_checkpoint_from_a_later_format_is_refused() {
        let run = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(run.path(), 1);
        let t = Tensor::new(&[1f32], &Device::Cpu).unwrap();
        let state = serde_json::json!({ "provenance": { "version": "9.0.0", "format": CHECKPOINT_FORMAT + 1 } });
        store.save(1, vec![("w".into(), t)], &state, &[]).unwrap();
        let err = Checkpoint::load(run.path(), &Device::Cpu)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("socgan 9.0.0") && err.contains("upgrade"),
            "{err}"
        );
    }
}
