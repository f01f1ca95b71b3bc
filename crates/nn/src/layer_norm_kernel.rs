//! Layer normalisation as one CPU op with its own (first-order) backward.
//!
//! The composition of candle ops in [`crate::LayerNorm`] makes nine tensors forward and twice as
//! many backward, two of them sums over every row into the `[dim]` weight and bias gradients,
//! which candle folds with strided loops; in SASRec's training step the layer norms were a fifth
//! of the time. Here the forward is one pass per row and the backward one pass per row plus
//! per-chunk partial sums of the parameter gradients, added in chunk order, so results do not
//! depend on the thread count. The backward's outputs are constants: a loss that differentiates
//! a gradient (WGAN-GP) must use the composition, which [`crate::LayerNorm`] does when
//! second-order gradients are on.

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::gemm::cpu_slice;

/// Rows per parallel chunk (a fixed size, so that the order of partial sums is fixed).
const CHUNK_ROWS: usize = 64;

pub(crate) struct FusedLayerNorm {
    pub eps: f32,
}

/// Layer norm of every `gamma.len()`-wide row of `rows`, in place, on host values: each row to
/// zero mean and unit biased variance, then scaled by `gamma` and shifted by `beta`.
pub fn layer_norm_rows_in_place(rows: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    for row in rows.chunks_exact_mut(gamma.len()) {
        let (mean, rstd) = moments(row, eps);
        for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
            *v = (*v - mean) * rstd * g + b;
        }
    }
}

/// Mean and `1 / sqrt(var + eps)` of one row (biased variance, in `f64` for the sums).
fn moments(row: &[f32], eps: f32) -> (f32, f32) {
    let n = row.len() as f64;
    let mean = lane_sum(row, |v| v) / n;
    let var = lane_sum(row, |v| (v - mean) * (v - mean)) / n;
    (mean as f32, (1.0 / (var + eps as f64).sqrt()) as f32)
}

/// `sum f(v)` over `row` in `f64`, in four interleaved partial sums (one vector register) rather
/// than one serial chain, which the compiler cannot vectorise.
fn lane_sum(row: &[f32], f: impl Fn(f64) -> f64) -> f64 {
    let mut lanes = [0f64; 4];
    let chunks = row.chunks_exact(4);
    let tail: f64 = chunks.remainder().iter().map(|&v| f(v as f64)).sum();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += f(v as f64);
        }
    }
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]) + tail
}

impl CustomOp3 for FusedLayerNorm {
    fn name(&self) -> &'static str {
        "fused-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = cpu_slice(s1, l1, "layer-norm input")?;
        let w = cpu_slice(s2, l2, "layer-norm weight")?;
        let b = cpu_slice(s3, l3, "layer-norm bias")?;
        let dim = w.len();
        if l1.dims().last() != Some(&dim) || b.len() != dim {
            return Err(candle_core::Error::Msg(format!(
                "layer norm over {dim} features: input {:?}, bias {}",
                l1.dims(),
                b.len()
            )));
        }
        let mut y = x.to_vec();
        y.par_chunks_mut(dim * CHUNK_ROWS)
            .for_each(|ys| layer_norm_rows_in_place(ys, w, b, self.eps));
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dim = weight.elem_count();
        let xs = x.flatten_all()?.to_vec1::<f32>()?;
        let w = weight.to_vec1::<f32>()?;
        let dy = grad.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let mut dx = vec![0f32; xs.len()];
        let partials: Vec<(Vec<f32>, Vec<f32>)> = dx
            .par_chunks_mut(dim * CHUNK_ROWS)
            .zip(xs.par_chunks(dim * CHUNK_ROWS))
            .zip(dy.par_chunks(dim * CHUNK_ROWS))
            .map(|((dxs, xs), dys)| backward_chunk(dxs, xs, dys, &w, self.eps))
            .collect();
        let (mut dw, mut db) = (vec![0f32; dim], vec![0f32; dim]);
        for (pw, pb) in partials {
            for j in 0..dim {
                dw[j] += pw[j];
                db[j] += pb[j];
            }
        }
        let device = x.device();
        Ok((
            Some(Tensor::from_vec(dx, x.shape(), device)?),
            Some(Tensor::from_vec(dw, weight.shape(), device)?),
            Some(Tensor::from_vec(db, weight.shape(), device)?),
        ))
    }
}

/// `dx` of the rows of one chunk, and the chunk's sums of `dy * xhat` (weight) and `dy` (bias):
/// `dx = rstd * (g - mean(g) - xhat * mean(g * xhat))` with `g = dy * w`.
fn backward_chunk(
    dxs: &mut [f32],
    xs: &[f32],
    dys: &[f32],
    w: &[f32],
    eps: f32,
) -> (Vec<f32>, Vec<f32>) {
    let dim = w.len();
    let (mut dw, mut db) = (vec![0f32; dim], vec![0f32; dim]);
    let mut xhat = vec![0f32; dim];
    for ((dxr, xr), dyr) in dxs.chunks_mut(dim).zip(xs.chunks(dim)).zip(dys.chunks(dim)) {
        let (mean, rstd) = moments(xr, eps);
        let (mut g_mean, mut gx_mean) = (0f32, 0f32);
        for j in 0..dim {
            xhat[j] = (xr[j] - mean) * rstd;
            let g = dyr[j] * w[j];
            g_mean += g;
            gx_mean += g * xhat[j];
            dw[j] += dyr[j] * xhat[j];
            db[j] += dyr[j];
        }
        g_mean /= dim as f32;
        gx_mean /= dim as f32;
        for j in 0..dim {
            dxr[j] = rstd * (dyr[j] * w[j] - g_mean - xhat[j] * gx_mean);
        }
    }
    (dw, db)
}
