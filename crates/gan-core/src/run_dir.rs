//! The life of a run folder, the launch sequence every model crate's `train` follows:
//!
//! 1. [`RunFolder::claim`] before any data is read: refuse to mix two runs in one folder, and
//!    never `--overwrite` a folder that is not a socgan run;
//! 2. read the data and build the models (errors here cost nothing on disk);
//! 3. [`RunFolder::begin`]: clear an overwritten run, mark the folder, write the effective
//!    `config.toml` and the run's own files;
//! 4. [`Launch::train`]: the trainer runs the task, checkpointing into the folder.

use std::path::{Path, PathBuf};

use candle_core::Device;

use crate::checkpoint::CHECKPOINTS_DIR;
use crate::config::{RunConfig, CONFIG_FILE};
use crate::host::Provenance;
use crate::trainer::{METRICS_FILE, RESULTS_FILE};
use crate::{Error, Metrics, Result, RunOptions, RunOutcome, Task, Trainer, TrainerConfig};

/// The file that marks a folder as a socgan run: written when a run starts, before anything
/// else, so that `--overwrite` can tell a run it may replace from a folder it must not touch.
pub const RUN_MARKER: &str = ".socgan-run";

/// What to do when the run folder already holds a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Refuse (the default): a second run would silently mix with the first.
    Refuse,
    /// Continue the run from its latest checkpoint.
    Resume,
    /// Delete it and start over (only a folder that holds a socgan run).
    Overwrite,
}

/// The options of one `socgan train` invocation that any model crate honours.
#[derive(Clone, Debug)]
pub struct Invocation {
    pub existing: Existing,
    /// Stop (checkpointed) after this many run steps; `--resume` continues.
    pub halt_after: Option<u64>,
    /// No progress bar or status lines.
    pub quiet: bool,
    /// Where the run computes (`--device`).
    pub device: Device,
}

impl Invocation {
    /// A fresh run on `device`, refusing a folder that already holds one.
    pub fn new(device: Device) -> Self {
        Self {
            existing: Existing::Refuse,
            halt_after: None,
            quiet: false,
            device,
        }
    }
}

/// Whether `dir` holds (part of) a socgan run: its marker, or (runs from before the marker)
/// a `config.toml` with a `task` beside a checkpoint folder, metrics log or results file.
pub fn holds_run(dir: &Path) -> bool {
    if dir.join(RUN_MARKER).is_file() {
        return true;
    }
    let tagged_config = crate::config::ConfigTable::read(&dir.join(CONFIG_FILE))
        .is_ok_and(|config| config.task().is_ok_and(|task| task.is_some()));
    tagged_config
        && [CHECKPOINTS_DIR, METRICS_FILE, RESULTS_FILE]
            .iter()
            .any(|name| dir.join(name).exists())
}

/// Whether `dir` holds anything at all (a missing folder holds nothing).
fn has_entries(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some())
}

/// A run folder a `socgan train` invocation has claimed: checked against `--resume` /
/// `--overwrite` before any data is read, cleared and written only once the config and data
/// are known to be good.
#[derive(Debug)]
pub struct RunFolder {
    dir: PathBuf,
    existing: Existing,
}

