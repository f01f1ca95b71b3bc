//! Named trainable parameters and buffers, initialised from the run's [`SeededRng`].
//!
//! candle's `VarMap` + `VarBuilder` initialise from candle's unseeded RNG; a `ParamStore` is the
//! seeded replacement, and the unit in which weights are saved, loaded and optimised. Model crates
//! create parameters either directly ([`ParamStore::create`]) or through candle-nn's layer
//! constructors with [`ParamStore::var_builder`], whose every draw comes from the given RNG.
//!
//! Buffers ([`ParamStore::buffer`]) are checkpointed with the weights but never trained: batch-norm
//! running statistics, for instance.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;

use candle_core::{DType, Device, Shape, Tensor, Var};
use candle_nn::init::NormalOrUniform;

use crate::{Error, Result, SeededRng};

/// How a parameter is initialised.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    Const(f32),
    Uniform { low: f32, high: f32 },
    Normal { mean: f32, std: f32 },
}

impl Init {
    /// The seeded equivalent of candle-nn's initialisation hint for a tensor of `shape`
    /// (Kaiming's fan and gain computed as candle-nn and PyTorch compute them).
    pub fn from_candle(hint: candle_nn::Init, shape: &Shape) -> Self {
        match hint {
            candle_nn::Init::Const(v) => Init::Const(v as f32),
            candle_nn::Init::Randn { mean, stdev } => Init::Normal {
                mean: mean as f32,
                std: stdev as f32,
            },
            candle_nn::Init::Uniform { lo, up } => Init::Uniform {
                low: lo as f32,
                high: up as f32,
            },
            candle_nn::Init::Kaiming {
                dist,
                fan,
                non_linearity,
            } => {
                let std = non_linearity.gain() / (fan.for_shape(shape) as f64).sqrt();
                match dist {
                    NormalOrUniform::Normal => Init::Normal {
                        mean: 0.0,
                        std: std as f32,
                    },
                    NormalOrUniform::Uniform => {
                        let bound = (3f64.sqrt() * std) as f32;
                        Init::Uniform {
                            low: -bound,
                            high: bound,
                        }
                    }
                }
            }
        }
    }

    fn draw(self, n: usize, rng: &mut SeededRng) -> Vec<f32> {
        match self {
            Init::Const(value) => vec![value; n],
            Init::Uniform { low, high } => rng.uniform_vec(n, low, high),
            Init::Normal { mean, std } => rng.normal_vec(n, mean, std),
        }
    }
}

/// Trainable variables and buffers by name, in name order (which fixes the order of optimizer
/// state and of gradient-norm sums, so runs are reproducible).
#[derive(Clone, Debug)]
pub struct ParamStore {
    device: Device,
    vars: BTreeMap<String, Var>,
    buffers: BTreeMap<String, Var>,
}

