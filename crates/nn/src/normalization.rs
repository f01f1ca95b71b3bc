//! Normalisation layers for convolutional and dense features, with explicit train and eval modes
//! and their state in checkpointed buffers:
//! - [`BatchNorm`]: batch statistics in training (running averages updated), running averages in
//!   evaluation, as PyTorch's `BatchNorm1d/2d` (momentum 0.1, unbiased running variance);
//! - [`GroupLayerNorm`]: per-sample normalisation over channels and positions with a per-channel
//!   affine (GroupNorm with one group), the critic's normalisation WGAN-GP allows;
//! - [`SpectralNorm`]: a weight divided by its largest singular value, estimated by one power
//!   iteration per training forward pass (Miyato et al. 2018), `u` and `v` kept as buffers.
//!
//! All are compositions of candle ops with a backward, so gradients reach every parameter
//! (candle-nn's `BatchNorm` keeps its running statistics as variables a `VarBuilder` would hand to
//! the optimizer; these are buffers). Batch norm's training mode on CPU `f32` runs the fused op
//! of [`crate::batch_norm`] instead, tested against the composition.

use candle_core::{DType, Tensor, Var, D};
use gan_core::{Init, Mode, ParamStore, SeededRng};

use crate::activation::Activation;
use crate::gemm::use_fused;
use crate::{batch_norm, Error, Result};

/// Mean and biased variance per channel (dimension 1) over every other dimension.
fn channel_moments(x: &Tensor) -> Result<(Tensor, Tensor)> {
    let c = x.dim(1)?;
    // [B, C, ...] -> [C, B*...]: one row per channel.
    let rows = x.transpose(0, 1)?.contiguous()?.reshape((c, ()))?;
    let mean = rows.mean_keepdim(1)?;
    let var = rows.broadcast_sub(&mean)?.sqr()?.mean_keepdim(1)?;
    Ok((mean.flatten_all()?, var.flatten_all()?))
}

/// `[C]` reshaped to broadcast over `[B, C, ...]` of rank `rank`.
fn per_channel(t: &Tensor, rank: usize) -> Result<Tensor> {
    let mut shape = vec![1; rank];
    shape[1] = t.elem_count();
    Ok(t.reshape(shape)?)
}

/// Batch normalisation over dimension 1 of `[B, C]` or `[B, C, H, W]`.
pub struct BatchNorm {
    weight: Tensor,
    bias: Tensor,
    running_mean: Var,
    running_var: Var,
    momentum: f64,
    eps: f64,
}

impl BatchNorm {
    /// Weight `{prefix}.weight` drawn from `weight_init` (DCGAN: N(1, 0.02)), bias zero, running
    /// mean 0 and variance 1 as buffers.
    pub fn new(
        params: &mut ParamStore,
        prefix: &str,
        channels: usize,
        weight_init: Init,
        rng: &mut SeededRng,
    ) -> Result<Self> {
        let device = params.device().clone();
        let weight = params.create(&format!("{prefix}.weight"), channels, weight_init, rng)?;
        let bias = params.create(&format!("{prefix}.bias"), channels, Init::Const(0.0), rng)?;
        let running_mean = params.buffer(
            &format!("{prefix}.running_mean"),
            &Tensor::zeros(channels, DType::F32, &device)?,
        )?;
        let running_var = params.buffer(
            &format!("{prefix}.running_var"),
            &Tensor::ones(channels, DType::F32, &device)?,
        )?;
        Ok(Self {
            weight,
            bias,
            running_mean,
            running_var,
            momentum: 0.1,
            eps: 1e-5,
        })
    }

    /// The same layer with detached weight and bias (running statistics shared): a generator
    /// step runs the discriminator through it, so no gradient of D's parameters is computed.
    pub fn frozen(&self) -> Self {
        Self {
            weight: self.weight.detach(),
            bias: self.bias.detach(),
            running_mean: self.running_mean.clone(),
            running_var: self.running_var.clone(),
            momentum: self.momentum,
            eps: self.eps,
        }
    }

