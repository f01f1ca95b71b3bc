//! A highway layer (Srivastava et al. 2015) as one op with its own backward:
//! `z = x W + b`, `g = sigmoid(z)`, `y = g * relu(z) + (1 - g) * x`, for `x` `[rows, d]` and a
//! square `W` `[d, d]` (input-major, as the text discriminators store it).
//!
//! Composed from candle ops the layer is ten graph nodes over `[rows, d]` tensors; RelGAN's
//! discriminator runs it on 64 x 64 rows of 1,200 features, where those nodes' memory sweeps (and
//! the zeroed gradient buffers candle adds into) cost as much as the product itself. Here the
//! forward is one `gemm` per row block followed by one element-wise pass while the block is in
//! cache, keeping `z` for the backward; the backward is one element-wise pass giving `dz` and
//! the direct part of `dx`, then `dx += dz W^T` per row block and `dW = x^T dz` per column block
//! (no partial sums, so the result does not depend on the thread count). Gradients are computed
//! only for operands the graph tracks (a frozen discriminator's weights need none). First order
//! only: [`highway`] runs [`reference_highway`] for [`GradientOrder::Second`], off the CPU and
//! for other dtypes.

use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::fast_math::exp_one;
use crate::gemm::{cpu_slice, sgemm, GradientOrder};

/// Rows per forward / input-gradient block.
const BLOCK_ROWS: usize = 128;
/// Columns per weight-gradient block.
const BLOCK_COLS: usize = 128;

struct Highway {
    /// The pre-activation `z` of the forward pass, read by the backward.
    pre_activation: Mutex<Vec<f32>>,
}

#[inline(always)]
fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + exp_one(-z))
}