impl RunFolder {
    /// Checks `dir` against `existing`; call before reading data, so that nothing is touched
    /// when a run is refused. A folder that holds anything but a socgan run is never
    /// overwritten, and an existing run is never trained over without `--resume`.
    pub fn claim(dir: &Path, invocation: &Invocation) -> Result<Self> {
        let existing = invocation.existing;
        let refuse = |why: String| Err(Error::Config(format!("{}: {why}", dir.display())));
        if dir.exists() && !dir.is_dir() {
            return refuse("is a file, not a run folder".into());
        }
        let run = holds_run(dir);
        if !run && has_entries(dir) {
            // A run never goes into someone's folder: a later --overwrite would clear it.
            return refuse(format!(
                "is not a socgan run and not empty; choose a new or empty --out-dir{}",
                if existing == Existing::Overwrite {
                    " (--overwrite only replaces runs)"
                } else {
                    ""
                }
            ));
        }
        match existing {
            Existing::Refuse if run => return refuse(
                "already holds a run; pass --resume to continue it or --overwrite to replace it"
                    .into(),
            ),
            Existing::Overwrite if contains_working_dir(dir) => {
                return refuse("holds the working directory; --overwrite will not delete it".into())
            }
            _ => {}
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            existing,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn existing(&self) -> Existing {
        self.existing
    }

    /// Clears an overwritten run and marks the folder as a run; call once the config and data
    /// have been read without error, so that a mistake does not cost the earlier run.
    pub fn prepare(&self, task: &str) -> Result<()> {
        if self.existing == Existing::Overwrite && self.dir.exists() {
            std::fs::remove_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        }
        let marker = self.dir.join(RUN_MARKER);
        if !marker.is_file() {
            socgan_io::write_atomic(&marker, format!("task = \"{task}\"\n").as_bytes())?;
        }
        Ok(())
    }
}

/// Whether the current directory is `dir` or lies inside it.
fn contains_working_dir(dir: &Path) -> bool {
    let (Ok(dir), Ok(cwd)) = (dir.canonicalize(), std::env::current_dir()) else {
        return false;
    };
    cwd.canonicalize().is_ok_and(|cwd| cwd.starts_with(dir))
}

/// A file of the run's own, carried in every checkpoint (so a checkpoint alone rebuilds the
/// model) and, where `beside_run`, also written at the top of the run folder.
#[derive(Clone, Debug)]
pub struct RunFile {
    pub name: String,
    pub text: String,
    pub beside_run: bool,
}

impl RunFile {
    /// In every checkpoint and beside the run (a tokenizer a person may want to reuse).
    pub fn beside_run(name: &str, text: String) -> Self {
        Self {
            name: name.to_string(),
            text,
            beside_run: true,
        }
    }

    /// In every checkpoint only.
    pub fn in_checkpoints(name: &str, text: String) -> Self {
        Self {
            name: name.to_string(),
            text,
            beside_run: false,
        }
    }
}

impl RunFolder {
    /// Starts the run: clears an overwritten one, marks the folder, writes the effective
    /// `config.toml` and the files `beside_run`, and returns what the trainer needs. Call once
    /// the config, data and models have been built without error.
    pub fn begin<C: RunConfig>(
        self,
        config: &C,
        files: Vec<RunFile>,
        invocation: &Invocation,
    ) -> Result<Launch> {
        self.prepare(C::TASK)?;
        let config_toml = config.to_toml()?;
        socgan_io::write_atomic(&self.dir.join(CONFIG_FILE), config_toml.as_bytes())?;
        let mut checkpoint_files = vec![(CONFIG_FILE.to_string(), config_toml)];
        for file in files {
            if file.beside_run {
                socgan_io::write_atomic(&self.dir.join(&file.name), file.text.as_bytes())?;
            }
            checkpoint_files.push((file.name, file.text));
        }
        let options = RunOptions {
            quiet: invocation.quiet,
            resume: self.existing == Existing::Resume,
            halt_after: invocation.halt_after,
            task: C::TASK.to_string(),
            config_json: serde_json::to_value(config)
                .map_err(|e| Error::Config(format!("config as JSON: {e}")))?,
            checkpoint_files,
            provenance: Provenance::current(&invocation.device),
        };
        Ok(Launch {
            dir: self.dir,
            options,
        })
    }
}

/// A started run: its folder holds the config; the trainer (or a model fitted directly) does
/// the rest.
pub struct Launch {
    dir: PathBuf,
    options: RunOptions,
}

impl Launch {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Trains `task` through `config` in this folder.
    pub fn train<T: Task>(
        self,
        config: TrainerConfig<T::Update>,
        task: &mut T,
    ) -> Result<RunOutcome> {
        Trainer::new(config, &self.dir, self.options)?.run(task)
    }

    /// Records the outcome of a run that fits its model without the trainer (and keeps no
    /// checkpoint): `results.json` as the trainer writes it.
    pub fn finish_untrained(self, test_and_val: Metrics) -> Result<RunOutcome> {
        let outcome = RunOutcome {
            task: self.options.task,
            run_dir: self.dir,
            steps: 0,
            total_steps: 0,
            completed: true,
            stopped_early: false,
            interrupted: false,
            final_metrics: test_and_val,
            best: None,
            provenance: self.options.provenance,
            resumed_from: None,
        };
        outcome.write()?;
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation(existing: Existing) -> Invocation {
        Invocation {
            existing,
            ..Invocation::new(Device::Cpu)
        }
    }

    #[test]
    fn overwrite_replaces_a_run_but_never_a_folder_that_is_not_one() {
        let root = tempfile::tempdir().unwrap();
        // A folder of someone's files: refused, and left as it was.
        let theirs = root.path().join("theirs");
        std::fs::create_dir_all(&theirs).unwrap();
        std::fs::write(theirs.join("thesis.tex"), "years of work").unwrap();
        let err = RunFolder::claim(&theirs, &invocation(Existing::Overwrite))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("is not a socgan run") && err.contains("--out-dir"),
            "{err}"
        );
        assert!(theirs.join("thesis.tex").is_file());
        // A run (its marker) is replaced, only once prepared.
        let run = root.path().join("run");
        RunFolder::claim(&run, &invocation(Existing::Refuse))
            .unwrap()
            .prepare("toy")
            .unwrap();
        std::fs::write(run.join("metrics.jsonl"), "{}\n").unwrap();
        let err = RunFolder::claim(&run, &invocation(Existing::Refuse))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("already holds a run") && err.contains("--resume"),
            "{err}"
        );
        let claimed = RunFolder::claim(&run, &invocation(Existing::Overwrite)).unwrap();
        assert!(
            run.join("metrics.jsonl").is_file(),
            "claiming deletes nothing"
        );
        claimed.prepare("toy").unwrap();
        assert!(!run.join("metrics.jsonl").exists() && run.join(RUN_MARKER).is_file());
        // A run from before the marker: its config beside its checkpoints.
        let legacy = root.path().join("legacy");
        std::fs::create_dir_all(legacy.join(CHECKPOINTS_DIR)).unwrap();
        std::fs::write(legacy.join(CONFIG_FILE), "lr = 1\n").unwrap();
        assert!(
            !holds_run(&legacy),
            "another tool's config.toml is not a socgan run"
        );
        std::fs::write(legacy.join(CONFIG_FILE), "task = \"toy\"\n").unwrap();
        assert!(holds_run(&legacy));
        RunFolder::claim(&legacy, &invocation(Existing::Overwrite)).unwrap();
        // An empty or missing folder is free; a file is not a folder.
        let empty = root.path().join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        RunFolder::claim(&empty, &invocation(Existing::Overwrite)).unwrap();
        RunFolder::claim(&root.path().join("new"), &invocation(Existing::Overwrite)).unwrap();
        let err = RunFolder::claim(&theirs.join("thesis.tex"), &invocation(Existing::Resume))
            .unwrap_err()
            .to_string();
        assert!(err.contains("is a file"), "{err}");
    }
}
