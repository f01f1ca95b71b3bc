//! Optimised CPU kernels for the vocabulary-sized part of a token generator, with plain candle
//! reference implementations beside them (the equivalence tests compare the two).
//!
//! A SeqGAN-sized batch has 1,280 positions over a 5,000-word vocabulary: the logits are a
//! 25 MB matrix. Built from candle ops, each of matmul, bias add, log-softmax, gather and their
//! backward passes allocates and sweeps a fresh 25 MB tensor; that is where a direct candle port
//! spends its time (see `../shared/GUIDE.md`). Here the vocabulary projection, the softmax and
//! the cross-entropy are one operation with its own backward, working on cache-sized tiles:
//! - forward: per tile of 32 rows, logits by `gemm`, then a log-sum-exp per row (kept for the
//!   backward) and the target's log-probability;
//! - backward: per block of 512 vocabulary columns, the logits are recomputed tile by tile (cheaper
//!   than storing 25 MB), turned into `p - onehot`, and contracted into `dW`, `db` and a partial
//!   `dh`; the partial `dh` are summed in block order, so results do not depend on the number of
//!   threads.

pub mod conv;
pub mod fast_math;
pub mod lstm;
pub mod reference;

pub use conv::conv_max_pool;
pub use lstm::lstm_sequence;

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::{Error, Result};

/// Rows per forward tile: 32 rows of a 5,000-word vocabulary are 640 KB, about an L2 cache.
const ROW_TILE: usize = 32;
/// Vocabulary columns per backward block.
const VOCAB_BLOCK: usize = 512;
/// Rows per backward tile within a vocabulary block.
const BACKWARD_ROW_TILE: usize = 128;

/// Row-major `dst[m, n] (+)= lhs[m, k] @ rhs[k, n]`, every operand given by its strides.
#[allow(clippy::too_many_arguments)]
fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_rs: usize,
    accumulate: bool,
    lhs: &[f32],
    lhs_rs: usize,
    lhs_cs: usize,
    rhs: &[f32],
    rhs_rs: usize,
    rhs_cs: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    // Bounds of the furthest element each operand touches.
    assert!(dst.len() > (m - 1) * dst_rs + (n - 1), "dst too small");
    if k > 0 {
        assert!(
            lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs,
            "lhs too small"
        );
        assert!(
            rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs,
            "rhs too small"
        );
    }
    // SAFETY: the asserts above keep every access inside the slices; dst does not alias lhs/rhs
    // (it is a distinct &mut).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// `logits[r, :] = bias + hidden[r, :] @ weight` for the rows of one tile.