    pub fn forward(&self, x: &Tensor, mode: &Mode) -> Result<Tensor> {
        self.forward_activated(x, mode, Activation::Identity)
    }

    /// `activation(batch_norm(x))`: in training mode on the CPU one op (first order), else the
    /// candle composition.
    pub fn forward_activated(
        &self,
        x: &Tensor,
        mode: &Mode,
        activation: Activation,
    ) -> Result<Tensor> {
        let rank = x.rank();
        if rank < 2 {
            return Err(Error::Shape(format!(
                "batch norm needs [B, C, ...], got {:?}",
                x.dims()
            )));
        }
        if let (Mode::Train(_), true) = (mode, use_fused(x, &self.weight)) {
            let (mean, var) = batch_norm::channel_moments_detached(x)?;
            self.update_running_statistics(&mean, &var, x)?;
            return Ok(batch_norm::batch_norm_train(
                x,
                &self.weight,
                &self.bias,
                self.eps,
                activation,
            )?);
        }
        Ok(activation.reference(&self.normalize_composed(x, mode)?)?)
    }

    /// The candle composition of [`Self::forward`] (differentiable to any order).
    fn normalize_composed(&self, x: &Tensor, mode: &Mode) -> Result<Tensor> {
        let rank = x.rank();
        let (mean, var) = match mode {
            Mode::Train(_) => {
                let (mean, var) = channel_moments(x)?;
                self.update_running_statistics(&mean.detach(), &var.detach(), x)?;
                (mean, var)
            }
            Mode::Eval => (
                self.running_mean.as_tensor().detach(),
                self.running_var.as_tensor().detach(),
            ),
        };
        let scale = (self.weight.clone() / (var + self.eps)?.sqrt()?)?;
        let shift = (&self.bias - (&mean * &scale)?)?;
        Ok(x.broadcast_mul(&per_channel(&scale, rank)?)?
            .broadcast_add(&per_channel(&shift, rank)?)?)
    }

    /// PyTorch's running averages: momentum 0.1, the unbiased variance.
    fn update_running_statistics(&self, mean: &Tensor, var: &Tensor, x: &Tensor) -> Result<()> {
        let n = (x.elem_count() / x.dim(1)?) as f64;
        let m = self.momentum;
        let unbiased = (var * (n / (n - 1.0).max(1.0)))?;
        self.running_mean
            .set(&((self.running_mean.as_tensor() * (1.0 - m))? + (mean * m)?)?)?;
        self.running_var
            .set(&((self.running_var.as_tensor() * (1.0 - m))? + (unbiased * m)?)?)?;
        Ok(())
    }
}

/// Per-sample normalisation over `[C, H, W]` (or `[C]`) with a per-channel affine.
pub struct GroupLayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl GroupLayerNorm {
    /// The same layer with detached weight and bias.
    pub fn frozen(&self) -> Self {
        Self {
            weight: self.weight.detach(),
            bias: self.bias.detach(),
            eps: self.eps,
        }
    }

