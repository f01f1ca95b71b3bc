//! Fused 1-D convolution + ReLU + max-over-time pooling, the feature extractor of SeqGAN's and
//! RelGAN's discriminators.
//!
//! Composed from candle ops, each filter width materialises its windows and feature maps:
//! RelGAN's 64 representations x 300 filters x ~18 positions are ~88 MB per width and batch,
//! swept by several ops forward and backward. Here each window `x[s, t..t+f, :]` is already a
//! contiguous slice of the row-major `[S, T, E]` input, so a tile of sequences is one strided
//! `gemm` (no copies), pooled while in cache; the forward keeps only the winning position of
//! every (sequence, filter), and the backward sends gradients through those positions alone.
//! Work is split over filters for `dW` and over sequences for `dx`, so sums do not depend on the
//! number of threads.

use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::{Error, Result};
use socgan_nn::gemm::{cpu_slice, host_values, sgemm};
use socgan_nn::GradientOrder;

/// Sequences per forward tile.
const SEQ_TILE: usize = 32;
/// Marks a (sequence, filter) whose pooled value was clipped by the ReLU: no gradient.
const INACTIVE: u32 = u32::MAX;

struct ConvMaxPool {
    width: usize,
    /// Winning window start per (sequence, filter), or `INACTIVE`.
    argmax: Mutex<Vec<u32>>,
}

/// Widest window (`width * emb`) computed by [`pool_narrow`] instead of `gemm`.
const NARROW_TAPS: usize = 8;

/// One sequence's pooled maxima (before bias) and their positions for a window of at most
/// [`NARROW_TAPS`] values (RelGAN's one-dimensional representations: 2-5 taps): a product with
/// so few terms leaves `gemm` packing and writing feature maps for nothing, so each position's
/// `n` filter values are summed tap by tap into one cached row and compared as they are made.
#[inline(always)]
fn pool_narrow_generic(
    x: &[f32],
    w: &[f32],
    emb: usize,
    windows: usize,
    row: &mut [f32],
    best: &mut [f32],
    at: &mut [u32],
) {
    let n = best.len();
    let k = w.len() / n;
    for t in 0..windows {
        let window = &x[t * emb..t * emb + k];
        row.fill(0.0);
        for (&xv, taps) in window.iter().zip(w.chunks_exact(n)) {
            for (acc, &wv) in row.iter_mut().zip(taps) {
                *acc += xv * wv;
            }
        }
        if t == 0 {
            best.copy_from_slice(row);
            at.fill(0);
            continue;
        }
        keep_max(best, at, row, t as u32);
    }
}

/// `best = max(best, row)` elementwise, `at = t` where `row` wins (the first maximum is kept);
/// branch-free, so it vectorises.
#[inline(always)]
fn keep_max(best: &mut [f32], at: &mut [u32], row: &[f32], t: u32) {
    for ((b, a), &v) in best.iter_mut().zip(at.iter_mut()).zip(row) {
        let wins = v > *b;
        *b = if wins { v } else { *b };
        *a = if wins { t } else { *a };
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn pool_narrow_avx2(
    x: &[f32],
    w: &[f32],
    emb: usize,
    windows: usize,
    row: &mut [f32],
    best: &mut [f32],
    at: &mut [u32],
) {
    pool_narrow_generic(x, w, emb, windows, row, best, at)
}

fn pool_narrow(
    x: &[f32],
    w: &[f32],
    emb: usize,
    windows: usize,
    row: &mut [f32],
    best: &mut [f32],
    at: &mut [u32],
) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports the features the function was compiled for.
        return unsafe { pool_narrow_avx2(x, w, emb, windows, row, best, at) };
    }
    pool_narrow_generic(x, w, emb, windows, row, best, at)
}

/// Adds the bias to pooled maxima and applies the ReLU; a clipped feature gets no gradient.
fn bias_relu(best: &mut [f32], at: &mut [u32], b: &[f32]) {
    for ((v, a), &bias) in best.iter_mut().zip(at.iter_mut()).zip(b) {
        *v += bias;
        if *v > 0.0 {
            continue;
        }
        *v = 0.0;
        *a = INACTIVE;
    }
}

