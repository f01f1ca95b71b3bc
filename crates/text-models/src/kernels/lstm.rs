//! A fused LSTM layer over a whole sequence, forward and backward (BPTT) in one op.
//!
//! Built from candle ops, a SeqGAN-sized LSTM step is a dozen tiny tensor ops ([64, 128]) and its
//! backward two dozen more; at 20 steps that is about a thousand dispatches and allocations per
//! batch, which do not parallelise and dominate once the vocabulary-sized work is fused. Here the
//! recurrence is two loops over time with one small `gemm` per step each way; the gate
//! activations and cells are kept from the forward pass for the backward.
//!
//! Inputs are the input projections `x W_ih + b` for every position (hoisted out of the time loop
//! by the caller, one large matmul) and `W_hh`; the output is every hidden state. Gate columns are
//! ordered input, forget, cell, output; the initial state is zero.

use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};

use socgan_nn::fast_math;
use socgan_nn::gemm::{cpu_slice, host_values, sgemm};

struct Saved {
    /// Activated gates per step, time-major `[T][B][4H]`.
    gates: Vec<f32>,
    /// Cell states `[T][B][H]`, and their tanh.
    cells: Vec<f32>,
    cell_tanh: Vec<f32>,
    /// Hidden states, time-major `[T][B][H]`.
    hidden: Vec<f32>,
}

struct LstmSequence {
    saved: Mutex<Option<Saved>>,
}

impl CustomOp2 for LstmSequence {
    fn name(&self) -> &'static str {
        "lstm-sequence"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let xproj = cpu_slice(s1, l1, "lstm input projection")?;
        let w_hh = cpu_slice(s2, l2, "lstm recurrent weight")?;
        let (b, t, four_h) = l1.shape().dims3()?;
        let h = four_h / 4;
        let mut gates = vec![0f32; t * b * four_h];
        let mut cells = vec![0f32; t * b * h];
        let mut cell_tanh = vec![0f32; t * b * h];
        let mut hidden = vec![0f32; t * b * h];
        let mut out = vec![0f32; b * t * h];
        for step in 0..t {
            let z = &mut gates[step * b * four_h..(step + 1) * b * four_h];
            for row in 0..b {
                z[row * four_h..(row + 1) * four_h].copy_from_slice(
                    &xproj[(row * t + step) * four_h..(row * t + step + 1) * four_h],
                );
            }
            if step > 0 {
                let h_prev = &hidden[(step - 1) * b * h..step * b * h];
                sgemm(b, four_h, h, z, four_h, true, h_prev, h, 1, w_hh, four_h, 1);
            }
            for row in 0..b {
                let zr = &mut z[row * four_h..(row + 1) * four_h];
                // Gate columns: input and forget (sigmoid), cell candidate (tanh), output (sigmoid).
                fast_math::sigmoid_in_place(&mut zr[..2 * h]);
                fast_math::tanh_in_place(&mut zr[2 * h..3 * h]);
                fast_math::sigmoid_in_place(&mut zr[3 * h..]);
                let at = (step * b + row) * h;
                for j in 0..h {
                    let c_prev = if step > 0 { cells[at - b * h + j] } else { 0.0 };
                    cells[at + j] = zr[h + j] * c_prev + zr[j] * zr[2 * h + j];
                }
                let tc = &mut cell_tanh[at..at + h];
                tc.copy_from_slice(&cells[at..at + h]);
                fast_math::tanh_in_place(tc);
                for j in 0..h {
                    let hv = zr[3 * h + j] * tc[j];
                    hidden[at + j] = hv;
                    out[(row * t + step) * h + j] = hv;
                }
            }
        }
        *self.saved.lock().expect("saved lock") = Some(Saved {
            gates,
            cells,
            cell_tanh,
            hidden,
        });
        Ok((CpuStorage::F32(out), Shape::from((b, t, h))))
    }

    fn bwd(
        &self,
        xproj: &Tensor,
        w_hh: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (b, t, four_h) = xproj.dims3()?;
        let h = four_h / 4;
        let saved = self
            .saved
            .lock()
            .expect("saved lock")
            .take()
            .ok_or_else(|| {
                candle_core::Error::Msg("lstm-sequence: backward without forward state".into())
            })?;
        let w = host_values(w_hh)?;
        let dout = host_values(grad)?;
        let mut dxproj = vec![0f32; b * t * four_h];
        let mut dw = vec![0f32; h * four_h];
        let mut dh_next = vec![0f32; b * h];
        let mut dc_next = vec![0f32; b * h];
        let mut dz = vec![0f32; b * four_h];
        for step in (0..t).rev() {
            let gates = &saved.gates[step * b * four_h..(step + 1) * b * four_h];
            for row in 0..b {
                for j in 0..h {
                    let k = row * h + j;
                    let (i, f, g, o) = (
                        gates[row * four_h + j],
                        gates[row * four_h + h + j],
                        gates[row * four_h + 2 * h + j],
                        gates[row * four_h + 3 * h + j],
                    );
                    let c_prev = if step > 0 {
                        saved.cells[(step - 1) * b * h + k]
                    } else {
                        0.0
                    };
                    let tc = saved.cell_tanh[step * b * h + k];
                    let dh = dout[(row * t + step) * h + j] + dh_next[k];
                    let dc = dh * o * (1.0 - tc * tc) + dc_next[k];
                    dc_next[k] = dc * f;
                    let zr = &mut dz[row * four_h..(row + 1) * four_h];
                    zr[j] = dc * g * i * (1.0 - i);
                    zr[h + j] = dc * c_prev * f * (1.0 - f);
                    zr[2 * h + j] = dc * i * (1.0 - g * g);
                    zr[3 * h + j] = dh * tc * o * (1.0 - o);
                }
            }
            for row in 0..b {
                dxproj[(row * t + step) * four_h..(row * t + step + 1) * four_h]
                    .copy_from_slice(&dz[row * four_h..(row + 1) * four_h]);
            }
            if step > 0 {
                let h_prev = &saved.hidden[(step - 1) * b * h..step * b * h];
                // dW_hh += h_prev^T @ dz ; dh_prev = dz @ W_hh^T
                sgemm(
                    h, four_h, b, &mut dw, four_h, true, h_prev, 1, h, &dz, four_h, 1,
                );
                sgemm(
                    b,
                    h,
                    four_h,
                    &mut dh_next,
                    h,
                    false,
                    &dz,
                    four_h,
                    1,
                    &w,
                    1,
                    four_h,
                );
            }
        }
        let device = xproj.device();
        Ok((
            Some(Tensor::from_vec(dxproj, (b, t, four_h), device)?),
            Some(Tensor::from_vec(dw, (h, four_h), device)?),
        ))
    }
}

