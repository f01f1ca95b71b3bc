//! A fused GRU layer over a whole (right-aligned, padded) batch of histories, forward and
//! backward (BPTT) in one op.
//!
//! Built from candle ops, one GRU step is a dozen small tensor ops and its backward two dozen
//! more, each with an allocation and (in the backward) a zero-filled gradient buffer; over 50
//! steps that made a GRU4Rec batch on Amazon Games take over a second. Here the recurrence is two
//! loops over time, one small `gemm` per step forward and two backward (the pattern of
//! text-models' LSTM kernel); gate activations and states are kept from the forward pass for the
//! backward, which is first order only (callers compose the GRU from candle ops when
//! second-order gradients are on).
//!
//! Inputs: the input projections `x W_ih + b_ih` for every slot (hoisted out of the time loop by
//! the caller, one large matmul), `W_hh` (`[H, 3H]`) and `b_hh` (`[3H]`), gates in PyTorch's
//! order r, z, n; padded slots (`present` 0) keep the state, which starts at zero.

use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor, D};
use socgan_nn::gemm::{cpu_slice, host_values, sgemm};

struct Saved {
    /// Activated gates r, z, n per step, time-major `[T][B][3H]`.
    gates: Vec<f32>,
    /// The recurrent part of the n gate before `r *` (`h W_hn + b_hn`), `[T][B][H]`.
    hidden_n: Vec<f32>,
    /// States after each step, time-major `[T][B][H]`.
    states: Vec<f32>,
}

struct GruSequence {
    /// `[B * T]`, 1 for a real slot, 0 for padding.
    present: Vec<f32>,
    saved: Mutex<Option<Saved>>,
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl GruSequence {
    /// `xproj` `[B, T, 3H]`, `w_hh` `[H, 3H]`, `b_hh` `[3H]`, one presence flag per slot.
    fn check(&self, xproj: &Layout, w_hh: &Layout, b_hh: &Layout) -> candle_core::Result<()> {
        let dims = xproj.shape().dims();
        let fits = match *dims {
            [b, t, three_h] => {
                let h = three_h / 3;
                three_h % 3 == 0
                    && w_hh.shape().dims() == [h, three_h]
                    && b_hh.shape().elem_count() == three_h
                    && self.present.len() == b * t
            }
            _ => false,
        };
        if fits {
            return Ok(());
        }
        Err(candle_core::Error::Msg(format!(
            "gru-sequence: input {dims:?}, recurrent weight {:?}, bias {:?} and {} presence flags do not fit",
            w_hh.shape().dims(),
            b_hh.shape().dims(),
            self.present.len()
        )))
    }
}

impl CustomOp3 for GruSequence {
    fn name(&self) -> &'static str {
        "gru-sequence"
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
        self.check(l1, l2, l3)?;
        let xproj = cpu_slice(s1, l1, "gru input projection")?;
        let w_hh = cpu_slice(s2, l2, "gru recurrent weight")?;
        let b_hh = cpu_slice(s3, l3, "gru recurrent bias")?;
        let (b, t, three_h) = l1.shape().dims3()?;
        let h = three_h / 3;
        let mut gates = vec![0f32; t * b * three_h];
        let mut hidden_n = vec![0f32; t * b * h];
        let mut states = vec![0f32; t * b * h];
        let mut out = vec![0f32; b * t * h];
        let mut recurrent = vec![0f32; b * three_h];
        for step in 0..t {
            for row in 0..b {
                recurrent[row * three_h..(row + 1) * three_h].copy_from_slice(b_hh);
            }
            if step > 0 {
                let prev = &states[(step - 1) * b * h..step * b * h];
                sgemm(
                    b,
                    three_h,
                    h,
                    &mut recurrent,
                    three_h,
                    true,
                    prev,
                    h,
                    1,
                    w_hh,
                    three_h,
                    1,
                );
            }
            for row in 0..b {
                let slot = row * t + step;
                let x = &xproj[slot * three_h..(slot + 1) * three_h];
                let gh = &recurrent[row * three_h..(row + 1) * three_h];
                let g = &mut gates[(step * b + row) * three_h..(step * b + row + 1) * three_h];
                let keep = self.present[slot];
                for j in 0..h {
                    let r = sigmoid(x[j] + gh[j]);
                    let z = sigmoid(x[h + j] + gh[h + j]);
                    let n = (x[2 * h + j] + r * gh[2 * h + j]).tanh();
                    g[j] = r;
                    g[h + j] = z;
                    g[2 * h + j] = n;
                    hidden_n[(step * b + row) * h + j] = gh[2 * h + j];
                    let prev = if step > 0 {
                        states[((step - 1) * b + row) * h + j]
                    } else {
                        0.0
                    };
                    let next = (1.0 - z) * n + z * prev;
                    let state = keep * next + (1.0 - keep) * prev;
                    states[(step * b + row) * h + j] = state;
                    out[slot * h + j] = state;
                }
            }
        }
        *self.saved.lock().expect("saved lock") = Some(Saved {
            gates,
            hidden_n,
            states,
        });
        Ok((CpuStorage::F32(out), Shape::from((b, t, h))))
    }