/// Pooled features and their winning positions, a tile of sequences per task: windows of at
/// most [`NARROW_TAPS`] values through [`pool_narrow`], wider ones as one strided `gemm` per
/// tile whose feature maps are pooled while in cache.
fn conv_forward(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    seqs: usize,
    len: usize,
    emb: usize,
    width: usize,
) -> (Vec<f32>, Vec<u32>) {
    let n = b.len();
    let windows = len - width + 1;
    let k = width * emb;
    let narrow = k <= NARROW_TAPS;
    let mut out = vec![0f32; seqs * n];
    let mut arg = vec![INACTIVE; seqs * n];
    x.par_chunks(SEQ_TILE * len * emb)
        .zip(out.par_chunks_mut(SEQ_TILE * n))
        .zip(arg.par_chunks_mut(SEQ_TILE * n))
        .for_each_init(
            || vec![0f32; if narrow { n } else { SEQ_TILE * len * n }],
            |scratch, ((x_tile, out), arg)| {
                let rows_in_tile = x_tile.len() / (len * emb);
                if !narrow {
                    // Window rows start every `emb` floats; rows that straddle two sequences
                    // are computed and ignored, and the tile's last incomplete windows are not
                    // computed.
                    let m = (rows_in_tile - 1) * len + windows;
                    sgemm(m, n, k, scratch, n, false, x_tile, emb, 1, w, n, 1);
                }
                for s in 0..rows_in_tile {
                    let best = &mut out[s * n..(s + 1) * n];
                    let at = &mut arg[s * n..(s + 1) * n];
                    if narrow {
                        let x = &x_tile[s * len * emb..(s + 1) * len * emb];
                        pool_narrow(x, w, emb, windows, scratch, best, at);
                    } else {
                        let maps = &scratch[s * len * n..];
                        best.copy_from_slice(&maps[..n]);
                        at.fill(0);
                        for t in 1..windows {
                            keep_max(best, at, &maps[t * n..(t + 1) * n], t as u32);
                        }
                    }
                    bias_relu(best, at, b);
                }
            },
        );
    (out, arg)
}

impl CustomOp3 for ConvMaxPool {
    fn name(&self) -> &'static str {
        "conv-max-pool"
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
        let x = cpu_slice(s1, l1, "conv input")?;
        let w = cpu_slice(s2, l2, "conv weight")?;
        let b = cpu_slice(s3, l3, "conv bias")?;
        let (seqs, len, emb) = l1.shape().dims3()?;
        let n = b.len();
        let (out, arg) = conv_forward(x, w, b, seqs, len, emb, self.width);
        *self.argmax.lock().expect("argmax lock") = arg;
        Ok((CpuStorage::F32(out), Shape::from((seqs, n))))
    }

    /// Only the gradients the graph asks for are computed (a frozen discriminator's filters
    /// need none).
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
        let (seqs, len, emb) = x.dims3()?;
        let (k, n) = w.dims2()?;
        let g = host_values(grad)?;
        let arg = self.argmax.lock().expect("argmax lock");
        let pooled = Pooled {
            arg: &arg,
            grad: &g,
            filters: n,
        };
        let device = x.device();
        let (dw, db) = if need_dw || need_db {
            let (dwt, db) = filter_gradients(&pooled, &host_values(x)?, len, emb, k);
            let dw = need_dw
                .then(|| Tensor::from_vec(dwt, (n, k), device)?.t()?.contiguous())
                .transpose()?;
            (dw, need_db.then_some(db))
        } else {
            (None, None)
        };
        let dx = need_dx
            .then(|| {
                // Filter-major weights: each filter's taps contiguous.
                let wt = host_values(&w.t()?)?;
                let dx = input_gradient(&pooled, &wt, seqs, len * emb, emb, k);
                Tensor::from_vec(dx, (seqs, len, emb), device)
            })
            .transpose()?;
        let db = db.map(|v| Tensor::from_vec(v, n, device)).transpose()?;
        Ok((dx, dw, db))
    }
}

/// The forward pass's winners and the gradient of the pooled features.
struct Pooled<'a> {
    /// Winning window start per (sequence, filter), or `INACTIVE`.
    arg: &'a [u32],
    grad: &'a [f32],
    filters: usize,
}

/// Filters per weight-gradient task: neighbouring filters' winners and gradients are adjacent
/// in memory, so a block reads them a cache line at a time.
const FILTER_BLOCK: usize = 16;

