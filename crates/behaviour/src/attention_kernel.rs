//! SASRec's masked self-attention (scaled dot products, softmax, dropout on the weights, the
//! weighted sum of values) as one fused CPU op with its own backward.
//!
//! Composed from candle ops, attention was a dozen tensor ops forward (head split copies, two
//! batched matmuls, scale, mask, a five-op softmax, dropout, merge) and more backward, each
//! allocating and each gradient accumulated into a zero-filled buffer; none of the elementwise
//! ones uses a second thread. Here every (history, head) pair is three small `gemm`s forward and
//! four backward on its own slices, the pairs spread over rayon's threads, the masked entries
//! skipped rather than added -1e9. The softmax weights are kept for the backward.
//!
//! Masking is [`crate::batches::SequenceBatch::causal_mask`]'s: slot `q` attends to itself and to
//! the earlier slots that hold an item. The dropout mask (`1/keep` or 0 per weight) comes from
//! the caller's seeded stream, drawn exactly as `Mode::dropout` draws it for the composed
//! attention, so both paths consume the same random numbers.

use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;
use socgan_nn::gemm::{cpu_slice, sgemm};

/// The shape of one call: `batch` histories of `length` slots, `heads` heads over `hidden`.
#[derive(Clone, Copy, Debug)]
pub struct AttentionShape {
    pub batch: usize,
    pub length: usize,
    pub heads: usize,
    pub hidden: usize,
}

impl AttentionShape {
    fn head_dim(&self) -> usize {
        self.hidden / self.heads
    }

    /// Elements of the `[batch, heads, length, length]` weights.
    pub fn weight_count(&self) -> usize {
        self.batch * self.heads * self.length * self.length
    }
}

struct MaskedAttention {
    shape: AttentionShape,
    /// `[batch * length]`: whether a slot holds an item.
    present: Vec<bool>,
    /// `[batch, heads, length, length]` dropout multipliers, or none (evaluation, p = 0).
    dropout: Option<Vec<f32>>,
    /// Softmax weights `[batch, heads, length, length]` from the forward pass.
    saved: Mutex<Option<Vec<f32>>>,
}

impl MaskedAttention {
    fn allowed(&self, b: usize, q: usize, k: usize) -> bool {
        k == q || (k < q && self.present[b * self.shape.length + k])
    }

    /// The slice of history `b`, head `head` in a `[batch, heads, length, length]` buffer.
    fn square(&self, b: usize, head: usize) -> std::ops::Range<usize> {
        let l = self.shape.length;
        let start = (b * self.shape.heads + head) * l * l;
        start..start + l * l
    }

    /// Masked softmax of `scores` (`[length, length]`, scaled) in place; masked entries become 0.
    fn softmax(&self, b: usize, scores: &mut [f32]) {
        let l = self.shape.length;
        for q in 0..l {
            let row = &mut scores[q * l..(q + 1) * l];
            let mut max = f32::NEG_INFINITY;
            for (k, &s) in row.iter().enumerate() {
                if self.allowed(b, q, k) && s > max {
                    max = s;
                }
            }
            let mut total = 0.0;
            for (k, s) in row.iter_mut().enumerate() {
                *s = if self.allowed(b, q, k) {
                    (*s - max).exp()
                } else {
                    0.0
                };
                total += *s;
            }
            for s in row.iter_mut() {
                *s /= total;
            }
        }
    }

    fn dropped(&self, b: usize, head: usize, weights: &[f32]) -> Vec<f32> {
        match &self.dropout {
            Some(mask) => weights
                .iter()
                .zip(&mask[self.square(b, head)])
                .map(|(w, m)| w * m)
                .collect(),
            None => weights.to_vec(),
        }
    }
}

