//! Pointwise activations as CPU ops with their own first-order backward, and fused into the ops
//! that produce their input ([`crate::dense_activation`], batch norm): the activation is applied
//! in place on the producer's output, and its derivative, read from the output's sign (a positive
//! output had a positive input), scales the incoming gradient. Composed from candle ops, leaky
//! ReLU is two sweeps forward and five backward; here it is one each.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::gemm::{cpu_slice, GradientOrder};

/// Elements per parallel chunk: large activations split over the threads, small ones do not.
const CHUNK: usize = 1 << 15;

/// An activation fused into the op that produces its input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    Identity,
    Relu,
    /// `max(x, slope * x)` for `0 < slope < 1`.
    LeakyRelu(f32),
}

impl Activation {
    /// The factor on negative inputs (`None` for the identity).
    pub(crate) fn negative_slope(self) -> Option<f32> {
        match self {
            Activation::Identity => None,
            Activation::Relu => Some(0.0),
            Activation::LeakyRelu(slope) => Some(slope),
        }
    }

    /// `y = act(y)` in place.
    pub(crate) fn apply_in_place(self, y: &mut [f32]) {
        let Some(slope) = self.negative_slope() else {
            return;
        };
        let apply = |chunk: &mut [f32]| {
            chunk
                .iter_mut()
                .for_each(|v| *v = if *v > 0.0 { *v } else { *v * slope });
        };
        // One chunk runs on the calling thread: handing it to the pool costs more than it takes.
        if y.len() <= CHUNK {
            apply(y);
        } else {
            y.par_chunks_mut(CHUNK).for_each(apply);
        }
    }

    /// `g * act'(pre)` in place, from the output `y = act(pre)`.
    pub(crate) fn scale_gradient(self, y: &[f32], g: &mut [f32]) {
        let Some(slope) = self.negative_slope() else {
            return;
        };
        let scale = |(g, y): (&mut [f32], &[f32])| {
            g.iter_mut()
                .zip(y)
                .for_each(|(g, &y)| *g = if y > 0.0 { *g } else { *g * slope });
        };
        if g.len() <= CHUNK {
            scale((g, y));
        } else {
            g.par_chunks_mut(CHUNK)
                .zip(y.par_chunks(CHUNK))
                .for_each(scale);
        }
    }

    /// The activation from candle ops (differentiable to any order).
    pub fn reference(self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Activation::Identity => Ok(x.clone()),
            Activation::Relu => x.relu(),
            Activation::LeakyRelu(slope) => x.maximum(&(x * slope as f64)?),
        }
    }

    /// `grad * act'` from the activation's output `y`, as one op (no backward).
    pub(crate) fn gradient_through(self, y: &Tensor, grad: &Tensor) -> candle_core::Result<Tensor> {
        if self == Activation::Identity {
            return Ok(grad.clone());
        }
        y.contiguous()?
            .apply_op2_no_bwd(&grad.contiguous()?, &ActivationGradient(self))
    }
}

/// `act(x)` as one op.
struct Activate(Activation);

impl CustomOp1 for Activate {
    fn name(&self) -> &'static str {
        "socgan-activation"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let mut y = cpu_slice(s, l, "activation input")?.to_vec();
        self.0.apply_in_place(&mut y);
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, y: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        if !x.track_op() {
            return Ok(None);
        }
        self.0.gradient_through(y, grad).map(Some)
    }
}

/// `grad * act'` from the activation's output (arguments: output, incoming gradient).
struct ActivationGradient(Activation);

impl CustomOp2 for ActivationGradient {
    fn name(&self) -> &'static str {
        "socgan-activation-gradient"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let y = cpu_slice(s1, l1, "activation output")?;
        let mut g = cpu_slice(s2, l2, "activation gradient")?.to_vec();
        if y.len() != g.len() {
            candle_core::bail!(
                "activation gradient: {} outputs, {} gradients",
                y.len(),
                g.len()
            );
        }
        self.0.scale_gradient(y, &mut g);
        Ok((CpuStorage::F32(g), l2.shape().clone()))
    }
}

/// `activation(x)`: one fused CPU op when gradients are taken once, candle's composition for
/// the second order, other devices and dtypes.
pub fn activate(
    x: &Tensor,
    activation: Activation,
    order: GradientOrder,
) -> candle_core::Result<Tensor> {
    if activation == Activation::Identity {
        return Ok(x.clone());
    }
    if order.allows_fused(x, x) && x.elem_count() > 0 {
        return x.contiguous()?.apply_op1(Activate(activation));
    }
    activation.reference(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};
    use gan_core::SeededRng;

    #[test]
    fn fused_activations_match_their_composition_in_value_and_gradient() {
        let d = &Device::Cpu;
        let mut rng = SeededRng::new(3);
        // Larger than one chunk, so the parallel split is exercised.
        let x = Var::from_tensor(&rng.normal((3, 40_000), 0.0, 1.0, d).unwrap()).unwrap();
        for activation in [Activation::Relu, Activation::LeakyRelu(0.2)] {
            let fused = activate(&x, activation, GradientOrder::First).unwrap();
            let plain = activation.reference(&x).unwrap();
            assert_eq!(crate::equivalence::max_abs_diff(&fused, &plain), 0.0);
            let probe = rng.normal((3, 40_000), 0.0, 1.0, d).unwrap();
            let diffs = crate::equivalence::max_gradient_diffs(&fused, &plain, &probe, &[&x]);
            assert!(diffs[0] < 1e-6, "{activation:?}: {diffs:?}");
        }
        // A constant input gets no gradient.
        let constant = rng.normal(5, 0.0, 1.0, d).unwrap();
        let y = activate(&constant, Activation::Relu, GradientOrder::First).unwrap();
        assert!(y
            .sum_all()
            .unwrap()
            .backward()
            .unwrap()
            .get(&constant)
            .is_none());
    }
}
