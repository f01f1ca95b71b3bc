//! Named trainable parameters, initialised from the run's [`SeededRng`].
//!
//! candle's `VarMap` + `VarBuilder` initialise from candle's unseeded RNG; a `ParamStore` is the
//! seeded replacement, and the unit in which weights are saved, loaded and optimised.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{DType, Device, Shape, Tensor, Var};

use crate::{Error, Result, SeededRng};

/// How a parameter is initialised.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    Const(f32),
    Uniform { low: f32, high: f32 },
    Normal { mean: f32, std: f32 },
}

/// Trainable variables by name, in name order (which fixes the order of optimizer state and of
/// gradient-norm sums, so runs are reproducible).
#[derive(Clone, Debug)]
pub struct ParamStore {
    device: Device,
    vars: BTreeMap<String, Var>,
}

impl ParamStore {
    pub fn new(device: &Device) -> Self {
        Self {
            device: device.clone(),
            vars: BTreeMap::new(),
        }
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Creates the variable `name` with `shape`, drawing its initial value from `rng`.
    pub fn create<S: Into<Shape>>(
        &mut self,
        name: &str,
        shape: S,
        init: Init,
        rng: &mut SeededRng,
    ) -> Result<Tensor> {
        let shape = shape.into();
        if self.vars.contains_key(name) {
            return Err(Error::Config(format!(
                "parameter `{name}` is created twice"
            )));
        }
        let n = shape.elem_count();
        let data = match init {
            Init::Const(value) => vec![value; n],
            Init::Uniform { low, high } => rng.uniform_vec(n, low, high),
            Init::Normal { mean, std } => rng.normal_vec(n, mean, std),
        };
        let var = Var::from_tensor(&Tensor::from_vec(data, shape, &self.device)?)?;
        let tensor = var.as_tensor().clone();
        self.vars.insert(name.to_string(), var);
        Ok(tensor)
    }

    pub fn get(&self, name: &str) -> Option<&Var> {
        self.vars.get(name)
    }

    /// `(name, var)` pairs in name order.
    pub fn named_vars(&self) -> impl Iterator<Item = (&str, &Var)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn vars(&self) -> Vec<Var> {
        self.vars.values().cloned().collect()
    }

    pub fn num_parameters(&self) -> usize {
        self.vars.values().map(|v| v.elem_count()).sum()
    }

    /// The current values under `prefix` + name, for saving.
    pub fn tensors_with_prefix(&self, prefix: &str) -> Vec<(String, Tensor)> {
        self.vars
            .iter()
            .map(|(k, v)| (format!("{prefix}{k}"), v.as_tensor().clone()))
            .collect()
    }

    /// Overwrites every variable with `tensors[prefix + name]`; a missing name or a different shape
    /// is an error naming `source` (the file it came from).
    pub fn load_with_prefix(
        &self,
        tensors: &HashMap<String, Tensor>,
        prefix: &str,
        source: &Path,
    ) -> Result<()> {
        for (name, var) in &self.vars {
            let key = format!("{prefix}{name}");
            let value = tensors
                .get(&key)
                .ok_or_else(|| Error::checkpoint(source, format!("missing tensor `{key}`")))?;
            if value.dims() != var.dims() {
                return Err(Error::checkpoint(
                    source,
                    format!(
                        "tensor `{key}` has shape {:?}, expected {:?}",
                        value.dims(),
                        var.dims()
                    ),
                ));
            }
            var.set(&value.to_dtype(DType::F32)?.to_device(&self.device)?)?;
        }
        Ok(())
    }

    /// Copies every value from `other`, which must hold the same names and shapes.
    pub fn copy_from(&self, other: &ParamStore) -> Result<()> {
        let tensors: HashMap<String, Tensor> = other.tensors_with_prefix("").into_iter().collect();
        self.load_with_prefix(&tensors, "", Path::new("<parameter copy>"))
    }
}
