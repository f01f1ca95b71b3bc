//! What a checkpoint holds besides weights: the step, the RNG, optimizer step counts, the last
//! evaluation, model-selection progress, the divergence watch, the frozen groups' sources, and
//! the run's config.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::Tensor;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::checkpoint::Checkpoint;
use crate::host::Provenance;
use crate::trainer::plan::UpdateKind;
use crate::trainer::stepper::{DivergenceGuard, Stepper};
use crate::trainer::task::Task;
use crate::trainer::RunOptions;
use crate::{Error, FrozenSource, Metrics, ParamGroup, Result, SeededRng};

/// Progress of model selection.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SelectionState {
    pub best: Option<f64>,
    pub best_step: Option<u64>,
    /// Evaluations since the best one (early stopping counts these).
    pub evals_since_best: u64,
    pub stopped_early: bool,
    /// Every metric of the best evaluation (validation and test), for `results.json`.
    #[serde(default)]
    pub best_metrics: Metrics,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct CheckpointState {
    pub step: u64,
    pub rng: SeededRng,
    pub optimizer_steps: BTreeMap<String, u64>,
    pub last_eval: Metrics,
    pub selection: SelectionState,
    pub divergence: DivergenceGuard,
    pub frozen_groups: BTreeMap<String, FrozenSource>,
    /// The task tag of the run (the `task` key of its config).
    pub task: String,
    pub config: Value,
    /// What wrote the checkpoint: socgan's version and commit, the device and CPU kind, the
    /// checkpoint format (checked before loading). Absent in checkpoints from before it was
    /// recorded.
    #[serde(default)]
    pub provenance: Option<Provenance>,
}

/// Everything a checkpoint is written from.
pub(crate) struct Snapshot<'a, U> {
    pub step: u64,
    pub stepper: &'a Stepper<'a, U>,
    pub last_eval: &'a Metrics,
    pub selection: &'a SelectionState,
}

/// The tensors (trained groups' weights and buffers, optimizer moments) and the state of a
/// checkpoint.
pub(crate) fn checkpoint_contents<T: Task>(
    task: &T,
    snap: &Snapshot<'_, T::Update>,
    options: &RunOptions,
) -> Result<(Vec<(String, Tensor)>, Value)> {
    let mut tensors = Vec::new();
    let mut frozen_groups = BTreeMap::new();
    for group in task.groups() {
        match group {
            ParamGroup::Trained { name, params } => {
                tensors.extend(params.tensors_with_prefix(&format!("{name}.")));
            }
            ParamGroup::Frozen { name, source } => {
                frozen_groups.insert(name.to_string(), source.clone());
            }
        }
    }
    let mut optimizer_steps = BTreeMap::new();
    for slot in &snap.stepper.slots {
        tensors.extend(
            slot.adam
                .state_tensors(&format!("optim.{}.", slot.spec.name)),
        );
        optimizer_steps.insert(slot.spec.name.clone(), slot.adam.step_count());
    }
    let state = CheckpointState {
        step: snap.step,
        rng: snap.stepper.rng.clone(),
        optimizer_steps,
        last_eval: snap.last_eval.clone(),
        selection: snap.selection.clone(),
        divergence: snap.stepper.guard.clone(),
        frozen_groups,
        task: options.task.clone(),
        config: options.config_json.clone(),
        provenance: Some(options.provenance.clone()),
    };
    let state = serde_json::to_value(&state).map_err(|e| Error::Config(e.to_string()))?;
    Ok((tensors, state))
}

/// Restores `task` and `stepper` from the checkpoint in `dir`; returns the step, the last
/// evaluation and the selection progress.
pub(crate) fn restore<T: Task>(
    task: &T,
    stepper: &mut Stepper<'_, T::Update>,
    dir: &Path,
) -> Result<(u64, Metrics, SelectionState)>
where
    T::Update: UpdateKind,
{
    let device = task
        .groups()
        .iter()
        .find_map(|g| match g {
            ParamGroup::Trained { params, .. } => Some(params.device().clone()),
            ParamGroup::Frozen { .. } => None,
        })
        .unwrap_or(candle_core::Device::Cpu);
    let ckpt = Checkpoint::load(dir, &device)?;
    let state: CheckpointState = serde_json::from_value(ckpt.state.clone())
        .map_err(|e| Error::checkpoint(&ckpt.dir, format!("state.json: {e}")))?;
    for group in task.groups() {
        match group {
            ParamGroup::Trained { name, params } => {
                params.load_with_prefix(&ckpt.tensors, &format!("{name}."), &ckpt.dir)?
            }
            ParamGroup::Frozen { name, source } => {
                check_frozen(name, source, state.frozen_groups.get(name), &ckpt.dir)?
            }
        }
    }
    for slot in &mut stepper.slots {
        let name = &slot.spec.name;
        let steps = *state.optimizer_steps.get(name).ok_or_else(|| {
            Error::checkpoint(&ckpt.dir, format!("no state for optimizer `{name}`"))
        })?;
        slot.adam
            .load_state(&ckpt.tensors, &format!("optim.{name}."), steps, &ckpt.dir)?;
    }
    stepper.rng = state.rng;
    stepper.guard = state.divergence;
    Ok((state.step, state.last_eval, state.selection))
}

fn check_frozen(
    name: &str,
    source: &FrozenSource,
    recorded: Option<&FrozenSource>,
    dir: &Path,
) -> Result<()> {
    match recorded {
        Some(r) if r.sha256 == source.sha256 => Ok(()),
        Some(r) => Err(Error::checkpoint(
            dir,
            format!(
                "frozen group `{name}` was {} (sha256 {}), now {} (sha256 {}): the run cannot continue on other weights",
                r.path.display(),
                r.sha256,
                source.path.display(),
                source.sha256
            ),
        )),
        None => Err(Error::checkpoint(
            dir,
            format!("frozen group `{name}` is not recorded in the checkpoint"),
        )),
    }
}

/// Reads the task tag and config a checkpoint was written with.
pub fn checkpoint_task(ckpt: &Checkpoint) -> Result<(String, Value)> {
    let task = ckpt
        .state
        .get("task")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::checkpoint(&ckpt.dir, "state.json has no task tag"))?;
    Ok((task.to_string(), ckpt.state["config"].clone()))
}
