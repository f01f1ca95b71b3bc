//! Fused vocabulary projection + softmax + cross-entropy, over any vocabulary (words, items,
//! classes), with its own backward.
//!
//! A SeqGAN-sized batch has 1,280 positions over a 5,000-word vocabulary: the logits are a
//! 25 MB matrix. Built from candle ops, each of matmul, bias add, log-softmax, gather and their
//! backward passes allocates and sweeps a fresh 25 MB tensor; that is where a direct candle port
//! spends its time (see `../shared/GUIDE.md`). Here the projection, the softmax and the
//! cross-entropy are one operation with its own backward, working on cache-sized tiles:
//! - forward: per tile of 32 rows, logits by `gemm`, then a log-sum-exp per row (kept for the
//!   backward) and the target's log-probability;
//! - backward: per block of 512 vocabulary columns, the logits are recomputed tile by tile (cheaper
//!   than storing 25 MB), turned into `p - onehot`, and contracted into `dW`, `db` and a partial
//!   `dh`; the partial `dh` are summed in block order, so results do not depend on the number of
//!   threads. When a batch's logits fit in 64 MB the forward keeps the softmax numerators and the
//!   backward works on them in place.
//!
//! [`crate::reference::linear_cross_entropy`] is the plain candle composition it is tested against.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::fast_math;
use crate::gemm::{cpu_slice, sgemm, use_fused};
use crate::{reference, Error, Result};

/// Rows per forward tile: 32 rows of a 5,000-word vocabulary are 640 KB, about an L2 cache.
pub(crate) const ROW_TILE: usize = 32;
/// Vocabulary columns per backward block.
const VOCAB_BLOCK: usize = 512;
/// Rows per backward tile within a vocabulary block.
const BACKWARD_ROW_TILE: usize = 128;

/// `logits[r, :] = bias + hidden[r, :] @ weight` for the rows of one tile.
pub(crate) fn tile_logits(
    hidden: &[f32],
    weight: &[f32],
    bias: &[f32],
    hidden_dim: usize,
    vocab: usize,
    logits: &mut [f32],
) {
    for r in 0..hidden.len() / hidden_dim {
        logits[r * vocab..(r + 1) * vocab].copy_from_slice(bias);
    }
    tile_product(hidden, weight, hidden_dim, vocab, logits, true);
}

/// `out[r, :] (+)= hidden[r, :] @ weight` for the rows of one tile: added to `out` with
/// `accumulate`, overwriting it otherwise.
fn tile_product(
    hidden: &[f32],
    weight: &[f32],
    hidden_dim: usize,
    vocab: usize,
    out: &mut [f32],
    accumulate: bool,
) {
    let rows = hidden.len() / hidden_dim;
    sgemm(
        rows, vocab, hidden_dim, out, vocab, accumulate, hidden, hidden_dim, 1, weight, vocab, 1,
    );
}

/// Per-row log-sum-exp and cross-entropy `lse - logit[target]` of `hidden @ weight + bias`.
fn forward_rows(
    hidden: &[f32],
    weight: &[f32],
    bias: &[f32],
    targets: &[u32],
    hidden_dim: usize,
    vocab: usize,
) -> (Vec<f32>, Vec<f32>) {
    let n = targets.len();
    let mut lse = vec![0f32; n];
    let mut nll = vec![0f32; n];
    hidden
        .par_chunks(ROW_TILE * hidden_dim)
        .zip(lse.par_chunks_mut(ROW_TILE))
        .zip(nll.par_chunks_mut(ROW_TILE))
        .zip(targets.par_chunks(ROW_TILE))
        .for_each_init(
            || (vec![0f32; ROW_TILE * vocab], vec![0f32; vocab]),
            |(logits, scratch), (((h, lse), nll), t)| {
                tile_logits(h, weight, bias, hidden_dim, vocab, logits);
                for r in 0..t.len() {
                    let row = &logits[r * vocab..(r + 1) * vocab];
                    let m = fast_math::max(row);
                    let sum = fast_math::exp_shifted_sum(row, m, 1.0, scratch);
                    lse[r] = m + sum.ln();
                    nll[r] = lse[r] - row[t[r] as usize];
                }
            },
        );
    (lse, nll)
}

