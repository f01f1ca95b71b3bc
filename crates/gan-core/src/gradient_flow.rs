//! The check every trainable model in the workspace passes: after one backward pass, each of its
//! variables has a non-zero gradient. It catches candle ops built without a backward (its
//! LayerNorm, RmsNorm, `softmax_last_dim`, sdpa), which cut gradients silently.

use candle_core::Tensor;

use crate::{Error, ParamStore, Result};

/// Runs `loss.backward()` and fails naming every variable of `params` whose gradient is missing,
/// all zero or not finite.
pub fn check_gradient_flow(loss: &Tensor, params: &ParamStore) -> Result<()> {
    let grads = loss.backward()?;
    let mut dead = Vec::new();
    for (name, var) in params.named_vars() {
        let ok = match grads.get(var) {
            None => false,
            Some(g) => {
                let abs_sum = g.abs()?.sum_all()?.to_scalar::<f32>()?;
                abs_sum.is_finite() && abs_sum > 0.0
            }
        };
        if !ok {
            dead.push(name.to_string());
        }
    }
    if dead.is_empty() {
        Ok(())
    } else {
        Err(Error::GradientFlow(format!(
            "no gradient reaches: {}",
            dead.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Init, SeededRng};
    use candle_core::Device;

    #[test]
    fn names_the_variable_cut_off_by_a_no_backward_op() {
        let mut rng = SeededRng::new(0);
        let mut params = ParamStore::new(&Device::Cpu);
        let a = params
            .create(
                "a",
                (2, 3),
                Init::Normal {
                    mean: 0.0,
                    std: 1.0,
                },
                &mut rng,
            )
            .unwrap();
        let b = params
            .create(
                "b",
                (2, 3),
                Init::Normal {
                    mean: 0.0,
                    std: 1.0,
                },
                &mut rng,
            )
            .unwrap();
        // softmax_last_dim has no backward: `b` gets nothing, and the check must say so.
        let loss = (a.sqr().unwrap().sum_all().unwrap()
            + candle_nn::ops::softmax_last_dim(&b)
                .unwrap()
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap())
        .unwrap();
        let err = check_gradient_flow(&loss, &params).unwrap_err().to_string();
        assert!(err.contains("b") && !err.contains("a,"), "{err}");
        let fine =
            (a.sqr().unwrap().sum_all().unwrap() + b.sqr().unwrap().sum_all().unwrap()).unwrap();
        check_gradient_flow(&fine, &params).unwrap();
    }
}