/// `dW` (filter-major, `[n, k]`) and `db`, a block of filters per task; each filter's sums run
/// over sequences in order, so the result does not depend on the thread count.
fn filter_gradients(
    pooled: &Pooled,
    x: &[f32],
    len: usize,
    emb: usize,
    k: usize,
) -> (Vec<f32>, Vec<f32>) {
    let n = pooled.filters;
    let seqs = pooled.arg.len() / n;
    let mut dwt = vec![0f32; n * k];
    let mut db = vec![0f32; n];
    dwt.par_chunks_mut(FILTER_BLOCK * k)
        .zip(db.par_chunks_mut(FILTER_BLOCK))
        .enumerate()
        .for_each(|(block, (dw, db))| {
            let first = block * FILTER_BLOCK;
            for s in 0..seqs {
                let row = s * n + first;
                let winners = &pooled.arg[row..row + db.len()];
                let grads = &pooled.grad[row..row + db.len()];
                for (jj, (&t, &gs)) in winners.iter().zip(grads).enumerate() {
                    if t == INACTIVE {
                        continue;
                    }
                    db[jj] += gs;
                    let start = (s * len + t as usize) * emb;
                    for (acc, xv) in dw[jj * k..(jj + 1) * k]
                        .iter_mut()
                        .zip(&x[start..start + k])
                    {
                        *acc += gs * xv;
                    }
                }
            }
        });
    (dwt, db)
}

/// `dx` `[seqs, len * emb]`, one sequence per task.
fn input_gradient(
    pooled: &Pooled,
    wt: &[f32],
    seqs: usize,
    seq_values: usize,
    emb: usize,
    k: usize,
) -> Vec<f32> {
    let n = pooled.filters;
    let mut dx = vec![0f32; seqs * seq_values];
    dx.par_chunks_mut(seq_values)
        .enumerate()
        .for_each(|(s, dxs)| {
            for j in 0..n {
                let t = pooled.arg[s * n + j];
                if t == INACTIVE {
                    continue;
                }
                let gs = pooled.grad[s * n + j];
                let taps = &wt[j * k..(j + 1) * k];
                let start = t as usize * emb;
                for (acc, wv) in dxs[start..start + k].iter_mut().zip(taps) {
                    *acc += gs * wv;
                }
            }
        });
    dx
}

/// `max_t relu(b + sum_{k<width} x[s, t + k, :] . w[k*E.., :])`: convolution of width `width`
/// over `[S, T, E]` sequences with `[width*E, N]` filters, ReLU, max over positions: `[S, N]`.
/// The fused CPU kernel's backward pass is first order only; a pass whose input gradient is
/// differentiated again (WGAN-GP's penalty) asks for [`GradientOrder::Second`] and gets
/// [`argmax_conv_max_pool`], differentiable to any order.
pub fn conv_max_pool(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    width: usize,
    order: GradientOrder,
) -> Result<Tensor> {
    let (_, len, emb) = x.dims3()?;
    let (k, n) = w.dims2()?;
    if width == 0 || width > len || k != width * emb || b.dims() != [n] {
        return Err(Error::Shape(format!(
            "conv_max_pool: input {:?}, width {width}, weight {:?}, bias {:?}",
            x.dims(),
            w.dims(),
            b.dims()
        )));
    }
    if order == GradientOrder::Second {
        return argmax_conv_max_pool(x, w, b, width);
    }
    if !order.allows_fused(x, w) {
        return reference_conv_max_pool(x, w, b, width);
    }
    let op = ConvMaxPool {
        width,
        argmax: Mutex::new(Vec::new()),
    };
    Ok(x.contiguous()?
        .apply_op3(&w.contiguous()?, &b.contiguous()?, op)?)
}

/// The same computation from candle ops (windows by narrow + cat, one matmul, ReLU, max).
pub fn reference_conv_max_pool(x: &Tensor, w: &Tensor, b: &Tensor, width: usize) -> Result<Tensor> {
    let (s, len, emb) = x.dims3()?;
    let windows = len - width + 1;
    let cols: Vec<Tensor> = (0..width)
        .map(|k| x.narrow(1, k, windows))
        .collect::<candle_core::Result<_>>()?;
    let patches = Tensor::cat(&cols, 2)?.reshape((s * windows, width * emb))?;
    let n = w.dim(1)?;
    let maps = patches
        .matmul(w)?
        .broadcast_add(b)?
        .relu()?
        .reshape((s, windows, n))?;
    Ok(maps.max(1)?)
}

