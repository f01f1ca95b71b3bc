//! Helpers of the kernel equivalence tests (here and in model crates that add kernels of their
//! own): largest differences in values and in gradients between a fused op and its reference.

use candle_core::{Tensor, Var};

/// Largest absolute difference between two tensors (the kernel equivalence tests).
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .and_then(|d| d.abs())
        .and_then(|d| d.flatten_all())
        .and_then(|d| d.max(0))
        .and_then(|d| d.to_scalar::<f32>())
        .expect("same shapes")
}

/// For each of `vars`, the largest difference between its gradients through `fused` and through
/// `plain`, both projected on the same random `probe` (so every output element matters).
pub fn max_gradient_diffs(
    fused: &Tensor,
    plain: &Tensor,
    probe: &Tensor,
    vars: &[&Var],
) -> Vec<f32> {
    let grads = |out: &Tensor| {
        (out * probe)
            .and_then(|t| t.sum_all())
            .and_then(|t| t.backward())
            .expect("differentiable")
    };
    let (gf, gp) = (grads(fused), grads(plain));
    vars.iter()
        .map(|v| max_abs_diff(gf.get(v).expect("used"), gp.get(v).expect("used")))
        .collect()
}

/// Asserts that `fused` equals `plain` to `value_tolerance` and that the gradient of every one
/// of `vars` through them agrees to `gradient_tolerance` (see [`max_gradient_diffs`]).
pub fn assert_same_values_and_gradients(
    fused: &Tensor,
    plain: &Tensor,
    probe: &Tensor,
    vars: &[&Var],
    (value_tolerance, gradient_tolerance): (f32, f32),
) {
    let value = max_abs_diff(fused, plain);
    assert!(value < value_tolerance, "values differ by {value}");
    for (v, diff) in vars
        .iter()
        .zip(max_gradient_diffs(fused, plain, probe, vars))
    {
        assert!(
            diff < gradient_tolerance,
            "gradient of {:?} differs by {diff}",
            v.dims()
        );
    }
}

/// CUDA device 0 for a CPU/CUDA agreement test of `what`; `None`, with a line on stderr saying
/// the test was skipped and why, in a build without CUDA or on a machine without a GPU.
pub fn cuda_or_skip(what: &str) -> Option<candle_core::Device> {
    match candle_core::Device::new_cuda(0) {
        Ok(device) => Some(device),
        Err(e) => {
            let reason = e.to_string();
            let reason = reason.lines().next().unwrap_or("no CUDA device");
            eprintln!(
                "skipped: {what}: CPU/CUDA agreement needs a --features cuda build and a GPU ({reason})"
            );
            None
        }
    }
}