impl ParamStore {
    pub fn new(device: &Device) -> Self {
        Self {
            device: device.clone(),
            vars: BTreeMap::new(),
            buffers: BTreeMap::new(),
        }
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    fn check_new(&self, name: &str) -> Result<()> {
        if self.vars.contains_key(name) || self.buffers.contains_key(name) {
            return Err(Error::Config(format!(
                "parameter `{name}` is created twice"
            )));
        }
        Ok(())
    }

    /// Creates the variable `name` with `shape`, drawing its initial value from `rng`.
    pub fn create<S: Into<Shape>>(
        &mut self,
        name: &str,
        shape: S,
        init: Init,
        rng: &mut SeededRng,
    ) -> Result<Tensor> {
        self.check_new(name)?;
        let shape = shape.into();
        let data = init.draw(shape.elem_count(), rng);
        let var = Var::from_tensor(&Tensor::from_vec(data, shape, &self.device)?)?;
        let tensor = var.as_tensor().clone();
        self.vars.insert(name.to_string(), var);
        Ok(tensor)
    }

    /// Registers a buffer: saved and restored with the weights, never given to an optimizer.
    /// The returned handle is updated in place (`Var::set`) by the layer that owns it.
    pub fn buffer(&mut self, name: &str, initial: &Tensor) -> Result<Var> {
        self.check_new(name)?;
        let var = Var::from_tensor(&initial.to_device(&self.device)?.detach())?;
        self.buffers.insert(name.to_string(), var.clone());
        Ok(var)
    }

    /// A candle-nn `VarBuilder` that creates its tensors in this store, drawing every initial
    /// value from `rng` in creation order: `candle_nn::linear(4, 2, vb.pp("fc"))` creates
    /// `fc.weight` and `fc.bias` here. A name that already exists is returned as it is (after a
    /// shape check), so two layers can share a weight.
    ///
    /// ```
    /// use candle_core::{DType, Device, Module, Tensor};
    /// use gan_core::{ParamStore, SeededRng};
    /// let mut store = ParamStore::new(&Device::Cpu);
    /// let mut rng = SeededRng::new(1);
    /// let fc = candle_nn::linear(4, 2, store.var_builder(&mut rng).pp("fc")).unwrap();
    /// let y = fc.forward(&Tensor::ones((3, 4), DType::F32, &Device::Cpu).unwrap()).unwrap();
    /// assert_eq!(y.dims(), &[3, 2]);
    /// assert_eq!(store.num_parameters(), 4 * 2 + 2);
    /// ```
    pub fn var_builder<'a>(&'a mut self, rng: &'a mut SeededRng) -> candle_nn::VarBuilder<'a> {
        let device = self.device.clone();
        let backend = SeededBackend {
            inner: Mutex::new((self, rng)),
        };
        candle_nn::VarBuilder::from_backend(Box::new(backend), DType::F32, device)
    }

    pub fn get(&self, name: &str) -> Option<&Var> {
        self.vars.get(name)
    }

    /// Trainable `(name, var)` pairs in name order.
    pub fn named_vars(&self) -> impl Iterator<Item = (&str, &Var)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Buffer `(name, var)` pairs in name order.
    pub fn named_buffers(&self) -> impl Iterator<Item = (&str, &Var)> {
        self.buffers.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn vars(&self) -> Vec<Var> {
        self.vars.values().cloned().collect()
    }

    /// Number of trainable values (buffers not counted).
    pub fn num_parameters(&self) -> usize {
        self.vars.values().map(|v| v.elem_count()).sum()
    }

    /// The current values of variables and buffers under `prefix` + name, for saving.
    pub fn tensors_with_prefix(&self, prefix: &str) -> Vec<(String, Tensor)> {
        self.vars
            .iter()
            .chain(&self.buffers)
            .map(|(k, v)| (format!("{prefix}{k}"), v.as_tensor().clone()))
            .collect()
    }

    /// Overwrites every variable and buffer with `tensors[prefix + name]`; a missing name or a
    /// different shape is an error naming `source` (the file it came from).
    pub fn load_with_prefix(
        &self,
        tensors: &HashMap<String, Tensor>,
        prefix: &str,
        source: &Path,
    ) -> Result<()> {
        for (name, var) in self.vars.iter().chain(&self.buffers) {
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
}

/// The `VarBuilder` backend of [`ParamStore::var_builder`]. candle-nn asks through `&self`, so the
/// store and the RNG sit behind a mutex (uncontended: model construction is single-threaded).
struct SeededBackend<'a> {
    inner: Mutex<(&'a mut ParamStore, &'a mut SeededRng)>,
}

impl candle_nn::var_builder::SimpleBackend for SeededBackend<'_> {
    fn get(
        &self,
        shape: Shape,
        name: &str,
        hint: candle_nn::Init,
        dtype: DType,
        _device: &Device,
    ) -> candle_core::Result<Tensor> {
        let mut guard = self.inner.lock().expect("parameter store lock");
        let (store, rng) = &mut *guard;
        if let Some(var) = store.vars.get(name) {
            if var.shape() != &shape {
                candle_core::bail!(
                    "parameter `{name}` exists with shape {:?}, asked for {:?}",
                    var.dims(),
                    shape.dims()
                );
            }
            return var.as_tensor().to_dtype(dtype);
        }
        let init = Init::from_candle(hint, &shape);
        let tensor = store
            .create(name, shape, init, rng)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        tensor.to_dtype(dtype)
    }

    fn get_unchecked(
        &self,
        name: &str,
        dtype: DType,
        _device: &Device,
    ) -> candle_core::Result<Tensor> {
        let guard = self.inner.lock().expect("parameter store lock");
        match guard.0.vars.get(name) {
            Some(var) => var.as_tensor().to_dtype(dtype),
            None => candle_core::bail!(
                "parameter `{name}` does not exist and has no shape to create it with"
            ),
        }
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.inner
            .lock()
            .expect("parameter store lock")
            .0
            .vars
            .contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Module;

    #[test]
    fn kaiming_hints_map_to_the_same_bounds_as_candle() {
        // Linear(8 -> 3): candle-nn asks Kaiming normal (ReLU gain) over fan-in 8.
        let init = Init::from_candle(
            candle_nn::init::DEFAULT_KAIMING_NORMAL,
            &Shape::from((3, 8)),
        );
        let std = (2f32).sqrt() / 8f32.sqrt();
        assert!(
            matches!(init, Init::Normal { mean, std: s } if mean == 0.0 && (s - std).abs() < 1e-6)
        );
        let init = Init::from_candle(
            candle_nn::init::DEFAULT_KAIMING_UNIFORM,
            &Shape::from((3, 8)),
        );
        let bound = 3f32.sqrt() * std;
        assert!(
            matches!(init, Init::Uniform { low, high } if (high - bound).abs() < 1e-6 && low == -high)
        );
    }

    #[test]
    fn var_builder_layers_are_seeded_and_trainable() {
        let build = |seed| {
            let mut store = ParamStore::new(&Device::Cpu);
            let mut rng = SeededRng::new(seed);
            let (fc, emb) = {
                let vb = store.var_builder(&mut rng);
                let fc = candle_nn::linear(3, 2, vb.pp("fc")).unwrap();
                (fc, candle_nn::embedding(5, 3, vb.pp("emb")).unwrap())
            };
            (store, fc, emb)
        };
        let (a, fc, emb) = build(4);
        let (b, _, _) = build(4);
        let (c, _, _) = build(5);
        let values = |s: &ParamStore| -> Vec<Vec<f32>> {
            s.named_vars()
                .map(|(_, v)| v.flatten_all().unwrap().to_vec1().unwrap())
                .collect()
        };
        assert_eq!(values(&a), values(&b));
        assert_ne!(values(&a), values(&c));
        let names: Vec<&str> = a.named_vars().map(|(n, _)| n).collect();
        assert_eq!(names, ["emb.weight", "fc.bias", "fc.weight"]);
        // The layers read the store's variables: a loss through them reaches every one.
        let ids = Tensor::new(&[0u32, 4], &Device::Cpu).unwrap();
        let loss = fc
            .forward(&emb.forward(&ids).unwrap())
            .unwrap()
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap();
        crate::gradient_flow::check_gradient_flow(&loss, &a).unwrap();
    }

    #[test]
    fn buffers_are_saved_and_loaded_but_not_trained() {
        let mut store = ParamStore::new(&Device::Cpu);
        let mut rng = SeededRng::new(0);
        store.create("w", 2, Init::Const(1.0), &mut rng).unwrap();
        let running = store
            .buffer(
                "running_mean",
                &Tensor::zeros(2, DType::F32, &Device::Cpu).unwrap(),
            )
            .unwrap();
        assert_eq!(store.vars().len(), 1);
        assert_eq!(store.num_parameters(), 2);
        running
            .set(&Tensor::new(&[3f32, 4.0], &Device::Cpu).unwrap())
            .unwrap();
        let saved: HashMap<String, Tensor> = store.tensors_with_prefix("g.").into_iter().collect();
        assert!(saved.contains_key("g.running_mean") && saved.contains_key("g.w"));
        let mut other = ParamStore::new(&Device::Cpu);
        other.create("w", 2, Init::Const(0.0), &mut rng).unwrap();
        let restored = other
            .buffer(
                "running_mean",
                &Tensor::zeros(2, DType::F32, &Device::Cpu).unwrap(),
            )
            .unwrap();
        other
            .load_with_prefix(&saved, "g.", Path::new("test"))
            .unwrap();
        assert_eq!(restored.to_vec1::<f32>().unwrap(), vec![3.0, 4.0]);
        let err = other
            .buffer("w", &Tensor::zeros(1, DType::F32, &Device::Cpu).unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("created twice"), "{err}");
    }
}