    fn bwd(
        &self,
        xproj: &Tensor,
        w_hh: &Tensor,
        _b_hh: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (b, t, three_h) = xproj.dims3()?;
        let h = three_h / 3;
        // Borrowed, not taken: a graph may be differentiated more than once.
        let guard = self.saved.lock().expect("saved lock");
        let saved = guard.as_ref().ok_or_else(|| {
            candle_core::Error::Msg("gru-sequence: backward without forward state".into())
        })?;
        let w = host_values(w_hh)?;
        let dout = host_values(grad)?;
        let mut dxproj = vec![0f32; b * t * three_h];
        let mut dw = vec![0f32; h * three_h];
        let mut db = vec![0f32; three_h];
        // The gradient reaching the state after `step` from later steps.
        let mut dstate = vec![0f32; b * h];
        let mut dgh = vec![0f32; b * three_h];
        for step in (0..t).rev() {
            for row in 0..b {
                let slot = row * t + step;
                let keep = self.present[slot];
                let g = &saved.gates[(step * b + row) * three_h..(step * b + row + 1) * three_h];
                let dg = &mut dgh[row * three_h..(row + 1) * three_h];
                for j in 0..h {
                    let k = row * h + j;
                    let (r, z, n) = (g[j], g[h + j], g[2 * h + j]);
                    let prev = if step > 0 {
                        saved.states[(step - 1) * b * h + k]
                    } else {
                        0.0
                    };
                    let ds = dout[slot * h + j] + dstate[k];
                    let dnext = keep * ds;
                    let dpre_n = dnext * (1.0 - z) * (1.0 - n * n);
                    let dpre_z = dnext * (prev - n) * z * (1.0 - z);
                    let dpre_r = dpre_n * saved.hidden_n[(step * b + row) * h + j] * r * (1.0 - r);
                    dg[j] = dpre_r;
                    dg[h + j] = dpre_z;
                    dg[2 * h + j] = dpre_n * r;
                    let dx = &mut dxproj[slot * three_h..(slot + 1) * three_h];
                    dx[j] = dpre_r;
                    dx[h + j] = dpre_z;
                    dx[2 * h + j] = dpre_n;
                    // What reaches the previous state directly: through padding and through z.
                    dstate[k] = (1.0 - keep) * ds + dnext * z;
                }
                for (acc, v) in db.iter_mut().zip(dg.iter()) {
                    *acc += v;
                }
            }
            if step > 0 {
                let prev = &saved.states[(step - 1) * b * h..step * b * h];
                // dW_hh += prev^T @ dgh ; dstate += dgh @ W_hh^T
                sgemm(
                    h, three_h, b, &mut dw, three_h, true, prev, 1, h, &dgh, three_h, 1,
                );
                sgemm(
                    b,
                    h,
                    three_h,
                    &mut dstate,
                    h,
                    true,
                    &dgh,
                    three_h,
                    1,
                    &w,
                    1,
                    three_h,
                );
            }
        }
        let device = xproj.device();
        Ok((
            Some(Tensor::from_vec(dxproj, (b, t, three_h), device)?),
            Some(Tensor::from_vec(dw, (h, three_h), device)?),
            Some(Tensor::from_vec(db, three_h, device)?),
        ))
    }
}