/// The same value built from the winning windows alone: the winners are found without a graph,
/// then each pooled feature is recomputed from its window as `relu(b + sum_k x[s, t* + k] .
/// W_k)`, a gather and a product per tap. Its gradient is max-pooling's (the winners held
/// fixed), and its graph is differentiable again without the `[S, windows, N]` feature maps a
/// second-order pass through [`reference_conv_max_pool`] keeps several of (RelGAN's
/// discriminator: about 90 MB each, per width; its WGAN-GP penalty ran out of 24 GB).
pub fn argmax_conv_max_pool(x: &Tensor, w: &Tensor, b: &Tensor, width: usize) -> Result<Tensor> {
    let (s, len, emb) = x.dims3()?;
    let n = w.dim(1)?;
    let windows = len - width + 1;
    let winners = {
        let (x, w, b) = (x.detach(), w.detach(), b.detach());
        let cols: Vec<Tensor> = (0..width)
            .map(|k| x.narrow(1, k, windows))
            .collect::<candle_core::Result<_>>()?;
        Tensor::cat(&cols, 2)?
            .reshape((s * windows, width * emb))?
            .matmul(&w)?
            .broadcast_add(&b)?
            .reshape((s, windows, n))?
            .argmax(1)?
    };
    let rows = x.reshape((s * len, emb))?;
    let mut pre_activation = b.unsqueeze(0)?.broadcast_as((s, n))?.contiguous()?;
    for k in 0..width {
        // Row of x[s, t* + k] in the flattened input, for every (sequence, filter).
        let first_rows: Vec<u32> = (0..s).map(|q| (q * len + k) as u32).collect();
        let picked = Tensor::from_vec(first_rows, (s, 1), x.device())?
            .broadcast_add(&winners)?
            .flatten_all()?;
        let taps = rows.index_select(&picked, 0)?.reshape((s, n, emb))?;
        let w_k = w.narrow(0, k * emb, emb)?.t()?.unsqueeze(0)?;
        pre_activation = (pre_activation + taps.broadcast_mul(&w_k)?.sum(2)?)?;
    }
    Ok(pre_activation.relu()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};
    use gan_core::SeededRng;

    #[test]
    fn fused_conv_matches_reference_values_and_gradients() {
        // RelGAN-like (E = 1, many sequences, partial tile) and SeqGAN-like (E = 8, full width).
        for (s, len, emb, width, n) in [(70, 20, 1, 3, 30), (5, 10, 8, 10, 7), (33, 12, 4, 1, 5)] {
            let mut rng = SeededRng::new(s as u64);
            let d = &Device::Cpu;
            let x = Var::from_tensor(&rng.normal((s, len, emb), 0.0, 1.0, d).unwrap()).unwrap();
            let w = Var::from_tensor(&rng.normal((width * emb, n), 0.0, 0.5, d).unwrap()).unwrap();
            let b = Var::from_tensor(&rng.normal(n, -0.3, 0.5, d).unwrap()).unwrap();
            let fused = conv_max_pool(&x, &w, &b, width, GradientOrder::First).unwrap();
            let plain = reference_conv_max_pool(&x, &w, &b, width).unwrap();
            let diff = socgan_nn::equivalence::max_abs_diff;
            assert!(diff(&fused, &plain) < 1e-5);
            let probe = rng.normal((s, n), 0.0, 1.0, d).unwrap();
            let vars = [&x, &w, &b];
            let diffs = socgan_nn::equivalence::max_gradient_diffs(&fused, &plain, &probe, &vars);
            for (v, d) in vars.iter().zip(diffs) {
                assert!(d < 1e-4, "gradient of {:?} differs by {d}", v.dims());
            }
            // A frozen discriminator's filters get no gradient; its input the same one.
            let frozen =
                conv_max_pool(&x, &w.detach(), &b.detach(), width, GradientOrder::First).unwrap();
            let grads = (frozen * &probe)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            assert!(grads.get(&w).is_none() && grads.get(&b).is_none());
            let dx_all = (fused * &probe)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            assert_eq!(
                grads
                    .get(&x)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap(),
                dx_all
                    .get(&x)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
            );
            let gathered = argmax_conv_max_pool(&x, &w, &b, width).unwrap();
            assert!(diff(&gathered, &plain) < 1e-5);
            let diffs =
                socgan_nn::equivalence::max_gradient_diffs(&gathered, &plain, &probe, &vars);
            for (v, d) in vars.iter().zip(diffs) {
                assert!(
                    d < 1e-4,
                    "gathered: gradient of {:?} differs by {d}",
                    v.dims()
                );
            }
        }
    }
}