/// Largest logits matrix (in elements, 64 MB) whose softmax numerators the forward pass keeps
/// for the backward pass; a larger batch recomputes its logits block by block instead.
const KEEP_SOFTMAX_LIMIT: usize = 16 << 20;

/// What the forward pass leaves for the backward pass.
enum Saved {
    Nothing,
    /// Per-row log-sum-exp; the backward recomputes the logits.
    LogSumExp(Vec<f32>),
    /// `exp(logit - max)` for every row (`[N, V]`) and `1 / sum` per row.
    Softmax {
        exps: Vec<f32>,
        inv_sums: Vec<f32>,
    },
}

/// The last backward pass's softmax buffer, kept for the next forward pass: a SeqGAN batch's
/// numerators are 25 MB, and zeroing a fresh buffer every batch (serially at first, then on every
/// thread) cost a twentieth of an MLE epoch at two threads. Holds one buffer, at most
/// [`KEEP_SOFTMAX_LIMIT`] values.
static SPARE_SOFTMAX: Mutex<Vec<f32>> = Mutex::new(Vec::new());

/// A buffer of `len` values for [`forward_rows_keeping_softmax`], whose products overwrite every
/// value (so what a reused buffer held does not matter).
fn take_softmax_buffer(len: usize) -> Vec<f32> {
    let mut buffer = std::mem::take(&mut *SPARE_SOFTMAX.lock().expect("spare softmax lock"));
    if buffer.len() < len {
        let missing = len - buffer.len();
        buffer.par_extend(rayon::iter::repeat_n(0f32, missing));
    }
    buffer.truncate(len);
    buffer
}

fn give_back_softmax_buffer(buffer: Vec<f32>) {
    *SPARE_SOFTMAX.lock().expect("spare softmax lock") = buffer;
}

/// Like [`forward_rows`], keeping each row's softmax numerators in `[N, V]` memory.
fn forward_rows_keeping_softmax(
    hidden: &[f32],
    weight: &[f32],
    bias: &[f32],
    targets: &[u32],
    hidden_dim: usize,
    vocab: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let n = targets.len();
    let mut exps = take_softmax_buffer(n * vocab);
    let mut inv_sums = vec![0f32; n];
    let mut nll = vec![0f32; n];
    hidden
        .par_chunks(ROW_TILE * hidden_dim)
        .zip(exps.par_chunks_mut(ROW_TILE * vocab))
        .zip(inv_sums.par_chunks_mut(ROW_TILE))
        .zip(nll.par_chunks_mut(ROW_TILE))
        .zip(targets.par_chunks(ROW_TILE))
        .for_each(|((((h, tile), inv), nll), t)| {
            // `h @ W` overwrites the tile; the bias is added in the pass that finds each row's
            // maximum (the same single rounding as gemm accumulating onto a copied bias).
            tile_product(h, weight, hidden_dim, vocab, tile, false);
            for r in 0..t.len() {
                let row = &mut tile[r * vocab..(r + 1) * vocab];
                let m = fast_math::add_max_in_place(row, bias);
                let target_logit = row[t[r] as usize];
                let sum = fast_math::exp_shifted_sum_in_place(row, m);
                inv[r] = 1.0 / sum;
                nll[r] = m + sum.ln() - target_logit;
            }
        });
    (exps, inv_sums, nll)
}

/// Fused `sum_i w_i * CE(hidden_i @ weight + bias, target_i)` with a hand-written backward.
struct LinearCrossEntropy {
    targets: Arc<Vec<u32>>,
    row_weights: Arc<Vec<f32>>,
    saved: Mutex<Saved>,
}

