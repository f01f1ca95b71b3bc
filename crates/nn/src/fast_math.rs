//! Vectorisable `exp`, GELU and row reductions for the CPU kernels.
//!
//! `f32::exp` goes through libm one element at a time; the softmax over a 5,000-word vocabulary
//! does that 6.4 million times per SeqGAN-sized batch. This Cephes-style polynomial (relative
//! error about 2e-7 over the range used here) is written as straight-line arithmetic that LLVM
//! vectorises, and is compiled a second time with AVX2+FMA, chosen at run time.

const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// 1.5 * 2^23: adding and subtracting it rounds to the nearest integer without a branch.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// `pub fn NAME(ARGS) -> RET => GENERIC`: `NAME` runs `GENERIC` (an `#[inline(always)]`
/// function of plain arithmetic) compiled a second time with AVX2 and FMA where the CPU has them,
/// and as built otherwise.
macro_rules! avx2_dispatch {
    ($(#[$attr:meta])* pub fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? => $generic:ident) => {
        $(#[$attr])*
        pub fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                $generic($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU supports the features `avx2` was compiled for.
                return unsafe { avx2($($arg),*) };
            }
            $generic($($arg),*)
        }
    };
}

#[inline(always)]
pub(crate) fn exp_one(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // `shifted` holds round(x * log2 e) in its low mantissa bits; its bit pattern gives 2^k
    // below without a float-to-int conversion (Rust's saturating `as i32` does not vectorise).
    let shifted = x * LOG2E + ROUND_MAGIC;
    let k = shifted - ROUND_MAGIC;
    let r = x - k * LN2_HI - k * LN2_LO;
    let r2 = r * r;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let y = p * r2 + r + 1.0;
    let scale = f32::from_bits(shifted.to_bits().wrapping_add(127) << 23);
    y * scale
}

#[inline(always)]
fn exp_shifted_sum_generic(xs: &[f32], shift: f32, scale: f32, out: &mut [f32]) -> f32 {
    debug_assert_eq!(xs.len(), out.len());
    let mut acc = [0f32; 8];
    let mut chunks_out = out.chunks_exact_mut(8);
    let mut chunks_in = xs.chunks_exact(8);
    for (o, x) in (&mut chunks_out).zip(&mut chunks_in) {
        for j in 0..8 {
            let e = exp_one((x[j] - shift) * scale);
            o[j] = e;
            acc[j] += e;
        }
    }
    let mut total: f32 = acc.iter().sum();
    for (o, x) in chunks_out
        .into_remainder()
        .iter_mut()
        .zip(chunks_in.remainder())
    {
        let e = exp_one((x - shift) * scale);
        *o = e;
        total += e;
    }
    total
}

avx2_dispatch! {
    /// Writes `out[i] = exp((xs[i] - shift) * scale)` and returns the sum of `out`.
    pub fn exp_shifted_sum(xs: &[f32], shift: f32, scale: f32, out: &mut [f32]) -> f32 => exp_shifted_sum_generic
}

#[inline(always)]
fn exp_shifted_in_place_generic(xs: &mut [f32], shift: f32, factor: f32) {
    for x in xs.iter_mut() {
        *x = exp_one(*x - shift) * factor;
    }
}

avx2_dispatch! {
    /// `xs[i] = exp(xs[i] - shift) * factor`, in place.
    pub fn exp_shifted_in_place(xs: &mut [f32], shift: f32, factor: f32) => exp_shifted_in_place_generic
}

#[inline(always)]
fn exp_shifted_sum_in_place_generic(xs: &mut [f32], shift: f32) -> f32 {
    let mut acc = [0f32; 8];
    let mut chunks = xs.chunks_exact_mut(8);
    for c in &mut chunks {
        for j in 0..8 {
            let e = exp_one(c[j] - shift);
            c[j] = e;
            acc[j] += e;
        }
    }
    let mut total: f32 = acc.iter().sum();
    for x in chunks.into_remainder() {
        *x = exp_one(*x - shift);
        total += *x;
    }
    total
}

avx2_dispatch! {
    /// `xs[i] = exp(xs[i] - shift)`, in place; returns the sum.
    pub fn exp_shifted_sum_in_place(xs: &mut [f32], shift: f32) -> f32 => exp_shifted_sum_in_place_generic
}

#[inline(always)]
fn max_generic(xs: &[f32]) -> f32 {
    // Plain comparisons (not f32::max, whose NaN handling blocks vectorisation); logits are
    // finite here.
    let mut acc = [f32::NEG_INFINITY; 8];
    let mut chunks = xs.chunks_exact(8);
    for c in &mut chunks {
        for j in 0..8 {
            acc[j] = if c[j] > acc[j] { c[j] } else { acc[j] };
        }
    }
    let mut m = f32::NEG_INFINITY;
    for &x in acc.iter().chain(chunks.remainder()) {
        m = if x > m { x } else { m };
    }
    m
}

avx2_dispatch! {
    /// Maximum of a non-empty slice of finite values.
    pub fn max(xs: &[f32]) -> f32 => max_generic
}

/// `1 + erf(z)`: Abramowitz & Stegun 7.1.26 (absolute error of erf below 1.5e-7) on `|z|`, as
/// `erfc(|z|)` for negative `z` so that the left tail keeps its relative precision.
#[inline(always)]
fn one_plus_erf(z: f32) -> f32 {
    let a = z.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = ((((1.061_405_4 * t - 1.453_152) * t + 1.421_413_8) * t - 0.284_496_74) * t
        + 0.254_829_6)
        * t;
    let erfc = poly * exp_one(-a * a);
    if z < 0.0 {
        erfc
    } else {
        2.0 - erfc
    }
}

#[inline(always)]
fn gelu_erf_generic(xs: &mut [f32]) {
    for x in xs.iter_mut() {
        *x = 0.5 * *x * one_plus_erf(*x * std::f32::consts::FRAC_1_SQRT_2);
    }
}

avx2_dispatch! {
    /// BERT's GELU, `x Phi(x) = x (1 + erf(x / sqrt 2)) / 2`, in place (absolute error below
    /// 1e-7 |x|; libm's `erff` one element at a time was a seventh of a BERT forward pass).
    pub fn gelu_erf_in_place(xs: &mut [f32]) => gelu_erf_generic
}

#[inline(always)]
fn gelu_tanh_generic(xs: &mut [f32]) {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    for x in xs.iter_mut() {
        // (1 + tanh(y)) / 2 = 1 / (1 + exp(-2y))
        let y = SQRT_2_OVER_PI * (*x + 0.044_715 * *x * *x * *x);
        *x /= 1.0 + exp_one(-2.0 * y);
    }
}

avx2_dispatch! {
    /// The tanh approximation of GELU (`gelu_new`), in place.
    pub fn gelu_tanh_in_place(xs: &mut [f32]) => gelu_tanh_generic
}

#[inline(always)]
fn add_max_generic(xs: &mut [f32], addend: &[f32]) -> f32 {
    assert_eq!(xs.len(), addend.len(), "add_max_in_place: lengths differ");
    let mut acc = [f32::NEG_INFINITY; 8];
    let mut chunks = xs.chunks_exact_mut(8);
    let mut addends = addend.chunks_exact(8);
    for (c, a) in (&mut chunks).zip(&mut addends) {
        for j in 0..8 {
            c[j] += a[j];
            acc[j] = if c[j] > acc[j] { c[j] } else { acc[j] };
        }
    }
    let mut m = f32::NEG_INFINITY;
    for (x, a) in chunks.into_remainder().iter_mut().zip(addends.remainder()) {
        *x += a;
        m = if *x > m { *x } else { m };
    }
    for x in acc {
        m = if x > m { x } else { m };
    }
    m
}

avx2_dispatch! {
    /// `xs[i] += addend[i]`, returning the maximum of the sums (finite values): a bias added in the
    /// same pass that finds a softmax row's maximum.
    pub fn add_max_in_place(xs: &mut [f32], addend: &[f32]) -> f32 => add_max_generic
}

#[inline(always)]
fn sigmoid_generic(xs: &mut [f32]) {
    for x in xs.iter_mut() {
        *x = 1.0 / (1.0 + exp_one(-*x));
    }
}

avx2_dispatch! {
    /// The logistic function `1 / (1 + exp(-x))`, in place (absolute error below 1e-7; libm's `expf`
    /// one element at a time was a quarter of the serial part of an LSTM MLE epoch).
    pub fn sigmoid_in_place(xs: &mut [f32]) => sigmoid_generic
}

#[inline(always)]
fn tanh_generic(xs: &mut [f32]) {
    for x in xs.iter_mut() {
        // tanh |x| = (1 - e) / (1 + e) with e = exp(-2 |x|) in (0, 1]: nothing overflows, and
        // the sign is put back.
        let e = exp_one(-2.0 * x.abs());
        *x = ((1.0 - e) / (1.0 + e)).copysign(*x);
    }
}

avx2_dispatch! {
    /// `tanh`, in place (absolute error below 2e-7).
    pub fn tanh_in_place(xs: &mut [f32]) => tanh_generic
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_libm() {
        let xs: Vec<f32> = (0..4001).map(|i| -80.0 + i as f32 * 0.02).collect();
        let mut out = vec![0.0; xs.len()];
        let total = exp_shifted_sum(&xs, 0.0, 1.0, &mut out);
        let mut exact_total = 0f64;
        for (x, e) in xs.iter().zip(&out) {
            let exact = (*x as f64).exp();
            exact_total += exact;
            assert!(
                ((*e as f64) - exact).abs() <= 1e-6 * exact,
                "exp({x}) = {e}, libm {exact}"
            );
        }
        assert!(((total as f64) - exact_total).abs() < 1e-5 * exact_total);
        assert_eq!(max(&xs), 0.0);
    }

    #[test]
    fn add_max_adds_and_finds_the_maximum() {
        for len in [1usize, 7, 8, 13, 5000] {
            let xs: Vec<f32> = (0..len)
                .map(|i| ((i * 37) % 101) as f32 * 0.5 - 20.0)
                .collect();
            let bias: Vec<f32> = (0..len).map(|i| ((i * 11) % 13) as f32 - 6.0).collect();
            let mut got = xs.clone();
            let m = add_max_in_place(&mut got, &bias);
            let want: Vec<f32> = xs.iter().zip(&bias).map(|(x, b)| x + b).collect();
            assert_eq!(got, want);
            assert_eq!(m, want.iter().cloned().fold(f32::NEG_INFINITY, f32::max));
        }
    }

    #[test]
    fn sigmoid_and_tanh_match_libm() {
        let xs: Vec<f32> = (0..16001).map(|i| -100.0 + i as f32 * 0.0125).collect();
        let (mut sigmoid, mut tanh) = (xs.clone(), xs.clone());
        sigmoid_in_place(&mut sigmoid);
        tanh_in_place(&mut tanh);
        for ((x, s), t) in xs.iter().zip(&sigmoid).zip(&tanh) {
            let x64 = *x as f64;
            let (exact_s, exact_t) = (1.0 / (1.0 + (-x64).exp()), x64.tanh());
            assert!(
                ((*s as f64) - exact_s).abs() <= 1e-7,
                "sigmoid({x}) = {s}, libm {exact_s}"
            );
            assert!(
                ((*t as f64) - exact_t).abs() <= 2e-7,
                "tanh({x}) = {t}, libm {exact_t}"
            );
        }
        // Signed zeros kept, and exact in the tails.
        let mut edges = [0.0f32, -0.0, 30.0, -30.0, 1e4, -1e4];
        tanh_in_place(&mut edges);
        assert_eq!(
            edges.map(f32::to_bits),
            [0.0f32, -0.0, 1.0, -1.0, 1.0, -1.0].map(f32::to_bits)
        );
    }

    #[test]
    fn gelus_match_their_libm_definitions() {
        let xs: Vec<f32> = (0..8001).map(|i| -20.0 + i as f32 * 0.005).collect();
        let (mut erf, mut tanh) = (xs.clone(), xs.clone());
        gelu_erf_in_place(&mut erf);
        gelu_tanh_in_place(&mut tanh);
        for ((&x, &g), &h) in xs.iter().zip(&erf).zip(&tanh) {
            let x64 = x as f64;
            let exact = 0.5 * x64 * (1.0 + libm::erf(x64 / std::f64::consts::SQRT_2));
            assert!(
                ((g as f64) - exact).abs() <= 2e-7 * x64.abs().max(1.0),
                "gelu({x}) = {g}, exact {exact}"
            );
            let y = (2.0 / std::f64::consts::PI).sqrt() * (x64 + 0.044715 * x64.powi(3));
            let exact = 0.5 * x64 * (1.0 + y.tanh());
            assert!(
                ((h as f64) - exact).abs() <= 2e-6 * x64.abs().max(1.0),
                "gelu_tanh({x}) = {h}, exact {exact}"
            );
        }
    }
}
