//! SASRec's masked self-attention (scaled dot products, softmax, dropout on the weights, the
//! weighted sum of values) as one fused CPU op with its own backward.
//!
//! Composed from candle ops, attention was a dozen tensor ops forward (head split copies, two
//! batched matmuls, scale, mask, a five-op softmax, dropout, merge) and more backward, each
//! allocating and each gradient accumulated into a zero-filled buffer; none of the elementwise
//! ones uses a second thread. Here each history is two small `gemm`s per head forward and four
//! backward on its own slices, histories spread over rayon's threads (each writes only its own
//! rows, so results do not depend on the thread count). Masked weights are set to zero rather
//! than pushed through `exp` with -1e9 added. The softmax weights are kept for the backward.
//!
//! Masking is [`crate::batches::SequenceBatch::causal_mask`]'s: slot `q` attends to itself and to
//! the earlier slots that hold an item. The dropout mask (`1/keep` or 0 per weight) comes from
//! the caller's seeded stream, drawn exactly as `Mode::dropout` draws it for the composed
//! attention, so both paths consume the same random numbers. First order only: callers compose
//! attention from candle ops when second-order gradients are on.

use std::borrow::Cow;
use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;
use socgan_nn::gemm::{cpu_slice, host_values, sgemm};

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

    /// Elements of each `[batch * length, hidden]` operand.
    fn operand_count(&self) -> usize {
        self.batch * self.length * self.hidden
    }
}

/// A matrix inside a slice: element `(i, j)` at `i * row_stride + j * col_stride`.
#[derive(Clone, Copy)]
struct Strided<'a> {
    data: &'a [f32],
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Strided<'a> {
    fn rows(data: &'a [f32], row_stride: usize) -> Self {
        Self {
            data,
            row_stride,
            col_stride: 1,
        }
    }

    fn transposed(self) -> Self {
        Self {
            data: self.data,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }
}

/// `dst[m, n] = lhs[m, k] @ rhs[k, n]`, `dst` rows `dst_stride` apart.
fn product(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_stride: usize,
    lhs: Strided,
    rhs: Strided,
) {
    sgemm(
        m,
        n,
        k,
        dst,
        dst_stride,
        false,
        lhs.data,
        lhs.row_stride,
        lhs.col_stride,
        rhs.data,
        rhs.row_stride,
        rhs.col_stride,
    );
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

    /// The weights of history `b`, head `head` times their dropout multipliers.
    fn dropped<'w>(&self, b: usize, head: usize, weights: &'w [f32]) -> Cow<'w, [f32]> {
        match &self.dropout {
            Some(mask) => weights
                .iter()
                .zip(&mask[self.square(b, head)])
                .map(|(w, m)| w * m)
                .collect(),
            None => Cow::Borrowed(weights),
        }
    }
}

impl MaskedAttention {
    /// Forward for history `b`: its `[length, hidden]` queries, keys and values in, its output
    /// rows and `[heads, length, length]` softmax weights out.
    fn forward_history(
        &self,
        b: usize,
        (q, k, v): (&[f32], &[f32], &[f32]),
        out: &mut [f32],
        weights: &mut [f32],
    ) {
        let (l, h, d) = (self.shape.length, self.shape.hidden, self.shape.head_dim());
        let scale = 1.0 / (d as f32).sqrt();
        for head in 0..self.shape.heads {
            let w = &mut weights[head * l * l..(head + 1) * l * l];
            let c = head * d;
            // S = Q K^T over the head's columns `c..c + d`.
            let keys = Strided::rows(&k[c..], h).transposed();
            product(l, l, d, w, l, Strided::rows(&q[c..], h), keys);
            w.iter_mut().for_each(|s| *s *= scale);
            self.softmax(b, w);
            let dropped = self.dropped(b, head, w);
            product(
                l,
                d,
                l,
                &mut out[c..],
                h,
                Strided::rows(&dropped, l),
                Strided::rows(&v[c..], h),
            );
        }
    }