impl CustomOp3 for LinearCrossEntropy {
    fn name(&self) -> &'static str {
        "linear-cross-entropy"
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
        let hidden = cpu_slice(s1, l1, "hidden")?;
        let weight = cpu_slice(s2, l2, "weight")?;
        let bias = cpu_slice(s3, l3, "bias")?;
        let (hidden_dim, vocab) = l2.shape().dims2()?;
        let (saved, nll) = if self.targets.len() * vocab <= KEEP_SOFTMAX_LIMIT {
            let (exps, inv_sums, nll) = forward_rows_keeping_softmax(
                hidden,
                weight,
                bias,
                &self.targets,
                hidden_dim,
                vocab,
            );
            (Saved::Softmax { exps, inv_sums }, nll)
        } else {
            let (lse, nll) = forward_rows(hidden, weight, bias, &self.targets, hidden_dim, vocab);
            (Saved::LogSumExp(lse), nll)
        };
        let total: f64 = nll
            .iter()
            .zip(self.row_weights.iter())
            .map(|(l, w)| *l as f64 * *w as f64)
            .sum();
        *self.saved.lock().expect("saved lock") = saved;
        Ok((CpuStorage::F32(vec![total as f32]), Shape::from(())))
    }

    fn bwd(
        &self,
        hidden: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let upstream = grad_res.to_scalar::<f32>()?;
        let (n, hidden_dim) = hidden.dims2()?;
        let vocab = weight.dim(1)?;
        let h = hidden.flatten_all()?.to_vec1::<f32>()?;
        let w = weight.flatten_all()?.to_vec1::<f32>()?;
        let b = bias.to_vec1::<f32>()?;
        // The forward's state is consumed by the first backward pass. A second pass over the same
        // graph (two losses of one forward pass, each backpropagated on its own) recomputes the
        // log-sum-exp instead.
        let saved =
            match std::mem::replace(&mut *self.saved.lock().expect("saved lock"), Saved::Nothing) {
                Saved::Nothing => {
                    Saved::LogSumExp(forward_rows(&h, &w, &b, &self.targets, hidden_dim, vocab).0)
                }
                kept => kept,
            };
        let scale: Vec<f32> = self.row_weights.iter().map(|x| x * upstream).collect();
        let targets = &self.targets;
        let device = hidden.device();
        if let Saved::Softmax { mut exps, inv_sums } = saved {
            let (dh, dw, db) = backward_from_softmax(
                &mut exps, &inv_sums, &scale, targets, &h, &w, hidden_dim, vocab,
            );
            give_back_softmax_buffer(exps);
            return Ok((
                Some(Tensor::from_vec(dh, (n, hidden_dim), device)?),
                Some(Tensor::from_vec(dw, (hidden_dim, vocab), device)?),
                Some(Tensor::from_vec(db, vocab, device)?),
            ));
        }

        let blocks: Vec<usize> = (0..vocab).step_by(VOCAB_BLOCK).collect();
        // Each block: (dW columns [H, width], db [width], partial dh [N, H]).
        let per_block: Vec<(Vec<f32>, Vec<f32>, Vec<f32>)> = blocks
            .par_iter()
            .map(|&start| {
                let width = VOCAB_BLOCK.min(vocab - start);
                let mut dw = vec![0f32; hidden_dim * width];
                let mut db = vec![0f32; width];
                let mut dh = vec![0f32; n * hidden_dim];
                let mut g = vec![0f32; BACKWARD_ROW_TILE * width];
                for row0 in (0..n).step_by(BACKWARD_ROW_TILE) {
                    let rows = BACKWARD_ROW_TILE.min(n - row0);
                    let h_tile = &h[row0 * hidden_dim..(row0 + rows) * hidden_dim];
                    if let Saved::LogSumExp(lse) = &saved {
                        // Recompute the logits of the tile, then (p - onehot) * w_i * upstream.
                        for r in 0..rows {
                            g[r * width..(r + 1) * width].copy_from_slice(&b[start..start + width]);
                        }
                        sgemm(
                            rows,
                            width,
                            hidden_dim,
                            &mut g,
                            width,
                            true,
                            h_tile,
                            hidden_dim,
                            1,
                            &w[start..],
                            vocab,
                            1,
                        );
                        for r in 0..rows {
                            let i = row0 + r;
                            fast_math::exp_shifted_in_place(
                                &mut g[r * width..(r + 1) * width],
                                lse[i],
                                scale[i],
                            );
                        }
                    }
                    for r in 0..rows {
                        let i = row0 + r;
                        let row = &mut g[r * width..(r + 1) * width];
                        let t = targets[i] as usize;
                        if (start..start + width).contains(&t) {
                            row[t - start] -= scale[i];
                        }
                        for (acc, x) in db.iter_mut().zip(row.iter()) {
                            *acc += *x;
                        }
                    }
                    let g_tile = &g[..rows * width];
                    // dW[:, block] += h_tile^T @ G
                    sgemm(
                        hidden_dim, width, rows, &mut dw, width, true, h_tile, 1, hidden_dim,
                        g_tile, width, 1,
                    );
                    // dh[tile] += G @ W[:, block]^T
                    sgemm(
                        rows,
                        hidden_dim,
                        width,
                        &mut dh[row0 * hidden_dim..],
                        hidden_dim,
                        true,
                        g_tile,
                        width,
                        1,
                        &w[start..],
                        1,
                        vocab,
                    );
                }
                (dw, db, dh)
            })
            .collect();

        let mut dw = vec![0f32; hidden_dim * vocab];
        let mut db = vec![0f32; vocab];
        let mut dh = vec![0f32; n * hidden_dim];
        for (&start, (bw, bb, bh)) in blocks.iter().zip(&per_block) {
            let width = bb.len();
            for k in 0..hidden_dim {
                dw[k * vocab + start..k * vocab + start + width]
                    .copy_from_slice(&bw[k * width..(k + 1) * width]);
            }
            db[start..start + width].copy_from_slice(bb);
            for (acc, x) in dh.iter_mut().zip(bh) {
                *acc += *x;
            }
        }
        Ok((
            Some(Tensor::from_vec(dh, (n, hidden_dim), device)?),
            Some(Tensor::from_vec(dw, (hidden_dim, vocab), device)?),
            Some(Tensor::from_vec(db, vocab, device)?),
        ))
    }
}

