//! RelGAN's generator core: a relational memory (Santoro et al. 2018), as TextGAN-PyTorch's
//! `RelationalMemory` (a port of Sonnet's) builds it for `RelGAN_G`.
//!
//! Per step, the memory (`slots` rows of `heads x head_size`) and the projected input form
//! `slots + 1` rows; multi-head self-attention over them, a residual layer norm, a two-layer MLP
//! (one linear layer applied twice, ReLU after each: TextGAN-PyTorch's
//! `ModuleList([Linear] * 2)` holds the same layer twice), a second residual layer norm; the
//! memory rows of the result, through an LSTM-like input and forget gate (per unit, with trainable
//! scalar biases 0 and 1), are the next memory. Both layer norms and the query-key-value layer
//! norm normalise over all rows and features of a sample at once, as `nn.LayerNorm([N, F])`
//! does. The output at each step is the flattened memory.
//!
//! Built from `socgan-nn`'s dense layers and layer norm (fused on the CPU, with their own
//! backward) and candle ops elsewhere, so every parameter gets a gradient. The memory is not
//! detached between steps: RelGAN's Gumbel-softmax gradient flows back through the whole
//! sequence, as in the paper's TensorFlow code (one unrolled graph). TextGAN-PyTorch's port
//! detaches it at every call (`repackage_hidden`, a truncated-BPTT habit of language modelling),
//! so there each generated token's gradient reaches only its own step.

use candle_core::{Device, Module, Tensor, D};
use gan_core::{Init, ParamStore, SeededRng};
use serde::{Deserialize, Serialize};
use socgan_nn::{Activation, GradientOrder, LayerNorm};

use crate::{Error, Result};

/// The relational memory's sizes. RelGAN's synthetic-data generator: 1 slot, 2 heads of 256.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelationalMemoryConfig {
    pub slots: usize,
    pub heads: usize,
    pub head_size: usize,
}

impl Default for RelationalMemoryConfig {
    fn default() -> Self {
        Self {
            slots: 1,
            heads: 2,
            head_size: 256,
        }
    }
}

impl RelationalMemoryConfig {
    /// Width of one memory row: `heads x head_size`.
    pub fn row_width(&self) -> usize {
        self.heads * self.head_size
    }

    /// Width of the output at each step (the flattened memory): `slots x heads x head_size`.
    pub fn output_width(&self) -> usize {
        self.slots * self.row_width()
    }

    pub fn validate(&self) -> Result<()> {
        if self.slots == 0 || self.heads == 0 || self.head_size == 0 {
            return Err(Error::Config(format!(
                "a relational memory needs at least one slot, head and unit per head, got {} slots, {} heads of {}",
                self.slots, self.heads, self.head_size
            )));
        }
        Ok(())
    }
}

/// PyTorch's `nn.LayerNorm` epsilon.
const LAYER_NORM_EPS: f64 = 1e-5;

/// A relational memory over inputs already projected to the row width (see
/// [`RelationalMemory::project`]).
pub struct RelationalMemory {
    config: RelationalMemoryConfig,
    input_weight: Tensor,
    input_bias: Tensor,
    qkv_weight: Tensor,
    qkv_bias: Tensor,
    qkv_norm: LayerNorm,
    mlp_weight: Tensor,
    mlp_bias: Tensor,
    attended_norm: LayerNorm,
    mlp_norm: LayerNorm,
    input_gate_weight: Tensor,
    input_gate_bias: Tensor,
    memory_gate_weight: Tensor,
    memory_gate_bias: Tensor,
    /// Trainable scalars added to the input and forget gates (Sonnet's 0 and 1).
    gate_input_bias: Tensor,
    gate_forget_bias: Tensor,
}

