//! Row-major matrix products on host slices, and the plumbing every fused CPU kernel shares.

use candle_core::{CpuStorage, DType, Layout, Tensor};

/// Row-major `dst[m, n] (+)= lhs[m, k] @ rhs[k, n]`, every operand given by its strides.
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
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

/// The contiguous `f32` slice of a CPU storage, or an error naming the operand.
pub fn cpu_slice<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
    what: &str,
) -> candle_core::Result<&'a [f32]> {
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg(format!("{what} must be contiguous")))?;
    match storage {
        CpuStorage::F32(v) => Ok(&v[start..end]),
        _ => Err(candle_core::Error::Msg(format!("{what} must be f32"))),
    }
}

/// A tensor's values on the host, row-major (what a kernel's backward reads its operands as).
pub fn host_values(t: &Tensor) -> candle_core::Result<Vec<f32>> {
    t.contiguous()?.flatten_all()?.to_vec1::<f32>()
}

/// Whether the fused CPU kernels apply: `f32` tensors on the CPU (elsewhere the candle reference
/// compositions run).
pub fn use_fused(hidden: &Tensor, weight: &Tensor) -> bool {
    hidden.device().is_cpu() && hidden.dtype() == DType::F32 && weight.dtype() == DType::F32
}

/// How far a forward pass must be differentiable: the fused CPU kernels' backward passes are
/// first order only, so a pass whose gradient is differentiated again (WGAN-GP's penalty) asks
/// for [`GradientOrder::Second`] and gets candle's compositions instead. Chosen by the caller
/// from its loss, never read from the environment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GradientOrder {
    /// Gradients are taken once: the fused kernels may run.
    #[default]
    First,
    /// A gradient is differentiated again: every op is a candle composition.
    Second,
}

impl GradientOrder {
    /// Whether a fused kernel (first-order backward) may run for `hidden` and `weight`.
    pub fn allows_fused(self, hidden: &Tensor, weight: &Tensor) -> bool {
        self == GradientOrder::First && use_fused(hidden, weight)
    }
}
