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
use socgan_nn::gemm::{cpu_slice, sgemm};
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
    let mut out = vec![0f32; seqs * n];
    let mut arg = vec![INACTIVE; seqs * n];
    x.par_chunks(SEQ_TILE * len * emb)
        .zip(out.par_chunks_mut(SEQ_TILE * n))
        .zip(arg.par_chunks_mut(SEQ_TILE * n))
        .for_each_init(
            || vec![0f32; SEQ_TILE * len * n],
            |maps, ((x_tile, out), arg)| {
                let rows_in_tile = x_tile.len() / (len * emb);
                // Window rows start every `emb` floats; rows that straddle two sequences are
                // computed and ignored, and the tile's last incomplete windows are not computed.
                let m = (rows_in_tile - 1) * len + windows;
                sgemm(m, n, k, maps, n, false, x_tile, emb, 1, w, n, 1);
                for s in 0..rows_in_tile {
                    let best = &mut out[s * n..(s + 1) * n];
                    let at = &mut arg[s * n..(s + 1) * n];
                    best.copy_from_slice(&maps[s * len * n..s * len * n + n]);
                    at.fill(0);
                    for t in 1..windows {
                        let row = &maps[(s * len + t) * n..(s * len + t + 1) * n];
                        for j in 0..n {
                            if row[j] > best[j] {
                                best[j] = row[j];
                                at[j] = t as u32;
                            }
                        }
                    }
                    for j in 0..n {
                        let v = best[j] + b[j];
                        if v > 0.0 {
                            best[j] = v;
                        } else {
                            best[j] = 0.0;
                            at[j] = INACTIVE;
                        }
                    }
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

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (seqs, len, emb) = x.dims3()?;
        let (k, n) = w.dims2()?;
        let xv = x.flatten_all()?.to_vec1::<f32>()?;
        // Filter-major weights: each filter's taps contiguous.
        let wt = w.t()?.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let g = grad.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let arg = self.argmax.lock().expect("argmax lock").clone();

        // dW (filter-major) and db, one filter per task.
        let mut dwt = vec![0f32; n * k];
        let mut db = vec![0f32; n];
        dwt.par_chunks_mut(k)
            .zip(db.par_iter_mut())
            .enumerate()
            .for_each(|(j, (dw, db))| {
                for s in 0..seqs {
                    let t = arg[s * n + j];
                    if t == INACTIVE {
                        continue;
                    }
                    let gs = g[s * n + j];
                    *db += gs;
                    let patch = &xv[(s * len + t as usize) * emb..(s * len + t as usize) * emb + k];
                    for (acc, xv) in dw.iter_mut().zip(patch) {
                        *acc += gs * xv;
                    }
                }
            });
        // dx, one sequence per task.
        let mut dx = vec![0f32; seqs * len * emb];
        dx.par_chunks_mut(len * emb)
            .enumerate()
            .for_each(|(s, dxs)| {
                for j in 0..n {
                    let t = arg[s * n + j];
                    if t == INACTIVE {
                        continue;
                    }
                    let gs = g[s * n + j];
                    let taps = &wt[j * k..(j + 1) * k];
                    for (acc, wv) in dxs[t as usize * emb..t as usize * emb + k]
                        .iter_mut()
                        .zip(taps)
                    {
                        *acc += gs * wv;
                    }
                }
            });
        let device = x.device();
        let dw = Tensor::from_vec(dwt, (n, k), device)?.t()?.contiguous()?;
        Ok((
            Some(Tensor::from_vec(dx, (seqs, len, emb), device)?),
            Some(dw),
            Some(Tensor::from_vec(db, n, device)?),
        ))
    }
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