/// Parameter names, under `rmc.`.
mod names {
    pub const INPUT: &str = "rmc.input";
    pub const QKV: &str = "rmc.qkv";
    pub const QKV_NORM: &str = "rmc.qkv_norm";
    pub const MLP: &str = "rmc.mlp";
    pub const ATTENDED_NORM: &str = "rmc.attended_norm";
    pub const MLP_NORM: &str = "rmc.mlp_norm";
    pub const INPUT_GATE: &str = "rmc.input_gate";
    pub const MEMORY_GATE: &str = "rmc.memory_gate";
    pub const GATE_INPUT_BIAS: &str = "rmc.gate_input_bias";
    pub const GATE_FORGET_BIAS: &str = "rmc.gate_forget_bias";
}

impl RelationalMemory {
    /// Creates the parameters in `params` for inputs of width `input_dim`: linear weights
    /// (PyTorch's `[out, in]` layout) and biases normal with std `1/sqrt(fan_in)` (socgan's
    /// generator init), layer norms at gain 1 and shift 0 (Sonnet's, which the paper's code
    /// used), gate biases 0 (input) and 1 (forget). TextGAN-PyTorch instead re-draws every
    /// non-scalar parameter from N(0, 1/sqrt(shape[0])), layer-norm gains included (random
    /// signs, std 0.71 for one slot); the sizes and the computation are the same.
    pub fn create(
        config: RelationalMemoryConfig,
        input_dim: usize,
        params: &mut ParamStore,
        rng: &mut SeededRng,
        std: Option<f32>,
    ) -> Result<()> {
        config.validate()?;
        let m = config.row_width();
        let rows = config.slots + 1;
        let normal = |fan: usize| Init::Normal {
            mean: 0.0,
            std: std.unwrap_or(1.0 / (fan as f32).sqrt()),
        };
        let mut linear = |name: &str, out: usize, fan: usize| -> Result<()> {
            params.create(&format!("{name}.weight"), (out, fan), normal(fan), rng)?;
            params.create(&format!("{name}.bias"), out, normal(fan), rng)?;
            Ok(())
        };
        linear(names::INPUT, m, input_dim)?;
        linear(names::QKV, 3 * m, m)?;
        linear(names::MLP, m, m)?;
        linear(names::INPUT_GATE, 2 * m, m)?;
        linear(names::MEMORY_GATE, 2 * m, m)?;
        for (name, width) in [
            (names::QKV_NORM, rows * 3 * m),
            (names::ATTENDED_NORM, rows * m),
            (names::MLP_NORM, rows * m),
        ] {
            params.create(&format!("{name}.weight"), width, Init::Const(1.0), rng)?;
            params.create(&format!("{name}.bias"), width, Init::Const(0.0), rng)?;
        }
        params.create(names::GATE_INPUT_BIAS, 1, Init::Const(0.0), rng)?;
        params.create(names::GATE_FORGET_BIAS, 1, Init::Const(1.0), rng)?;
        Ok(())
    }

    /// Reads the parameters [`RelationalMemory::create`] made.
    pub fn from_params(config: RelationalMemoryConfig, params: &ParamStore) -> Result<Self> {
        config.validate()?;
        let get = |name: &str| crate::generator::parameter(params, name);
        let norm = |name: &str| -> Result<LayerNorm> {
            Ok(LayerNorm::from_tensors(
                get(&format!("{name}.weight"))?,
                Some(get(&format!("{name}.bias"))?),
                LAYER_NORM_EPS,
            ))
        };
        let weight = |name: &str| get(&format!("{name}.weight"));
        let bias = |name: &str| get(&format!("{name}.bias"));
        Ok(Self {
            config,
            input_weight: weight(names::INPUT)?,
            input_bias: bias(names::INPUT)?,
            qkv_weight: weight(names::QKV)?,
            qkv_bias: bias(names::QKV)?,
            qkv_norm: norm(names::QKV_NORM)?,
            mlp_weight: weight(names::MLP)?,
            mlp_bias: bias(names::MLP)?,
            attended_norm: norm(names::ATTENDED_NORM)?,
            mlp_norm: norm(names::MLP_NORM)?,
            input_gate_weight: weight(names::INPUT_GATE)?,
            input_gate_bias: bias(names::INPUT_GATE)?,
            memory_gate_weight: weight(names::MEMORY_GATE)?,
            memory_gate_bias: bias(names::MEMORY_GATE)?,
            gate_input_bias: get(names::GATE_INPUT_BIAS)?,
            gate_forget_bias: get(names::GATE_FORGET_BIAS)?,
        })
    }