    pub fn new(
        params: &mut ParamStore,
        prefix: &str,
        channels: usize,
        rng: &mut SeededRng,
    ) -> Result<Self> {
        Ok(Self {
            weight: params.create(&format!("{prefix}.weight"), channels, Init::Const(1.0), rng)?,
            bias: params.create(&format!("{prefix}.bias"), channels, Init::Const(0.0), rng)?,
            eps: 1e-5,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let rank = x.rank();
        let b = x.dim(0)?;
        let flat = x.reshape((b, ()))?;
        let mean = flat.mean_keepdim(D::Minus1)?;
        let centred = flat.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = centred
            .broadcast_div(&(var + self.eps)?.sqrt()?)?
            .reshape(x.shape())?;
        Ok(normed
            .broadcast_mul(&per_channel(&self.weight, rank)?)?
            .broadcast_add(&per_channel(&self.bias, rank)?)?)
    }
}

/// A weight divided by its spectral norm. `weight` is any tensor whose first dimension is the
/// output (rows of the `[out, rest]` matrix the norm is taken of).
#[derive(Clone)]
pub struct SpectralNorm {
    u: Var,
    v: Var,
    eps: f64,
}

impl SpectralNorm {
    /// Buffers `{prefix}.u` and `{prefix}.v`, drawn as unit vectors from `rng`.
    pub fn new(
        params: &mut ParamStore,
        prefix: &str,
        weight: &Tensor,
        rng: &mut SeededRng,
    ) -> Result<Self> {
        let rows = weight.dim(0)?;
        let cols = weight.elem_count() / rows;
        let device = weight.device().clone();
        let unit = |n: usize, rng: &mut SeededRng| -> Result<Tensor> {
            let t = rng.normal(n, 0.0, 1.0, &device)?;
            Ok(t.broadcast_div(&t.sqr()?.sum_all()?.sqrt()?)?)
        };
        Ok(Self {
            u: params.buffer(&format!("{prefix}.u"), &unit(rows, rng)?)?,
            v: params.buffer(&format!("{prefix}.v"), &unit(cols, rng)?)?,
            eps: 1e-12,
        })
    }

    /// `weight / sigma(weight)`; in training mode one power iteration first refines `u` and `v`
    /// (without gradient, as PyTorch does).
    pub fn apply(&self, weight: &Tensor, mode: &Mode) -> Result<Tensor> {
        let rows = weight.dim(0)?;
        let matrix = weight.reshape((rows, ()))?;
        if let Mode::Train(_) = mode {
            let w = matrix.detach();
            let normalise = |t: Tensor| -> Result<Tensor> {
                let norm = (t.sqr()?.sum_all()?.sqrt()? + self.eps)?;
                Ok(t.broadcast_div(&norm)?)
            };
            let v = normalise(
                w.t()?
                    .matmul(&self.u.as_tensor().unsqueeze(1)?)?
                    .squeeze(1)?,
            )?;
            let u = normalise(w.matmul(&v.unsqueeze(1)?)?.squeeze(1)?)?;
            self.v.set(&v)?;
            self.u.set(&u)?;
        }
        let u = self.u.as_tensor().detach().unsqueeze(0)?;
        let v = self.v.as_tensor().detach().unsqueeze(1)?;
        let sigma = u.matmul(&matrix.matmul(&v)?)?.squeeze(0)?.squeeze(0)?;
        Ok(weight.broadcast_div(&sigma)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use gan_core::gradient_flow::check_gradient_flow;

    fn input(rng: &mut SeededRng) -> Tensor {
        rng.normal((6, 3, 4, 5), 2.0, 3.0, &Device::Cpu).unwrap()
    }

    #[test]
    fn batch_norm_trains_on_batch_statistics_and_evaluates_on_running_ones() {
        let mut rng = SeededRng::new(0);
        let mut params = ParamStore::new(&Device::Cpu);
        let bn = BatchNorm::new(&mut params, "bn", 3, Init::Const(1.0), &mut rng).unwrap();
        let x = input(&mut rng);
        let mut step_rng = SeededRng::new(1);
        let y = bn.forward(&x, &Mode::Train(&mut step_rng)).unwrap();
        // Each channel of the output has mean 0 and (biased) variance 1.
        let (mean, var) = channel_moments(&y).unwrap();
        for (m, v) in mean
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .zip(var.to_vec1::<f32>().unwrap())
        {
            assert!(m.abs() < 1e-4 && (v - 1.0).abs() < 1e-3, "{m} {v}");
        }
        // Running statistics moved 10% of the way to the batch's (PyTorch's momentum).
        let (batch_mean, batch_var) = channel_moments(&x).unwrap();
        let n = 6.0 * 4.0 * 5.0;
        let rm = params
            .named_buffers()
            .find(|(k, _)| *k == "bn.running_mean")
            .unwrap()
            .1
            .to_vec1::<f32>()
            .unwrap();
        let rv = params
            .named_buffers()
            .find(|(k, _)| *k == "bn.running_var")
            .unwrap()
            .1
            .to_vec1::<f32>()
            .unwrap();
        for c in 0..3 {
            let bm = batch_mean.to_vec1::<f32>().unwrap()[c];
            let bv = batch_var.to_vec1::<f32>().unwrap()[c] * n / (n - 1.0);
            assert!((rm[c] - 0.1 * bm).abs() < 1e-4);
            assert!((rv[c] - (0.9 + 0.1 * bv)).abs() < 1e-3);
        }
        // Evaluation uses them and leaves them be.
        let e = bn.forward(&x, &Mode::Eval).unwrap();
        let first = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap()[0];
        let expected = (first(&x) - rm[0]) / (rv[0] + 1e-5).sqrt();
        assert!(
            (first(&e) - expected).abs() < 1e-4,
            "{} vs {expected}",
            first(&e)
        );
        let after: Vec<f32> = params
            .named_buffers()
            .find(|(k, _)| *k == "bn.running_mean")
            .unwrap()
            .1
            .to_vec1()
            .unwrap();
        assert_eq!(after, rm);
        let loss = y.sqr().unwrap().mul(&x).unwrap().sum_all().unwrap();
        check_gradient_flow(&loss, &params).unwrap();
    }

    #[test]
    fn group_layer_norm_normalises_each_sample_and_passes_gradients() {
        let mut rng = SeededRng::new(2);
        let mut params = ParamStore::new(&Device::Cpu);
        let ln = GroupLayerNorm::new(&mut params, "ln", 3, &mut rng).unwrap();
        let x = input(&mut rng);
        let y = ln.forward(&x).unwrap();
        let flat = y.reshape((6, ())).unwrap();
        let means: Vec<f32> = flat.mean(1).unwrap().to_vec1().unwrap();
        assert!(means.iter().all(|m| m.abs() < 1e-4), "{means:?}");
        let loss = y.sqr().unwrap().mul(&x).unwrap().sum_all().unwrap();
        check_gradient_flow(&loss, &params).unwrap();
    }

    #[test]
    fn spectral_norm_converges_to_the_largest_singular_value() {
        let mut rng = SeededRng::new(3);
        let mut params = ParamStore::new(&Device::Cpu);
        // diag(3, 1) padded: sigma = 3.
        let w = params
            .create("w", (2, 3), Init::Const(0.0), &mut rng)
            .unwrap();
        params
            .get("w")
            .unwrap()
            .set(&Tensor::new(&[[3f32, 0.0, 0.0], [0.0, 1.0, 0.0]], &Device::Cpu).unwrap())
            .unwrap();
        let sn = SpectralNorm::new(&mut params, "w_sn", &w, &mut rng).unwrap();
        let mut step_rng = SeededRng::new(0);
        let mut normalised = w.clone();
        for _ in 0..30 {
            normalised = sn.apply(&w, &Mode::Train(&mut step_rng)).unwrap();
        }
        let values: Vec<Vec<f32>> = normalised.to_vec2().unwrap();
        assert!(
            (values[0][0] - 1.0).abs() < 1e-3 && (values[1][1] - 1.0 / 3.0).abs() < 1e-3,
            "{values:?}"
        );
        // Eval mode does not move u and v; gradients reach the weight.
        let u_before: Vec<f32> = params
            .named_buffers()
            .find(|(k, _)| *k == "w_sn.u")
            .unwrap()
            .1
            .to_vec1()
            .unwrap();
        let loss = sn
            .apply(&w, &Mode::Eval)
            .unwrap()
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap();
        let u_after: Vec<f32> = params
            .named_buffers()
            .find(|(k, _)| *k == "w_sn.u")
            .unwrap()
            .1
            .to_vec1()
            .unwrap();
        assert_eq!(u_before, u_after);
        let probe = Tensor::new(&[[1f32, 2.0, 3.0], [4.0, 5.0, 6.0]], &Device::Cpu).unwrap();
        let loss = (loss
            + sn.apply(&w, &Mode::Eval)
                .unwrap()
                .mul(&probe)
                .unwrap()
                .sum_all()
                .unwrap())
        .unwrap();
        check_gradient_flow(&loss, &params).unwrap();
    }
}