fn tile_logits(
    hidden: &[f32],
    weight: &[f32],
    bias: &[f32],
    hidden_dim: usize,
    vocab: usize,
    logits: &mut [f32],
) {
    let rows = hidden.len() / hidden_dim;
    for r in 0..rows {
        logits[r * vocab..(r + 1) * vocab].copy_from_slice(bias);
    }
    sgemm(
        rows, vocab, hidden_dim, logits, vocab, true, hidden, hidden_dim, 1, weight, vocab, 1,
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
    let mut exps = vec![0f32; n * vocab];
    let mut inv_sums = vec![0f32; n];
    let mut nll = vec![0f32; n];
    hidden
        .par_chunks(ROW_TILE * hidden_dim)
        .zip(exps.par_chunks_mut(ROW_TILE * vocab))
        .zip(inv_sums.par_chunks_mut(ROW_TILE))
        .zip(nll.par_chunks_mut(ROW_TILE))
        .zip(targets.par_chunks(ROW_TILE))
        .for_each(|((((h, tile), inv), nll), t)| {
            tile_logits(h, weight, bias, hidden_dim, vocab, tile);
            for r in 0..t.len() {
                let row = &mut tile[r * vocab..(r + 1) * vocab];
                let m = fast_math::max(row);
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

fn cpu_slice<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
    what: &str,
) -> candle_core::Result<&'a [f32]> {
    let (start, end) = layout.contiguous_offsets().ok_or_else(|| {
        candle_core::Error::Msg(format!("linear_cross_entropy: {what} must be contiguous"))
    })?;
    match storage {
        CpuStorage::F32(v) => Ok(&v[start..end]),
        _ => Err(candle_core::Error::Msg(format!(
            "linear_cross_entropy: {what} must be f32"
        ))),
    }
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
        // The forward result is consumed: candle runs an op's backward once per graph.
        let saved = std::mem::replace(&mut *self.saved.lock().expect("saved lock"), Saved::Nothing);
        if matches!(saved, Saved::Nothing) {
            return Err(candle_core::Error::Msg(
                "linear_cross_entropy: backward without forward state".into(),
            ));
        }
        let scale: Vec<f32> = self.row_weights.iter().map(|x| x * upstream).collect();
        let targets = &self.targets;
        let device = hidden.device();
        if let Saved::Softmax { mut exps, inv_sums } = saved {
            let (dh, dw, db) = backward_from_softmax(
                &mut exps, &inv_sums, &scale, targets, &h, &w, hidden_dim, vocab,
            );
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

fn use_fused(hidden: &Tensor, weight: &Tensor) -> bool {
    hidden.device().is_cpu() && hidden.dtype() == DType::F32 && weight.dtype() == DType::F32
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

/// How the next token is drawn from the generator's distribution.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplingConfig {
    /// Softmax temperature; 1 samples the model's distribution.
    pub temperature: f32,
    /// Keep only the `k` most likely tokens.
    pub top_k: Option<usize>,
    /// Keep the smallest set of most likely tokens whose probability reaches `p` (nucleus).
    pub top_p: Option<f32>,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_k: None,
            top_p: None,
        }
    }
}

impl SamplingConfig {
    pub fn validate(&self) -> Result<()> {
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(Error::Config(format!(
                "temperature must be > 0, got {}",
                self.temperature
            )));
        }
        if self.top_k == Some(0) {
            return Err(Error::Config("top_k must be at least 1".into()));
        }
        if self.top_p.is_some_and(|p| !(p > 0.0 && p <= 1.0)) {
            return Err(Error::Config("top_p must be in (0, 1]".into()));
        }
        Ok(())
    }
}

/// Draws one token per row of `hidden` (`[B, H]`, row-major) from
/// `softmax((hidden @ weight + bias) / temperature)`, restricted by top-k / top-p, by inverting
/// the CDF at `uniforms[row]`. Rows are independent, so the result does not depend on threads.
pub fn sample_rows(
    hidden: &[f32],
    weight: &[f32],
    bias: &[f32],
    hidden_dim: usize,
    config: &SamplingConfig,
    uniforms: &[f32],
) -> Vec<u32> {
    let vocab = bias.len();
    let rows = uniforms.len();
    let mut out = vec![0u32; rows];
    let inv_t = 1.0 / config.temperature;
    let truncate = config.top_k.is_some() || config.top_p.is_some();
    hidden
        .par_chunks(ROW_TILE * hidden_dim)
        .zip(out.par_chunks_mut(ROW_TILE))
        .zip(uniforms.par_chunks(ROW_TILE))
        .for_each_init(
            || {
                (
                    vec![0f32; ROW_TILE * vocab],
                    vec![0f32; vocab],
                    Vec::<u32>::new(),
                )
            },
            |(logits, probs, order), ((h, out), u)| {
                tile_logits(h, weight, bias, hidden_dim, vocab, logits);
                for r in 0..u.len() {
                    let row = &logits[r * vocab..(r + 1) * vocab];
                    let m = fast_math::max(row);
                    let total = fast_math::exp_shifted_sum(row, m, inv_t, probs);
                    out[r] = if truncate {
                        truncated_draw(probs, total, config, u[r], order)
                    } else {
                        cdf_draw(probs, total * u[r])
                    };
                }
            },
        );
    out
}

fn cdf_draw(probs: &[f32], target: f32) -> u32 {
    let mut acc = 0f32;
    for (i, p) in probs.iter().enumerate() {
        acc += p;
        if acc > target {
            return i as u32;
        }
    }
    // Rounding left the target at the very end: the last token with non-zero mass.
    probs.iter().rposition(|&p| p > 0.0).unwrap_or(0) as u32
}

fn truncated_draw(
    probs: &[f32],
    total: f32,
    config: &SamplingConfig,
    u: f32,
    order: &mut Vec<u32>,
) -> u32 {
    order.clear();
    order.extend(0..probs.len() as u32);
    let k = config.top_k.unwrap_or(probs.len()).min(probs.len());
    let by_prob = |a: &u32, b: &u32| {
        probs[*b as usize]
            .total_cmp(&probs[*a as usize])
            .then(a.cmp(b))
    };
    if k < order.len() {
        order.select_nth_unstable_by(k - 1, by_prob);
        order.truncate(k);
    }
    order.sort_unstable_by(by_prob);
    if let Some(p) = config.top_p {
        let mut acc = 0f32;
        let mut keep = order.len();
        for (n, &i) in order.iter().enumerate() {
            acc += probs[i as usize] / total;
            if acc >= p {
                keep = n + 1;
                break;
            }
        }
        order.truncate(keep);
    }
    let kept: f32 = order.iter().map(|&i| probs[i as usize]).sum();
    let target = u * kept;
    let mut acc = 0f32;
    for &i in order.iter() {
        acc += probs[i as usize];
        if acc > target {
            return i;
        }
    }
    *order.last().expect("at least one token kept")
}

/// Largest absolute difference between two tensors (the kernel equivalence tests).
#[cfg(test)]
pub(crate) fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .and_then(|d| d.abs())
        .and_then(|d| d.flatten_all())
        .and_then(|d| d.max(0))
        .and_then(|d| d.to_scalar::<f32>())
        .expect("same shapes")
}

/// For each of `vars`, the largest difference between its gradients through `fused` and through
/// `plain`, both projected on the same random `probe` (so every output element matters).
#[cfg(test)]
pub(crate) fn max_gradient_diffs(
    fused: &Tensor,
    plain: &Tensor,
    probe: &Tensor,
    vars: &[&candle_core::Var],
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

#[cfg(test)]
mod tests {
    use super::*;
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
    fn sampling_follows_the_distribution_and_truncation() {
        // hidden = 1, weight row = log-probabilities: the softmax is exactly `probs`.
        let probs = [0.5f32, 0.3, 0.15, 0.05];
        let weight: Vec<f32> = probs.iter().map(|p| p.ln()).collect();
        let bias = vec![0f32; 4];
        let n = 40_000;
        let hidden = vec![1f32; n];
        let mut rng = SeededRng::new(4);
        let uniforms = rng.uniform_vec(n, 0.0, 1.0);
        let count = |cfg: &SamplingConfig| {
            let mut c = [0usize; 4];
            for t in sample_rows(&hidden, &weight, &bias, 1, cfg, &uniforms) {
                c[t as usize] += 1;
            }
            c.map(|x| x as f32 / n as f32)
        };
        let full = count(&SamplingConfig::default());
        for (f, p) in full.iter().zip(probs) {
            assert!((f - p).abs() < 0.01, "{full:?}");
        }
        let top2 = count(&SamplingConfig {
            top_k: Some(2),
            ..Default::default()
        });
        assert!(
            (top2[0] - 0.625).abs() < 0.01 && top2[2] == 0.0 && top2[3] == 0.0,
            "{top2:?}"
        );
        let nucleus = count(&SamplingConfig {
            top_p: Some(0.9),
            ..Default::default()
        });
        assert!(nucleus[3] == 0.0 && nucleus[2] > 0.1, "{nucleus:?}");
        let cold = count(&SamplingConfig {
            temperature: 0.05,
            ..Default::default()
        });
        assert!(cold[0] > 0.99, "{cold:?}");
    }
}
