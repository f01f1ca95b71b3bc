//! Adam's element-wise update as three in-place passes over CPU `f32` storage (first moment,
//! second moment, parameter), instead of some fifteen candle ops that each allocate a tensor.
//!
//! Every element goes through exactly the `f32` operations, in the same order, as the candle
//! composition in [`super::Adam::step`]'s generic path (candle's `t * s` is `affine(s, 0)`, i.e.
//! `t * s + 0`, and `t / s` is `affine(1 / s, 0)` with `1 / s` taken in `f64`), so a run's losses
//! do not change when this path is taken (tested against the generic path bit for bit).

use candle_core::{CpuStorage, InplaceOp2, InplaceOp3, Layout, Result, Tensor};
use rayon::prelude::*;

/// Elements per parallel chunk: below this a pass runs on one thread.
const CHUNK: usize = 1 << 15;

/// candle's `affine` on one `f32`.
#[inline(always)]
fn affine(x: f32, mul: f32, add: f32) -> f32 {
    x * mul + add
}

/// The scalars of one update, each rounded to `f32` as candle rounds them.
#[derive(Clone, Copy, Debug)]
pub(super) struct Coefficients {
    /// `Some(scale)` when the gradients are rescaled by clipping.
    pub clip: Option<f32>,
    pub beta1: f32,
    pub one_minus_beta1: f32,
    pub beta2: f32,
    pub one_minus_beta2: f32,
    pub inv_bias1: f32,
    pub inv_bias2: f32,
    pub eps: f32,
    /// `Some(1 - lr * weight_decay)` for AdamW.
    pub decay: Option<f32>,
    pub lr: f32,
}

impl Coefficients {
    #[inline(always)]
    fn grad(&self, g: f32) -> f32 {
        match self.clip {
            Some(scale) => affine(g, scale, 0.0),
            None => g,
        }
    }
}

fn contiguous_f32<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
    match (storage, layout.contiguous_offsets()) {
        (CpuStorage::F32(values), Some((start, end))) => Ok(&values[start..end]),
        _ => candle_core::bail!("fused Adam needs contiguous f32 tensors"),
    }
}

fn contiguous_f32_mut<'a>(storage: &'a mut CpuStorage, layout: &Layout) -> Result<&'a mut [f32]> {
    match (storage, layout.contiguous_offsets()) {
        (CpuStorage::F32(values), Some((start, end))) => Ok(&mut values[start..end]),
        _ => candle_core::bail!("fused Adam needs contiguous f32 tensors"),
    }
}

/// `dst[i] = f(dst[i], a[i], b[i])`, in parallel chunks (element-wise, so the split does not
/// change any result).
fn zip_apply(dst: &mut [f32], a: &[f32], b: &[f32], f: impl Fn(f32, f32, f32) -> f32 + Sync) {
    let apply = |((d, a), b): ((&mut [f32], &[f32]), &[f32])| {
        for ((d, &a), &b) in d.iter_mut().zip(a).zip(b) {
            *d = f(*d, a, b);
        }
    };
    // One chunk runs on the calling thread: handing it to the pool costs more than it takes.
    if dst.len() <= CHUNK {
        apply(((dst, a), b));
    } else {
        dst.par_chunks_mut(CHUNK)
            .zip(a.par_chunks(CHUNK))
            .zip(b.par_chunks(CHUNK))
            .for_each(apply);
    }
}

/// `m = m * beta1 + g * (1 - beta1)`.
pub(super) struct FirstMoment(pub Coefficients);

impl InplaceOp2 for FirstMoment {
    fn name(&self) -> &'static str {
        "adam-first-moment"
    }

    fn cpu_fwd(
        &self,
        m: &mut CpuStorage,
        m_l: &Layout,
        g: &CpuStorage,
        g_l: &Layout,
    ) -> Result<()> {
        let c = self.0;
        let g = contiguous_f32(g, g_l)?;
        let m = contiguous_f32_mut(m, m_l)?;
        zip_apply(m, g, g, |m, g, _| {
            affine(m, c.beta1, 0.0) + affine(c.grad(g), c.one_minus_beta1, 0.0)
        });
        Ok(())
    }
}

/// `v = v * beta2 + g^2 * (1 - beta2)`.
pub(super) struct SecondMoment(pub Coefficients);

impl InplaceOp2 for SecondMoment {
    fn name(&self) -> &'static str {
        "adam-second-moment"
    }

    fn cpu_fwd(
        &self,
        v: &mut CpuStorage,
        v_l: &Layout,
        g: &CpuStorage,
        g_l: &Layout,
    ) -> Result<()> {
        let c = self.0;
        let g = contiguous_f32(g, g_l)?;
        let v = contiguous_f32_mut(v, v_l)?;
        zip_apply(v, g, g, |v, g, _| {
            let g = c.grad(g);
            affine(v, c.beta2, 0.0) + affine(g * g, c.one_minus_beta2, 0.0)
        });
        Ok(())
    }
}

/// `p = p - lr * (m / bias1) / (sqrt(v / bias2) + eps)` (after AdamW's decay of `p`).
pub(super) struct ParameterUpdate(pub Coefficients);

impl InplaceOp3 for ParameterUpdate {
    fn name(&self) -> &'static str {
        "adam-parameter-update"
    }

    fn cpu_fwd(
        &self,
        p: &mut CpuStorage,
        p_l: &Layout,
        m: &CpuStorage,
        m_l: &Layout,
        v: &CpuStorage,
        v_l: &Layout,
    ) -> Result<()> {
        let c = self.0;
        let m = contiguous_f32(m, m_l)?;
        let v = contiguous_f32(v, v_l)?;
        let p = contiguous_f32_mut(p, p_l)?;
        zip_apply(p, m, v, |p, m, v| {
            let update = affine(m, c.inv_bias1, 0.0)
                / affine(affine(v, c.inv_bias2, 0.0).sqrt(), 1.0, c.eps);
            let value = match c.decay {
                Some(decay) => affine(p, decay, 0.0),
                None => p,
            };
            value - affine(update, c.lr, 0.0)
        });
        Ok(())
    }
}

/// Whether the fused passes apply: CPU `f32` tensors, each contiguous.
pub(super) fn applies(tensors: &[&Tensor]) -> bool {
    tensors
        .iter()
        .all(|t| t.device().is_cpu() && t.dtype() == candle_core::DType::F32 && t.is_contiguous())
}