/// Hidden states `[B, T, H]` of an LSTM run over input projections `xproj` (`[B, T, 4H]`, bias
/// included) with recurrent weight `w_hh` (`[H, 4H]`), from a zero state. Differentiable with
/// respect to both.
pub fn lstm_sequence(xproj: &Tensor, w_hh: &Tensor) -> crate::Result<Tensor> {
    if socgan_nn::gemm::use_fused(xproj, w_hh) {
        let op = LstmSequence {
            saved: Mutex::new(None),
        };
        return Ok(xproj.contiguous()?.apply_op2(&w_hh.contiguous()?, op)?);
    }
    reference_lstm_sequence(xproj, w_hh)
}

/// The same recurrence from candle ops, one step at a time.
pub fn reference_lstm_sequence(xproj: &Tensor, w_hh: &Tensor) -> crate::Result<Tensor> {
    let (b, t, four_h) = xproj.dims3()?;
    let h = four_h / 4;
    let mut hs = Vec::with_capacity(t);
    let mut h_prev = Tensor::zeros((b, h), xproj.dtype(), xproj.device())?;
    let mut c_prev = h_prev.clone();
    for step in 0..t {
        let z = (xproj.narrow(1, step, 1)?.squeeze(1)? + h_prev.matmul(w_hh)?)?;
        let sig = candle_nn::ops::sigmoid(&z)?;
        let (i, f, o) = (
            sig.narrow(1, 0, h)?,
            sig.narrow(1, h, h)?,
            sig.narrow(1, 3 * h, h)?,
        );
        let g = z.narrow(1, 2 * h, h)?.tanh()?;
        c_prev = ((f * c_prev)? + (i * g)?)?;
        h_prev = (o * c_prev.tanh()?)?;
        hs.push(h_prev.clone());
    }
    Ok(Tensor::stack(&hs, 1)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};
    use gan_core::SeededRng;

    #[test]
    fn fused_lstm_matches_reference_values_and_gradients() {
        for (b, t, h) in [(3, 5, 4), (64, 20, 32), (1, 1, 2)] {
            let mut rng = SeededRng::new((b * t + h) as u64);
            let d = &Device::Cpu;
            let x = Var::from_tensor(&rng.normal((b, t, 4 * h), 0.0, 1.0, d).unwrap()).unwrap();
            let w = Var::from_tensor(&rng.normal((h, 4 * h), 0.0, 0.4, d).unwrap()).unwrap();
            let fused = lstm_sequence(&x, &w).unwrap();
            let plain = reference_lstm_sequence(&x, &w).unwrap();
            let diff = socgan_nn::equivalence::max_abs_diff;
            assert!(diff(&fused, &plain) < 1e-5);
            let probe = rng.normal((b, t, h), 0.0, 1.0, d).unwrap();
            let vars = [&x, &w];
            let diffs = socgan_nn::equivalence::max_gradient_diffs(&fused, &plain, &probe, &vars);
            for (v, d) in vars.iter().zip(diffs) {
                assert!(d < 1e-5, "gradient of {:?} differs by {d}", v.dims());
            }
        }
    }
}