impl CustomOp3 for MaskedAttention {
    fn name(&self) -> &'static str {
        "masked-attention"
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
        let q = cpu_slice(s1, l1, "attention queries")?;
        let k = cpu_slice(s2, l2, "attention keys")?;
        let v = cpu_slice(s3, l3, "attention values")?;
        let AttentionShape {
            batch,
            length: l,
            heads,
            hidden: h,
        } = self.shape;
        let d = self.shape.head_dim();
        let scale = 1.0 / (d as f32).sqrt();
        let mut out = vec![0f32; batch * l * h];
        let mut weights = vec![0f32; self.shape.weight_count()];
        out.par_chunks_mut(l * h)
            .zip(weights.par_chunks_mut(heads * l * l))
            .enumerate()
            .for_each(|(b, (out, weights))| {
                let rows = b * l * h..(b + 1) * l * h;
                let (q, k, v) = (&q[rows.clone()], &k[rows.clone()], &v[rows]);
                for head in 0..heads {
                    let w = &mut weights[head * l * l..(head + 1) * l * l];
                    let c = head * d;
                    // S = Q K^T: rows of q and k are `h` apart, the head's columns from `c`.
                    sgemm(l, l, d, w, l, false, &q[c..], h, 1, &k[c..], 1, h);
                    w.iter_mut().for_each(|s| *s *= scale);
                    self.softmax(b, w);
                    let dropped = self.dropped(b, head, w);
                    sgemm(
                        l,
                        d,
                        l,
                        &mut out[c..],
                        h,
                        false,
                        &dropped,
                        l,
                        1,
                        &v[c..],
                        h,
                        1,
                    );
                }
            });
        *self.saved.lock().expect("saved lock") = Some(weights);
        Ok((CpuStorage::F32(out), Shape::from((batch * l, h))))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // Borrowed, not taken: a graph may be differentiated more than once.
        let guard = self.saved.lock().expect("saved lock");
        let weights = guard.as_ref().ok_or_else(|| {
            candle_core::Error::Msg("masked-attention: backward without forward".into())
        })?;
        let host = |t: &Tensor| t.contiguous()?.flatten_all()?.to_vec1::<f32>();
        let (q_host, k_host, v_host, dout) = (host(q)?, host(k)?, host(v)?, host(grad)?);
        let AttentionShape {
            batch,
            length: l,
            heads,
            hidden: h,
        } = self.shape;
        let d = self.shape.head_dim();
        let scale = 1.0 / (d as f32).sqrt();
        let mut dq = vec![0f32; batch * l * h];
        let mut dk = vec![0f32; batch * l * h];
        let mut dv = vec![0f32; batch * l * h];
        dq.par_chunks_mut(l * h)
            .zip(dk.par_chunks_mut(l * h))
            .zip(dv.par_chunks_mut(l * h))
            .enumerate()
            .for_each(|(b, ((dq, dk), dv))| {
                let rows = b * l * h..(b + 1) * l * h;
                let (q, k, v, dout) = (
                    &q_host[rows.clone()],
                    &k_host[rows.clone()],
                    &v_host[rows.clone()],
                    &dout[rows],
                );
                let mut dweights = vec![0f32; l * l];
                for head in 0..heads {
                    let c = head * d;
                    let w = &weights[self.square(b, head)];
                    let dropped = self.dropped(b, head, w);
                    // dV = (P * D)^T dO ; d(P * D) = dO V^T
                    sgemm(
                        l,
                        d,
                        l,
                        &mut dv[c..],
                        h,
                        false,
                        &dropped,
                        1,
                        l,
                        &dout[c..],
                        h,
                        1,
                    );
                    sgemm(
                        l,
                        l,
                        d,
                        &mut dweights,
                        l,
                        false,
                        &dout[c..],
                        h,
                        1,
                        &v[c..],
                        1,
                        h,
                    );
                    if let Some(mask) = &self.dropout {
                        for (g, m) in dweights.iter_mut().zip(&mask[self.square(b, head)]) {
                            *g *= m;
                        }
                    }
                    // Softmax backward, the score scale folded in: dS = P (dP - <dP, P>) / sqrt(d).
                    for row in 0..l {
                        let (p, g) = (
                            &w[row * l..(row + 1) * l],
                            &mut dweights[row * l..(row + 1) * l],
                        );
                        let inner: f32 = p.iter().zip(g.iter()).map(|(p, g)| p * g).sum();
                        for (g, p) in g.iter_mut().zip(p) {
                            *g = p * (*g - inner) * scale;
                        }
                    }
                    // dQ = dS K ; dK = dS^T Q
                    sgemm(
                        l,
                        d,
                        l,
                        &mut dq[c..],
                        h,
                        false,
                        &dweights,
                        l,
                        1,
                        &k[c..],
                        h,
                        1,
                    );
                    sgemm(
                        l,
                        d,
                        l,
                        &mut dk[c..],
                        h,
                        false,
                        &dweights,
                        1,
                        l,
                        &q[c..],
                        h,
                        1,
                    );
                }
            });
        let device = q.device();
        let back = |g: Vec<f32>| Tensor::from_vec(g, (batch * l, h), device);
        Ok((Some(back(dq)?), Some(back(dk)?), Some(back(dv)?)))
    }
}

/// Masked multi-head attention over `[batch * length, hidden]` queries, keys and values (head
/// `i` is columns `i * hidden / heads ..`), `[batch * length, hidden]` out; `present` is
/// `[batch * length]` (whether a slot holds an item), `dropout` the weights' `[batch, heads,
/// length, length]` dropout multipliers. Differentiable with respect to `q`, `k` and `v`.
/// CPU `f32` only: callers elsewhere compose it from candle ops.
pub fn masked_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    shape: AttentionShape,
    present: Vec<bool>,
    dropout: Option<Vec<f32>>,
) -> crate::Result<Tensor> {
    let op = MaskedAttention {
        shape,
        present,
        dropout,
        saved: Mutex::new(None),
    };
    Ok(q.contiguous()?
        .apply_op3(&k.contiguous()?, &v.contiguous()?, op)?)
}