/// Backward from the kept softmax numerators, in place: each tile of rows becomes
/// `G = (p - onehot) * w_i * upstream`, then `dh[tile] = G @ W^T` and a partial `dW = h^T @ G`,
/// `db = colsum(G)`. Tiles have a fixed size and partials are summed in tile order, so the result
/// does not depend on the number of threads.
#[allow(clippy::too_many_arguments)]
fn backward_from_softmax(
    exps: &mut [f32],
    inv_sums: &[f32],
    scale: &[f32],
    targets: &[u32],
    h: &[f32],
    w: &[f32],
    hidden_dim: usize,
    vocab: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let n = targets.len();
    let mut dh = vec![0f32; n * hidden_dim];
    let partials: Vec<(Vec<f32>, Vec<f32>)> = exps
        .par_chunks_mut(BACKWARD_ROW_TILE * vocab)
        .zip(dh.par_chunks_mut(BACKWARD_ROW_TILE * hidden_dim))
        .enumerate()
        .map(|(tile, (g, dh_tile))| {
            let row0 = tile * BACKWARD_ROW_TILE;
            let rows = g.len() / vocab;
            let mut db = vec![0f32; vocab];
            for r in 0..rows {
                let i = row0 + r;
                let row = &mut g[r * vocab..(r + 1) * vocab];
                let factor = inv_sums[i] * scale[i];
                for (x, acc) in row.iter_mut().zip(db.iter_mut()) {
                    *x *= factor;
                    *acc += *x;
                }
                row[targets[i] as usize] -= scale[i];
                db[targets[i] as usize] -= scale[i];
            }
            let h_tile = &h[row0 * hidden_dim..(row0 + rows) * hidden_dim];
            // dh[tile] = G @ W^T
            sgemm(
                rows, hidden_dim, vocab, dh_tile, hidden_dim, false, g, vocab, 1, w, 1, vocab,
            );
            // partial dW = h_tile^T @ G
            let mut dw = vec![0f32; hidden_dim * vocab];
            sgemm(
                hidden_dim, vocab, rows, &mut dw, vocab, false, h_tile, 1, hidden_dim, g, vocab, 1,
            );
            (dw, db)
        })
        .collect();
    let mut parts = partials.into_iter();
    let (mut dw, mut db) = parts
        .next()
        .unwrap_or_else(|| (vec![0f32; hidden_dim * vocab], vec![0f32; vocab]));
    for (pw, pb) in parts {
        for (a, b) in dw.iter_mut().zip(&pw) {
            *a += b;
        }
        for (a, b) in db.iter_mut().zip(&pb) {
            *a += b;
        }
    }
    (dh, dw, db)
}