    /// Backward for history `b`: given its inputs, weights and output gradient `dout`, writes its
    /// rows of `dq`, `dk`, `dv`.
    fn backward_history(
        &self,
        b: usize,
        (q, k, v, dout): (&[f32], &[f32], &[f32], &[f32]),
        weights: &[f32],
        (dq, dk, dv): (&mut [f32], &mut [f32], &mut [f32]),
    ) {
        let (l, h, d) = (self.shape.length, self.shape.hidden, self.shape.head_dim());
        let scale = 1.0 / (d as f32).sqrt();
        let mut dweights = vec![0f32; l * l];
        for head in 0..self.shape.heads {
            let c = head * d;
            let w = &weights[self.square(b, head)];
            let dropped = self.dropped(b, head, w);
            let dout_head = Strided::rows(&dout[c..], h);
            // dV = (P * D)^T dO ; d(P * D) = dO V^T, then through the dropout multipliers.
            product(
                l,
                d,
                l,
                &mut dv[c..],
                h,
                Strided::rows(&dropped, l).transposed(),
                dout_head,
            );
            let values = Strided::rows(&v[c..], h).transposed();
            product(l, l, d, &mut dweights, l, dout_head, values);
            if let Some(mask) = &self.dropout {
                for (g, m) in dweights.iter_mut().zip(&mask[self.square(b, head)]) {
                    *g *= m;
                }
            }
            // Softmax backward, the score scale folded in: dS = P (dP - <dP, P>) / sqrt(d).
            for (p, g) in w.chunks_exact(l).zip(dweights.chunks_exact_mut(l)) {
                let inner: f32 = p.iter().zip(g.iter()).map(|(p, g)| p * g).sum();
                for (g, p) in g.iter_mut().zip(p) {
                    *g = p * (*g - inner) * scale;
                }
            }
            // dQ = dS K ; dK = dS^T Q
            let ds = Strided::rows(&dweights, l);
            product(l, d, l, &mut dq[c..], h, ds, Strided::rows(&k[c..], h));
            product(
                l,
                d,
                l,
                &mut dk[c..],
                h,
                ds.transposed(),
                Strided::rows(&q[c..], h),
            );
        }
    }

    fn check(&self, operands: [&Layout; 3]) -> candle_core::Result<()> {
        let shape = self.shape;
        let slots = shape.batch * shape.length;
        let fits = shape.heads > 0
            && shape.hidden.is_multiple_of(shape.heads)
            && self.present.len() == slots
            && self
                .dropout
                .as_ref()
                .is_none_or(|m| m.len() == shape.weight_count())
            && operands
                .iter()
                .all(|l| l.shape().dims() == [slots, shape.hidden]);
        if fits {
            return Ok(());
        }
        Err(candle_core::Error::Msg(format!(
            "masked-attention: operands {:?}, {} presence flags and {:?} dropout multipliers do not fit {shape:?}",
            operands.map(|l| l.shape().dims().to_vec()),
            self.present.len(),
            self.dropout.as_ref().map(Vec::len),
        )))
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
        self.check([l1, l2, l3])?;
        let q = cpu_slice(s1, l1, "attention queries")?;
        let k = cpu_slice(s2, l2, "attention keys")?;
        let v = cpu_slice(s3, l3, "attention values")?;
        let (l, h, heads) = (self.shape.length, self.shape.hidden, self.shape.heads);
        let mut out = vec![0f32; self.shape.operand_count()];
        let mut weights = vec![0f32; self.shape.weight_count()];
        out.par_chunks_mut(l * h)
            .zip(weights.par_chunks_mut(heads * l * l))
            .enumerate()
            .for_each(|(b, (out, weights))| {
                let rows = b * l * h..(b + 1) * l * h;
                let inputs = (&q[rows.clone()], &k[rows.clone()], &v[rows]);
                self.forward_history(b, inputs, out, weights);
            });
        *self.saved.lock().expect("saved lock") = Some(weights);
        Ok((CpuStorage::F32(out), Shape::from((self.shape.batch * l, h))))
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
        let (q, k, v, dout) = (
            host_values(q)?,
            host_values(k)?,
            host_values(v)?,
            host_values(grad)?,
        );
        let rows = self.shape.length * self.shape.hidden;
        let mut dq = vec![0f32; self.shape.operand_count()];
        let mut dk = vec![0f32; self.shape.operand_count()];
        let mut dv = vec![0f32; self.shape.operand_count()];
        dq.par_chunks_mut(rows)
            .zip(dk.par_chunks_mut(rows))
            .zip(dv.par_chunks_mut(rows))
            .enumerate()
            .for_each(|(b, ((dq, dk), dv))| {
                let r = b * rows..(b + 1) * rows;
                let inputs = (&q[r.clone()], &k[r.clone()], &v[r.clone()], &dout[r]);
                self.backward_history(b, inputs, weights, (dq, dk, dv));
            });
        let device = grad.device();
        let (n, h) = (self.shape.batch * self.shape.length, self.shape.hidden);
        let back = |g: Vec<f32>| Tensor::from_vec(g, (n, h), device);
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