    /// The input projection of embedded tokens `[N, E]`: `[N, heads x head_size]` (hoisted out of
    /// the time loop by the caller where the inputs are known in advance).
    pub fn project(&self, embedded: &Tensor) -> Result<Tensor> {
        dense(embedded, &self.input_weight, &self.input_bias)
    }

    /// The initial memory of `batch` rows, `[B, slots, row width]`: each slot a row of the
    /// identity, padded with zeros (or truncated), so the slots start distinct.
    pub fn initial_memory(&self, batch: usize, device: &Device) -> Result<Tensor> {
        let (s, m) = (self.config.slots, self.config.row_width());
        let mut one = vec![0f32; s * m];
        for slot in 0..s.min(m) {
            one[slot * m + slot] = 1.0;
        }
        let one = Tensor::from_vec(one, (1, s, m), device)?;
        Ok(one.broadcast_as((batch, s, m))?.contiguous()?)
    }

    /// One step: the next memory `[B, slots, M]` from the projected input `[B, M]` and the
    /// memory `[B, slots, M]`. The step's output is the next memory flattened.
    pub fn step(&self, input: &Tensor, memory: &Tensor) -> Result<Tensor> {
        let (b, s, m) = memory.dims3()?;
        let rows = s + 1;
        let with_input = Tensor::cat(&[memory, &input.unsqueeze(1)?], 1)?;
        let attended = self.attend(&with_input)?;
        // Residual and layer norm over the whole sample, then the MLP, then again.
        let normed = self
            .attended_norm
            .forward(&(&with_input + attended)?.reshape((b, rows * m))?)?;
        let hidden = dense_relu(
            &normed.reshape((b * rows, m))?,
            &self.mlp_weight,
            &self.mlp_bias,
        )?;
        let hidden = dense_relu(&hidden, &self.mlp_weight, &self.mlp_bias)?;
        let updated = self
            .mlp_norm
            .forward(&(normed + hidden.reshape((b, rows * m))?)?)?
            .reshape((b, rows, m))?
            .narrow(1, 0, s)?;
        self.gated(input, memory, &updated)
    }

    /// Multi-head attention of every row of `rows` (`[B, N, M]`) over all of them.
    fn attend(&self, rows: &Tensor) -> Result<Tensor> {
        let (b, n, m) = rows.dims3()?;
        let (heads, size) = (self.config.heads, self.config.head_size);
        let qkv = dense(&rows.reshape((b * n, m))?, &self.qkv_weight, &self.qkv_bias)?;
        // Each head's columns are its query, key and value, in that order.
        let qkv = self
            .qkv_norm
            .forward(&qkv.reshape((b, n * 3 * m))?)?
            .reshape((b, n, heads, 3 * size))?
            .transpose(1, 2)?;
        let query = (qkv.narrow(3, 0, size)? * (size as f64).powf(-0.5))?.contiguous()?;
        let key = qkv.narrow(3, size, size)?.contiguous()?;
        let value = qkv.narrow(3, 2 * size, size)?.contiguous()?;
        let weights = candle_nn::ops::softmax(&query.matmul(&key.t()?)?, D::Minus1)?;
        Ok(weights
            .matmul(&value)?
            .transpose(1, 2)?
            .reshape((b, n, m))?)
    }