fn check_shapes(
    hidden: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    targets: &[u32],
    row_weights: Option<&[f32]>,
) -> Result<(usize, usize, usize)> {
    let (n, h) = hidden.dims2()?;
    let (h2, v) = weight.dims2()?;
    if h != h2
        || bias.dims() != [v]
        || targets.len() != n
        || row_weights.is_some_and(|w| w.len() != n)
    {
        return Err(Error::Shape(format!(
            "linear_cross_entropy: hidden {:?}, weight {:?}, bias {:?}, {} targets",
            hidden.dims(),
            weight.dims(),
            bias.dims(),
            targets.len()
        )));
    }
    if let Some(&bad) = targets.iter().find(|&&t| t as usize >= v) {
        return Err(Error::Shape(format!(
            "token id {bad} outside the vocabulary of {v}"
        )));
    }
    Ok((n, h, v))
}

/// `sum_i row_weights[i] * CE(hidden_i @ weight + bias, targets[i])`, differentiable with
/// respect to `hidden`, `weight` and `bias`. With `row_weights[i] = 1/N` this is the mean
/// cross-entropy; with REINFORCE rewards it is a policy-gradient loss.
///
/// `hidden` is `[N, H]`, `weight` `[H, V]`, `bias` `[V]`. On CPU the fused kernel runs; on other
/// devices, the reference composition of candle ops.
pub fn linear_cross_entropy(
    hidden: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    targets: &[u32],
    row_weights: &[f32],
) -> Result<Tensor> {
    check_shapes(hidden, weight, bias, targets, Some(row_weights))?;
    if !use_fused(hidden, weight) {
        return reference::linear_cross_entropy(hidden, weight, bias, targets, row_weights);
    }
    let op = LinearCrossEntropy {
        targets: Arc::new(targets.to_vec()),
        row_weights: Arc::new(row_weights.to_vec()),
        saved: Mutex::new(Saved::Nothing),
    };
    Ok(hidden
        .contiguous()?
        .apply_op3(&weight.contiguous()?, &bias.contiguous()?, op)?)
}

