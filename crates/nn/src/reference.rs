//! Plain candle compositions of the fused kernels and candle's own ops the building blocks
//! replace, kept for the equivalence tests and used on devices the kernels do not cover.

use candle_core::{Tensor, D};

use crate::Result;

fn target_log_probs(
    hidden: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    targets: &[u32],
) -> Result<Tensor> {
    let logits = hidden.matmul(weight)?.broadcast_add(bias)?;
    let log_probs = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
    let index = Tensor::from_slice(targets, (targets.len(), 1), hidden.device())?;
    Ok(log_probs.gather(&index, 1)?.squeeze(1)?)
}

/// `sum_i row_weights[i] * CE(hidden_i @ weight + bias, targets[i])`.
pub fn linear_cross_entropy(
    hidden: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    targets: &[u32],
    row_weights: &[f32],
) -> Result<Tensor> {
    let lp = target_log_probs(hidden, weight, bias, targets)?;
    let w = Tensor::from_slice(row_weights, row_weights.len(), hidden.device())?;
    Ok((lp * w)?.sum_all()?.neg()?)
}

/// Per-row cross-entropy, no gradient.
pub fn row_nll(
    hidden: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    targets: &[u32],
) -> Result<Vec<f32>> {
    Ok(
        target_log_probs(&hidden.detach(), &weight.detach(), &bias.detach(), targets)?
            .neg()?
            .to_vec1()?,
    )
}

/// candle's fused layer norm (no backward): the forward twin of [`crate::LayerNorm`].
pub fn layer_norm(xs: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    Ok(candle_nn::ops::layer_norm(xs, weight, bias, eps as f32)?)
}

/// candle's `conv2d` (no bias, dilation 1): the twin of [`crate::conv2d`].
pub fn conv2d(x: &Tensor, w: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
    Ok(x.conv2d(w, padding, stride, 1, 1)?)
}

/// candle's `conv_transpose2d` (no bias, no output padding, dilation 1): the twin of
/// [`crate::conv_transpose2d`].
pub fn conv_transpose2d(x: &Tensor, w: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
    Ok(x.conv_transpose2d(w, padding, 0, stride, 1)?)
}