/// `z` holds `x W + b` on entry; `y = g relu(z) + (1 - g) x`.
#[inline(always)]
fn combine_generic(z: &[f32], x: &[f32], y: &mut [f32]) {
    for ((y, &z), &x) in y.iter_mut().zip(z).zip(x) {
        let g = sigmoid(z);
        *y = g * z.max(0.0) + (1.0 - g) * x;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn combine_avx2(z: &[f32], x: &[f32], y: &mut [f32]) {
    combine_generic(z, x, y)
}

fn combine(z: &[f32], x: &[f32], y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports the features the function was compiled for.
        return unsafe { combine_avx2(z, x, y) };
    }
    combine_generic(z, x, y)
}

/// From the output gradient `dy` (overwritten with `dz`), `z` and `x`: `dz = dy (g (1 - g)
/// (relu(z) - x) + g [z > 0])` and the direct input gradient `dx = dy (1 - g)`.
#[inline(always)]
fn split_gradient_generic(dy_dz: &mut [f32], z: &[f32], x: &[f32], dx: &mut [f32]) {
    for (((d, &z), &x), dx) in dy_dz.iter_mut().zip(z).zip(x).zip(dx.iter_mut()) {
        let g = sigmoid(z);
        let dy = *d;
        let relu = z.max(0.0);
        let step = if z > 0.0 { 1.0 } else { 0.0 };
        *dx = dy * (1.0 - g);
        *d = dy * (g * (1.0 - g) * (relu - x) + g * step);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn split_gradient_avx2(dy_dz: &mut [f32], z: &[f32], x: &[f32], dx: &mut [f32]) {
    split_gradient_generic(dy_dz, z, x, dx)
}

fn split_gradient(dy_dz: &mut [f32], z: &[f32], x: &[f32], dx: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports the features the function was compiled for.
        return unsafe { split_gradient_avx2(dy_dz, z, x, dx) };
    }
    split_gradient_generic(dy_dz, z, x, dx)
}

impl CustomOp3 for Highway {
    fn name(&self) -> &'static str {
        "highway"
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
        let x = cpu_slice(s1, l1, "highway input")?;
        let w = cpu_slice(s2, l2, "highway weight")?;
        let b = cpu_slice(s3, l3, "highway bias")?;
        let (rows, d) = l1.shape().dims2()?;
        if l2.shape().dims() != [d, d] || b.len() != d {
            return Err(candle_core::Error::Msg(format!(
                "highway: input [{rows}, {d}], weight {:?}, bias {}",
                l2.shape().dims(),
                b.len()
            )));
        }
        let mut z = vec![0f32; rows * d];
        let mut y = vec![0f32; rows * d];
        z.par_chunks_mut(BLOCK_ROWS * d)
            .zip(y.par_chunks_mut(BLOCK_ROWS * d))
            .zip(x.par_chunks(BLOCK_ROWS * d))
            .for_each(|((z, y), x)| {
                for row in z.chunks_exact_mut(d) {
                    row.copy_from_slice(b);
                }
                let m = x.len() / d;
                sgemm(m, d, d, z, d, true, x, d, 1, w, d, 1);
                combine(z, x, y);
            });
        *self.pre_activation.lock().expect("highway lock") = z;
        Ok((CpuStorage::F32(y), Shape::from((rows, d))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (need_dx, need_dw, need_db) = (x.track_op(), w.track_op(), b.track_op());
        if !(need_dx || need_dw || need_db) {
            return Ok((None, None, None));
        }
        let (rows, d) = x.dims2()?;
        let x_host = crate::gemm::host_values(x)?;
        let w_host = crate::gemm::host_values(w)?;
        let mut dz = crate::gemm::host_values(grad)?;
        let z = self.pre_activation.lock().expect("highway lock");
        if z.len() != rows * d {
            return Err(candle_core::Error::Msg(
                "highway: backward without its forward pass".into(),
            ));
        }
        // dz and the direct part of dx, then dx += dz W^T (W^T[o, i] = w[i * d + o]).
        let mut dx = vec![0f32; rows * d];
        dz.par_chunks_mut(BLOCK_ROWS * d)
            .zip(dx.par_chunks_mut(BLOCK_ROWS * d))
            .zip(
                z.par_chunks(BLOCK_ROWS * d)
                    .zip(x_host.par_chunks(BLOCK_ROWS * d)),
            )
            .for_each(|((dz, dx), (z, x))| {
                // dx's direct part is written whether or not it is wanted: the pass that makes
                // dz makes it at no extra cost.
                split_gradient(dz, z, x, dx);
                if need_dx {
                    let m = x.len() / d;
                    sgemm(m, d, d, dx, d, true, dz, d, 1, &w_host, 1, d);
                }
            });
        let device = x.device();
        let dw = need_dw
            .then(|| weight_gradient(&x_host, &dz, rows, d))
            .map(|v| Tensor::from_vec(v, (d, d), device))
            .transpose()?;
        let db = need_db
            .then(|| {
                let mut db = vec![0f32; d];
                for row in dz.chunks_exact(d) {
                    db.iter_mut().zip(row).for_each(|(acc, v)| *acc += v);
                }
                Tensor::from_vec(db, d, device)
            })
            .transpose()?;
        let dx = need_dx
            .then(|| Tensor::from_vec(dx, (rows, d), device))
            .transpose()?;
        Ok((dx, dw, db))
    }
}

/// `dW = x^T dz` `[d, d]`, one block of output columns per task (each a full-depth product).
fn weight_gradient(x: &[f32], dz: &[f32], rows: usize, d: usize) -> Vec<f32> {
    let blocks = d.div_ceil(BLOCK_COLS);
    let columns: Vec<Vec<f32>> = (0..blocks)
        .into_par_iter()
        .map(|block| {
            let first = block * BLOCK_COLS;
            let n = BLOCK_COLS.min(d - first);
            let mut part = vec![0f32; d * n];
            // part[i, j] = sum_r x[r, i] dz[r, first + j].
            sgemm(d, n, rows, &mut part, n, false, x, 1, d, &dz[first..], d, 1);
            part
        })
        .collect();
    let mut dw = vec![0f32; d * d];
    for (block, part) in columns.iter().enumerate() {
        let first = block * BLOCK_COLS;
        let n = part.len() / d;
        for (row, src) in dw.chunks_exact_mut(d).zip(part.chunks_exact(n)) {
            row[first..first + n].copy_from_slice(src);
        }
    }
    dw
}

/// `g relu(z) + (1 - g) x` with `z = x W + b`, `g = sigmoid(z)`; `x` `[rows, d]`, `weight`
/// `[d, d]` (input-major), `bias` `[d]`. Differentiable with respect to all three, to the `order`
/// asked for.
pub fn highway(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    order: GradientOrder,
) -> crate::Result<Tensor> {
    if order.allows_fused(x, weight) && bias.dtype() == x.dtype() && x.elem_count() > 0 {
        let op = Highway {
            pre_activation: Mutex::new(Vec::new()),
        };
        return Ok(x
            .contiguous()?
            .apply_op3(&weight.contiguous()?, &bias.contiguous()?, op)?);
    }
    reference_highway(x, weight, bias)
}

/// The same layer from candle ops (differentiable to any order).
pub fn reference_highway(x: &Tensor, weight: &Tensor, bias: &Tensor) -> crate::Result<Tensor> {
    let z = x.matmul(weight)?.broadcast_add(bias)?;
    let g = candle_nn::ops::sigmoid(&z)?;
    Ok(((&g * z.relu()?)? + ((1.0 - &g)? * x)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};
    use gan_core::SeededRng;

    #[test]
    fn fused_highway_matches_reference_values_and_gradients() {
        // Below, at and across the row and column block sizes.
        for (rows, d) in [(3, 5), (128, 16), (300, 140)] {
            let mut rng = SeededRng::new((rows + d) as u64);
            let dev = &Device::Cpu;
            let x = Var::from_tensor(&rng.normal((rows, d), 0.0, 1.0, dev).unwrap()).unwrap();
            let w = Var::from_tensor(&rng.normal((d, d), 0.0, 0.4, dev).unwrap()).unwrap();
            let b = Var::from_tensor(&rng.normal(d, 0.0, 0.4, dev).unwrap()).unwrap();
            let fused = highway(&x, &w, &b, GradientOrder::First).unwrap();
            let plain = reference_highway(&x, &w, &b).unwrap();
            let probe = rng.normal((rows, d), 0.0, 1.0, dev).unwrap();
            crate::equivalence::assert_same_values_and_gradients(
                &fused,
                &plain,
                &probe,
                &[&x, &w, &b],
                (1e-5, 1e-3),
            );
        }
    }

    /// Blocks are fixed and nothing is summed across them, so one thread and three give the
    /// same bits; a frozen layer passes its gradient to the input only.
    #[test]
    fn results_do_not_depend_on_threads_and_frozen_weights_get_none() {
        let dev = &Device::Cpu;
        let mut rng = SeededRng::new(8);
        let x = Var::from_tensor(&rng.normal((400, 130), 0.0, 1.0, dev).unwrap()).unwrap();
        let w = Var::from_tensor(&rng.normal((130, 130), 0.0, 0.3, dev).unwrap()).unwrap();
        let b = Var::from_tensor(&rng.normal(130, 0.0, 0.3, dev).unwrap()).unwrap();
        let values = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let run = |threads: usize, w: &Tensor, b: &Tensor| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let y = highway(&x, w, b, GradientOrder::First).unwrap();
                let grads = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
                let grad = |t: &Tensor| grads.get(t).map(values);
                (values(&y), grad(&x), grad(w), grad(b))
            })
        };
        let one = run(1, &w, &b);
        assert_eq!(one, run(3, &w, &b));
        assert!(one.2.is_some() && one.3.is_some());
        let frozen = run(2, &w.detach(), &b.detach());
        assert_eq!(frozen.1, one.1);
        assert!(frozen.2.is_none() && frozen.3.is_none());
    }
}