    /// `input_gate * tanh(updated) + forget_gate * memory`, the gates from the input and
    /// `tanh(memory)`.
    fn gated(&self, input: &Tensor, memory: &Tensor, updated: &Tensor) -> Result<Tensor> {
        let (b, s, m) = memory.dims3()?;
        let from_input = dense(input, &self.input_gate_weight, &self.input_gate_bias)?;
        let from_memory = dense(
            &memory.tanh()?.reshape((b * s, m))?,
            &self.memory_gate_weight,
            &self.memory_gate_bias,
        )?
        .reshape((b, s, 2 * m))?;
        let gates = from_memory.broadcast_add(&from_input.unsqueeze(1)?)?;
        let input_gate = candle_nn::ops::sigmoid(
            &gates
                .narrow(2, 0, m)?
                .broadcast_add(&self.gate_input_bias)?,
        )?;
        let forget_gate = candle_nn::ops::sigmoid(
            &gates
                .narrow(2, m, m)?
                .broadcast_add(&self.gate_forget_bias)?,
        )?;
        Ok(((input_gate * updated.tanh()?)? + (forget_gate * memory)?)?)
    }

    /// Outputs `[B, T, slots x M]` of the memory reading projected inputs `[B, T, M]` from its
    /// initial state.
    pub fn sequence(&self, inputs: &Tensor) -> Result<Tensor> {
        let (b, t, _) = inputs.dims3()?;
        let mut memory = self.initial_memory(b, inputs.device())?;
        let mut outputs = Vec::with_capacity(t);
        for step in 0..t {
            memory = self.step(&inputs.narrow(1, step, 1)?.squeeze(1)?, &memory)?;
            outputs.push(memory.flatten_from(1)?);
        }
        Ok(Tensor::stack(&outputs, 1)?)
    }
}

fn dense(x: &Tensor, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
    Ok(socgan_nn::dense(x, weight, bias, GradientOrder::First)?)
}

