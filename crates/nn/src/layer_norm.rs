//! Layer normalisation whose gradients reach its input, weight and bias.
//!
//! candle-nn's `LayerNorm` (on a contiguous input with a bias) and `ops::layer_norm` are built
//! with `apply_op*_no_bwd`: every parameter below them silently gets no gradient (candle issues
//! #2168, #2977). This one is the mean/variance composition of candle ops, which all have a
//! backward. [`crate::reference::layer_norm`] (candle's fused op) is its forward twin in the
//! equivalence test.

use candle_core::{Module, Tensor, D};
use candle_nn::VarBuilder;

use crate::gemm::GradientOrder;
use crate::Result;

/// `(x - mean) / sqrt(var + eps) * weight + bias` over the last dimension (biased variance, as
/// PyTorch and candle compute it).
#[derive(Clone, Debug)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Option<Tensor>,
    eps: f64,
    order: GradientOrder,
}

impl LayerNorm {
    /// Weight (ones) and bias (zeros) of width `dim` created through `vb` as `weight` / `bias`,
    /// the names BERT and PyTorch checkpoints use.
    pub fn new(dim: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        let weight = vb.get_with_hints(dim, "weight", candle_nn::Init::Const(1.0))?;
        let bias = vb.get_with_hints(dim, "bias", candle_nn::Init::Const(0.0))?;
        Ok(Self::from_tensors(weight, Some(bias), eps))
    }

    pub fn from_tensors(weight: Tensor, bias: Option<Tensor>, eps: f64) -> Self {
        Self {
            weight,
            bias,
            eps,
            order: GradientOrder::First,
        }
    }

    /// The same layer differentiable to `order` (first by default, which lets the fused CPU
    /// kernel run).
    pub fn with_gradient_order(mut self, order: GradientOrder) -> Self {
        self.order = order;
        self
    }

    /// The same layer on detached weights: a forward pass that records no graph (evaluation).
    pub fn detached(&self) -> Self {
        Self::from_tensors(
            self.weight.detach(),
            self.bias.as_ref().map(Tensor::detach),
            self.eps,
        )
        .with_gradient_order(self.order)
    }
}

impl LayerNorm {
    /// The composition of candle ops (differentiable to any order).
    fn composed(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let mean = xs.mean_keepdim(D::Minus1)?;
        let centred = xs.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = centred.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        let scaled = normed.broadcast_mul(&self.weight)?;
        match &self.bias {
            Some(b) => scaled.broadcast_add(b),
            None => Ok(scaled),
        }
    }
}

impl Module for LayerNorm {
    /// On the CPU in `f32`, with a bias and first-order gradients (the usual case), one fused op
    /// ([`crate::layer_norm_kernel`]); otherwise (or with [`GradientOrder::Second`]) the
    /// composition of candle ops.
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let Some(bias) = &self.bias else {
            return self.composed(xs);
        };
        if !self.order.allows_fused(xs, &self.weight) {
            return self.composed(xs);
        }
        xs.contiguous()?.apply_op3(
            &self.weight.contiguous()?,
            &bias.contiguous()?,
            crate::layer_norm_kernel::FusedLayerNorm {
                eps: self.eps as f32,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::equivalence::max_abs_diff;
    use candle_core::{Device, Var};
    use gan_core::gradient_flow::check_gradient_flow;
    use gan_core::{ParamStore, SeededRng};

    fn setup() -> (ParamStore, LayerNorm, Tensor) {
        let mut store = ParamStore::new(&Device::Cpu);
        let mut rng = SeededRng::new(2);
        let ln = LayerNorm::new(6, 1e-5, store.var_builder(&mut rng).pp("ln")).unwrap();
        // Non-trivial weight and bias, so the test sees them act.
        for (name, var) in store.named_vars() {
            let shift = if name.ends_with("bias") { 0.3 } else { 1.5 };
            var.set(&(rng.normal(6, 0.0, 0.2, &Device::Cpu).unwrap() + shift).unwrap())
                .unwrap();
        }
        let x = rng.normal((4, 3, 6), 1.0, 2.0, &Device::Cpu).unwrap();
        (store, ln, x)
    }

    #[test]
    fn fused_op_equals_the_composition_in_values_and_gradients() {
        let (store, ln, x) = setup();
        let x = Var::from_tensor(&x).unwrap();
        let probe = SeededRng::new(9)
            .normal((4, 3, 6), 0.0, 1.0, &Device::Cpu)
            .unwrap();
        let fused = ln.forward(x.as_tensor()).unwrap();
        let composed = ln.composed(x.as_tensor()).unwrap();
        assert!(max_abs_diff(&fused, &composed) < 1e-5);
        let mut vars: Vec<Var> = store.vars();
        vars.push(x.clone());
        let g_fused = (fused * &probe)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let g_composed = (composed * &probe)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for var in &vars {
            let a = g_fused.get(var).unwrap();
            let b = g_composed.get(var).unwrap();
            assert!(max_abs_diff(a, b) < 1e-4, "{:?}", var.dims());
        }
    }

    #[test]
    fn forward_equals_candles_fused_op() {
        let (store, ln, x) = setup();
        let w = store.get("ln.weight").unwrap().as_tensor();
        let b = store.get("ln.bias").unwrap().as_tensor();
        let fused = crate::reference::layer_norm(&x, w, b, 1e-5).unwrap();
        let d = max_abs_diff(&ln.forward(&x).unwrap(), &fused);
        assert!(d < 1e-5, "{d}");
    }

    #[test]
    fn gradients_reach_weight_bias_and_input_and_match_finite_differences() {
        let (store, ln, x) = setup();
        let x = Var::from_tensor(&x).unwrap();
        let probe = SeededRng::new(5)
            .normal((4, 3, 6), 0.0, 1.0, &Device::Cpu)
            .unwrap();
        let objective = |x: &Tensor| {
            (ln.forward(x).unwrap() * &probe)
                .unwrap()
                .sum_all()
                .unwrap()
        };
        check_gradient_flow(&objective(x.as_tensor()), &store).unwrap();
        // candle's own op gives the parameters nothing: the reason this layer exists.
        let w = store.get("ln.weight").unwrap().as_tensor();
        let b = store.get("ln.bias").unwrap().as_tensor();
        let fused = crate::reference::layer_norm(x.as_tensor(), w, b, 1e-5).unwrap();
        let cut = (fused * &probe).unwrap().sum_all().unwrap();
        let err = check_gradient_flow(&cut, &store).unwrap_err();
        assert!(
            matches!(&err, gan_core::Error::GradientFlow(m) if m.contains("ln.weight") && m.contains("ln.bias")),
            "{err}"
        );
        // The input gradient against central differences of the objective.
        let grads = objective(x.as_tensor()).backward().unwrap();
        let analytic: Vec<f32> = grads
            .get(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let base: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
        for i in [0usize, 7, 40, 71] {
            let shifted = |delta: f32| {
                let mut v = base.clone();
                v[i] += delta;
                let t = Tensor::from_vec(v, (4, 3, 6), &Device::Cpu).unwrap();
                objective(&t).to_scalar::<f32>().unwrap()
            };
            let numeric = (shifted(1e-2) - shifted(-1e-2)) / 2e-2;
            assert!(
                (numeric - analytic[i]).abs() < 2e-2,
                "x[{i}]: {numeric} vs {}",
                analytic[i]
            );
        }
    }
}