/// States `[B, T, H]` of a GRU run over input projections `xproj` (`[B, T, 3H]`, input bias
/// included) with recurrent weight `w_hh` (`[H, 3H]`) and bias `b_hh` (`[3H]`), from a zero
/// state; where `present` (`[B, T, 1]`) is 0 the state is carried over unchanged.
/// Differentiable with respect to `xproj`, `w_hh` and `b_hh`.
pub fn gru_sequence(
    xproj: &Tensor,
    w_hh: &Tensor,
    b_hh: &Tensor,
    present: &Tensor,
) -> crate::Result<Tensor> {
    if crate::GRADIENTS.allows_fused(xproj, w_hh) {
        let op = GruSequence {
            present: present.flatten_all()?.to_vec1::<f32>()?,
            saved: Mutex::new(None),
        };
        return Ok(xproj
            .contiguous()?
            .apply_op3(&w_hh.contiguous()?, &b_hh.contiguous()?, op)?);
    }
    reference_gru_sequence(xproj, w_hh, b_hh, present)
}

/// The same recurrence from candle ops, one step at a time (what runs off the CPU; slicing the
/// hoisted projection per step costs a projection-sized zero buffer per step in its backward).
pub fn reference_gru_sequence(
    xproj: &Tensor,
    w_hh: &Tensor,
    b_hh: &Tensor,
    present: &Tensor,
) -> crate::Result<Tensor> {
    let (b, t, three_h) = xproj.dims3()?;
    let h = three_h / 3;
    let mut state = Tensor::zeros((b, h), xproj.dtype(), xproj.device())?;
    let mut states = Vec::with_capacity(t);
    for step in 0..t {
        let gates_in = xproj.narrow(1, step, 1)?.squeeze(1)?;
        let gates_h = state.matmul(w_hh)?.broadcast_add(b_hh)?;
        let part = |x: &Tensor, i: usize| x.narrow(D::Minus1, i * h, h);
        let r = candle_nn::ops::sigmoid(&(part(&gates_in, 0)? + part(&gates_h, 0)?)?)?;
        let z = candle_nn::ops::sigmoid(&(part(&gates_in, 1)? + part(&gates_h, 1)?)?)?;
        let n = (part(&gates_in, 2)? + (r * part(&gates_h, 2)?)?)?.tanh()?;
        let next = ((&n - (&z * &n)?)? + (&z * &state)?)?;
        let keep = present.narrow(1, step, 1)?.squeeze(1)?;
        state = (state.broadcast_mul(&(1.0 - &keep)?)? + next.broadcast_mul(&keep)?)?;
        states.push(state.clone());
    }
    Ok(Tensor::stack(&states, 1)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};
    use gan_core::SeededRng;

    #[test]
    fn fused_gru_matches_reference_values_and_gradients() {
        for (b, t, h) in [(3, 5, 4), (16, 12, 32), (1, 1, 2)] {
            let mut rng = SeededRng::new((b * t + h) as u64);
            let d = &Device::Cpu;
            let x = Var::from_tensor(&rng.normal((b, t, 3 * h), 0.0, 1.0, d).unwrap()).unwrap();
            let w = Var::from_tensor(&rng.normal((h, 3 * h), 0.0, 0.4, d).unwrap()).unwrap();
            let bias = Var::from_tensor(&rng.normal(3 * h, 0.0, 0.4, d).unwrap()).unwrap();
            // Right-aligned histories of different lengths: row i pads its first i % t slots.
            let present: Vec<f32> = (0..b)
                .flat_map(|row| (0..t).map(move |s| if s < row % t { 0.0 } else { 1.0 }))
                .collect();
            let present = Tensor::from_vec(present, (b, t, 1), d).unwrap();
            let fused = gru_sequence(&x, &w, &bias, &present).unwrap();
            let plain = reference_gru_sequence(&x, &w, &bias, &present).unwrap();
            let diff = socgan_nn::equivalence::max_abs_diff;
            assert!(diff(&fused, &plain) < 1e-5);
            let probe = rng.normal((b, t, h), 0.0, 1.0, d).unwrap();
            let vars = [&x, &w, &bias];
            let diffs = socgan_nn::equivalence::max_gradient_diffs(&fused, &plain, &probe, &vars);
            for (v, d) in vars.iter().zip(diffs) {
                assert!(d < 1e-4, "gradient of {:?} differs by {d}", v.dims());
            }
        }
    }
}