fn dense_relu(x: &Tensor, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
    Ok(socgan_nn::dense_activation(
        x,
        weight,
        bias,
        Activation::Relu,
        GradientOrder::First,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From `benches/peers/make_rmc_reference.py` (TextGAN-PyTorch's memory, in float64).
    #[rustfmt::skip]
    const OUTPUTS: [f64; 72] = [1.2076092, -0.4703027, -0.1055721, 0.4351167, -0.2543748, -0.1964023, 0.3576256, 0.4445895, -0.0720568, 0.4132085, -0.1488130, -0.0842257, 1.3523671, -0.8227469, -0.1997184, 0.7815310, -0.5089867, -0.3362888, 0.6542935, -0.0456338, -0.1391394, 0.7397374, -0.2994507, -0.1038067, 1.4541322, -1.0721219, -0.2920935, 1.0373793, -0.7441262, -0.4192767, 0.8782119, -0.4459305, -0.2094784, 0.9784991, -0.4499259, -0.0608041, 1.2077180, -0.4803186, -0.0931581, 0.4393669, -0.2670783, -0.1855169, 0.3575357, 0.4309766, -0.0616307, 0.4208070, -0.1599560, -0.0740650, 1.3557056, -0.8366861, -0.1771669, 0.7891414, -0.5280667, -0.3203816, 0.6570311, -0.0690595, -0.1218502, 0.7519444, -0.3166639, -0.0889686, 1.4619039, -1.0862551, -0.2608720, 1.0465143, -0.7643678, -0.4039971, 0.8854394, -0.4733958, -0.1871862, 0.9925071, -0.4687356, -0.0468115];
    #[rustfmt::skip]
    const INPUT_WEIGHT_GRAD: [f64; 24] = [0.0000733, 0.0229508, 0.0350342, 0.0306404, 0.0827824, 0.1504863, 0.1474142, 0.0750108, 0.1146354, 0.1673993, 0.1414327, 0.0489481, 0.1137863, 0.1563369, 0.1253598, 0.0354241, 0.1745927, 0.3193345, 0.3138883, 0.1608155, 0.1392292, 0.2857114, 0.2978191, 0.1698578];

    const CONFIG: RelationalMemoryConfig = RelationalMemoryConfig {
        slots: 2,
        heads: 2,
        head_size: 3,
    };

    /// The script's parameters: the k-th tensor in its order, element i, 0.3 sin(1.7 k + 0.61 i)
    /// (plus 1 for layer-norm gains); gate biases 0.2 (input) and 0.9 (forget).
    fn reference_memory() -> (ParamStore, RelationalMemory) {
        let mut params = ParamStore::new(&Device::Cpu);
        let mut rng = SeededRng::new(0);
        RelationalMemory::create(CONFIG, 4, &mut params, &mut rng, None).unwrap();
        let order = [
            names::INPUT,
            names::QKV,
            names::MLP,
            names::INPUT_GATE,
            names::MEMORY_GATE,
            names::QKV_NORM,
            names::ATTENDED_NORM,
            names::MLP_NORM,
        ];
        let mut k = 0;
        for module in order {
            for part in ["weight", "bias"] {
                let var = params.get(&format!("{module}.{part}")).unwrap();
                let gain = if module.ends_with("norm") && part == "weight" {
                    1.0
                } else {
                    0.0
                };
                let values: Vec<f32> = (0..var.elem_count())
                    .map(|i| gain + 0.3 * (1.7 * k as f64 + 0.61 * i as f64).sin() as f32)
                    .collect();
                var.set(&Tensor::from_vec(values, var.shape(), &Device::Cpu).unwrap())
                    .unwrap();
                k += 1;
            }
        }
        for (name, value) in [
            (names::GATE_INPUT_BIAS, 0.2),
            (names::GATE_FORGET_BIAS, 0.9),
        ] {
            let var = params.get(name).unwrap();
            var.set(&Tensor::new(&[value as f32], &Device::Cpu).unwrap())
                .unwrap();
        }
        let memory = RelationalMemory::from_params(CONFIG, &params).unwrap();
        (params, memory)
    }

    #[test]
    fn matches_the_pytorch_relational_memory_in_outputs_and_gradients() {
        let (params, memory) = reference_memory();
        let x: Vec<f32> = (0..2)
            .flat_map(|b| (0..3).flat_map(move |t| (0..4).map(move |e| (b, t, e))))
            .map(|(b, t, e)| (0.5 * b as f64 + 0.3 * t as f64 + 0.7 * e as f64).sin() as f32)
            .collect();
        let x = Tensor::from_vec(x, (6, 4), &Device::Cpu).unwrap();
        let projected = memory.project(&x).unwrap().reshape((2, 3, 6)).unwrap();
        let outputs = memory.sequence(&projected).unwrap();
        assert_eq!(outputs.dims(), &[2, 3, 12]);
        let got = outputs.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for (i, (g, want)) in got.iter().zip(OUTPUTS).enumerate() {
            assert!(
                (*g as f64 - want).abs() < 1e-4,
                "output {i}: {g} against {want}"
            );
        }
        let probe: Vec<f32> = (0..72).map(|j| (0.13 * j as f64).cos() as f32).collect();
        let probe = Tensor::from_vec(probe, 72, &Device::Cpu).unwrap();
        let grads = (outputs.flatten_all().unwrap() * probe)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let weight = params.get("rmc.input.weight").unwrap();
        let grad = grads.get(weight.as_tensor()).unwrap();
        let grad = grad.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for (i, (g, want)) in grad.iter().zip(INPUT_WEIGHT_GRAD).enumerate() {
            assert!(
                (*g as f64 - want).abs() < 1e-4,
                "gradient {i}: {g} against {want}"
            );
        }
    }

    #[test]
    fn the_initial_memory_is_the_identity_rows_padded() {
        let (_, memory) = reference_memory();
        let m = memory
            .initial_memory(2, &Device::Cpu)
            .unwrap()
            .to_vec3::<f32>()
            .unwrap();
        let row = |s: usize| -> Vec<f32> { (0..6).map(|j| (j == s) as u8 as f32).collect() };
        for sample in m {
            assert_eq!(sample, [row(0), row(1)]);
        }
    }

    #[test]
    fn sizes_without_slots_or_heads_are_one_line_errors() {
        for bad in [
            RelationalMemoryConfig { slots: 0, ..CONFIG },
            RelationalMemoryConfig { heads: 0, ..CONFIG },
            RelationalMemoryConfig {
                head_size: 0,
                ..CONFIG
            },
        ] {
            let err = bad.validate().unwrap_err().to_string();
            assert!(err.contains("at least one slot"), "{err}");
        }
    }
}