/// Per-row cross-entropy (negative log-likelihood of each target), no gradient.
pub fn row_nll(
    hidden: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    targets: &[u32],
) -> Result<Vec<f32>> {
    let (_, h, v) = check_shapes(hidden, weight, bias, targets, None)?;
    if !use_fused(hidden, weight) {
        return reference::row_nll(hidden, weight, bias, targets);
    }
    let hv = hidden.flatten_all()?.to_vec1::<f32>()?;
    let wv = weight.flatten_all()?.to_vec1::<f32>()?;
    let bv = bias.to_vec1::<f32>()?;
    Ok(forward_rows(&hv, &wv, &bv, targets, h, v).1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::equivalence::max_abs_diff;
    use candle_core::{Device, Var};
    use gan_core::SeededRng;

    fn setup(n: usize, h: usize, v: usize, seed: u64) -> (Var, Var, Var, Vec<u32>, Vec<f32>) {
        let mut rng = SeededRng::new(seed);
        let d = &Device::Cpu;
        let hidden = Var::from_tensor(&rng.normal((n, h), 0.0, 1.0, d).unwrap()).unwrap();
        let weight = Var::from_tensor(&rng.normal((h, v), 0.0, 0.5, d).unwrap()).unwrap();
        let bias = Var::from_tensor(&rng.normal(v, 0.0, 0.5, d).unwrap()).unwrap();
        let targets: Vec<u32> = (0..n).map(|_| rng.below(v) as u32).collect();
        let weights = rng.uniform_vec(n, -1.0, 1.0);
        (hidden, weight, bias, targets, weights)
    }

    #[test]
    fn fused_matches_reference_loss_and_gradients() {
        // Shapes that exercise partial tiles and partial vocabulary blocks.
        // The last shape is above KEEP_SOFTMAX_LIMIT: the recomputing backward.
        for (n, h, v) in [
            (300, 16, 1100),
            (7, 5, 513),
            (64, 32, 5000),
            (3300, 4, 5100),
        ] {
            let (hidden, weight, bias, targets, weights) = setup(n, h, v, n as u64);
            let fused = linear_cross_entropy(&hidden, &weight, &bias, &targets, &weights).unwrap();
            let plain =
                reference::linear_cross_entropy(&hidden, &weight, &bias, &targets, &weights)
                    .unwrap();
            let (lf, lp) = (
                fused.to_scalar::<f32>().unwrap(),
                plain.to_scalar::<f32>().unwrap(),
            );
            assert!(
                (lf - lp).abs() <= 1e-5 * lp.abs().max(1.0),
                "loss {lf} vs {lp}"
            );
            let (gf, gp) = (
                (fused * 3.0).unwrap().backward().unwrap(),
                (plain * 3.0).unwrap().backward().unwrap(),
            );
            for var in [&hidden, &weight, &bias] {
                let reference = gp.get(var).unwrap();
                let d = max_abs_diff(gf.get(var).unwrap(), reference);
                // Relative to the gradient's scale: sums over thousands of rows round differently.
                let scale = reference
                    .abs()
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .max(0)
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap()
                    .max(1.0);
                assert!(
                    d < 1e-5 * scale,
                    "gradient differs by {d} (scale {scale}) at {:?}",
                    var.dims()
                );
            }
        }
    }

    #[test]
    fn row_nll_matches_reference_and_rejects_bad_ids() {
        let (hidden, weight, bias, targets, _) = setup(70, 8, 300, 1);
        let fused = row_nll(&hidden, &weight, &bias, &targets).unwrap();
        let plain = reference::row_nll(&hidden, &weight, &bias, &targets).unwrap();
        for (a, b) in fused.iter().zip(&plain) {
            assert!((a - b).abs() < 1e-5);
        }
        let mut bad = targets.clone();
        bad[3] = 300;
        assert!(row_nll(&hidden, &weight, &bias, &bad)
            .unwrap_err()
            .to_string()
            .contains("outside the vocabulary"));
    }

    #[test]
    fn two_losses_of_one_forward_pass_backpropagate_separately() {
        // Each backward pass of a graph runs the op's backward; the second one recomputes the
        // log-sum-exp the first consumed, and gets the same gradients.
        let (hidden, weight, bias, targets, weights) = setup(40, 6, 700, 3);
        let loss = linear_cross_entropy(&hidden, &weight, &bias, &targets, &weights).unwrap();
        let first = loss.backward().unwrap();
        let second = (&loss * 1.0).unwrap().backward().unwrap();
        for var in [&hidden, &weight, &bias] {
            let d = max_abs_diff(first.get(var).unwrap(), second.get(var).unwrap());
            assert!(d < 1e-6, "{d}");
        }
    }
}
