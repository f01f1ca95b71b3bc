//! 2-D convolution and transposed convolution on the CPU as three closed, differentiable ops.
//!
//! candle's CPU `conv_transpose2d` is a direct loop of dot products, and it is also the input
//! gradient of every `conv2d`; a DCGAN step spends most of its time there. Here each op is an
//! im2col / col2im around one `gemm` per image (images in parallel):
//! - [`conv2d`] `y = conv(x, w)`;
//! - the input gradient `dx = conv_input_grad(g, w)`, which is also the transposed convolution
//!   ([`conv_transpose2d`], the DCGAN generator's layer);
//! - the weight gradient `dw = conv_weight_grad(x, g)`.
//!
//! The backward of each is written with the three ops themselves, so gradients are differentiable
//! again to any order: WGAN-GP's penalty differentiates a critic's input gradient with respect to
//! its weights (with `CANDLE_GRAD_DO_NOT_DETACH` set). Weight gradients are summed over fixed
//! groups of the batch in group order, so results do not depend on the number of threads.
//! [`crate::reference::conv2d`] and [`crate::reference::conv_transpose2d`] (candle's ops) are the
//! twins of the equivalence tests; on other devices and dtypes they run instead.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::gemm::{cpu_slice, sgemm, use_fused};
use crate::{reference, Error, Result};

/// Columns of one matrix product at least: images are grouped so that a deep layer's 4x4 maps
/// (16 columns an image) still make a product wide enough for the gemm kernels to run near peak.
/// The grouping depends on the shapes only, and weight-gradient partials are summed per group in
/// order, so results do not depend on the number of threads.
const GROUP_COLUMNS: usize = 512;

/// Stride and zero padding, the same along both spatial axes (dilation 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    pub stride: usize,
    pub padding: usize,
}

/// Every size of one convolution `[B, Ci, H, W] * [Co, Ci, Kh, Kw] -> [B, Co, Ho, Wo]`.
#[derive(Clone, Copy, Debug)]
struct Dims {
    b: usize,
    ci: usize,
    h: usize,
    w: usize,
    co: usize,
    kh: usize,
    kw: usize,
    ho: usize,
    wo: usize,
    stride: usize,
    padding: usize,
}

impl Dims {
    /// Rows of an image's im2col matrix (`Ci * Kh * Kw`).
    fn k(&self) -> usize {
        self.ci * self.kh * self.kw
    }
    fn out_positions(&self) -> usize {
        self.ho * self.wo
    }
    fn in_len(&self) -> usize {
        self.ci * self.h * self.w
    }
    fn out_len(&self) -> usize {
        self.co * self.ho * self.wo
    }
    /// Images per matrix product (see [`GROUP_COLUMNS`]).
    fn images_per_group(&self) -> usize {
        (GROUP_COLUMNS / self.out_positions().max(1)).clamp(1, self.b.max(1))
    }
}

/// Output size of a convolution along one axis, if the kernel fits.
fn conv_out(input: usize, kernel: usize, g: ConvGeometry) -> Option<usize> {
    (input + 2 * g.padding)
        .checked_sub(kernel)
        .map(|v| v / g.stride + 1)
}

fn dims(
    b: usize,
    (ci, h, w): (usize, usize, usize),
    (co, kh, kw): (usize, usize, usize),
    g: ConvGeometry,
) -> candle_core::Result<Dims> {
    let (Some(ho), Some(wo)) = (conv_out(h, kh, g), conv_out(w, kw, g)) else {
        candle_core::bail!(
            "conv2d: a {kh}x{kw} kernel does not fit a {h}x{w} input with padding {}",
            g.padding
        );
    };
    if g.stride == 0 {
        candle_core::bail!("conv2d: stride must be at least 1");
    }
    Ok(Dims {
        b,
        ci,
        h,
        w,
        co,
        kh,
        kw,
        ho,
        wo,
        stride: g.stride,
        padding: g.padding,
    })
}

/// `cols[(c*Kh + ky)*Kw + kx, oy*Wo + ox] = x[c, oy*s - p + ky, ox*s - p + kx]` (0 outside);
/// row `r` of `cols` starts at `r * ld`, so several images can fill adjacent column blocks.
fn im2col(x: &[f32], d: &Dims, cols: &mut [f32], ld: usize) {
    let positions = d.out_positions();
    for c in 0..d.ci {
        for ky in 0..d.kh {
            for kx in 0..d.kw {
                let row = &mut cols[((c * d.kh + ky) * d.kw + kx) * ld..][..positions];
                for oy in 0..d.ho {
                    let iy = (oy * d.stride + ky) as isize - d.padding as isize;
                    let out = &mut row[oy * d.wo..(oy + 1) * d.wo];
                    if iy < 0 || iy >= d.h as isize {
                        out.fill(0.0);
                        continue;
                    }
                    let src = &x[(c * d.h + iy as usize) * d.w..][..d.w];
                    for (ox, o) in out.iter_mut().enumerate() {
                        let ix = (ox * d.stride + kx) as isize - d.padding as isize;
                        *o = if ix >= 0 && ix < d.w as isize {
                            src[ix as usize]
                        } else {
                            0.0
                        };
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: `x[c, iy, ix] += cols[...]` for every position that reads it.
fn col2im(cols: &[f32], d: &Dims, ld: usize, x: &mut [f32]) {
    let positions = d.out_positions();
    for c in 0..d.ci {
        for ky in 0..d.kh {
            for kx in 0..d.kw {
                let row = &cols[((c * d.kh + ky) * d.kw + kx) * ld..][..positions];
                for oy in 0..d.ho {
                    let iy = (oy * d.stride + ky) as isize - d.padding as isize;
                    if iy < 0 || iy >= d.h as isize {
                        continue;
                    }
                    let dst = &mut x[(c * d.h + iy as usize) * d.w..][..d.w];
                    for (ox, v) in row[oy * d.wo..(oy + 1) * d.wo].iter().enumerate() {
                        let ix = (ox * d.stride + kx) as isize - d.padding as isize;
                        if ix >= 0 && ix < d.w as isize {
                            dst[ix as usize] += v;
                        }
                    }
                }
            }
        }
    }
}

/// `[n, C, P]` (images) -> `[C, n * P]` (one matrix whose column blocks are the images).
fn gather_images(images: &[f32], channels: usize, positions: usize, n: usize) -> Vec<f32> {
    let ld = n * positions;
    let mut out = vec![0f32; channels * ld];
    for (i, image) in images.chunks(channels * positions).enumerate() {
        for (c, plane) in image.chunks(positions).enumerate() {
            out[c * ld + i * positions..][..positions].copy_from_slice(plane);
        }
    }
    out
}

/// The inverse of [`gather_images`]: `[C, n * P]` -> `[n, C, P]` into `images`.
fn scatter_images(matrix: &[f32], channels: usize, positions: usize, images: &mut [f32]) {
    let ld = images.len() / channels.max(1);
    for (i, image) in images.chunks_mut(channels * positions).enumerate() {
        for (c, plane) in image.chunks_mut(positions).enumerate() {
            plane.copy_from_slice(&matrix[c * ld + i * positions..][..positions]);
        }
    }
}

/// `y[group] = W[Co, K] @ im2col(x[group])`, one product per group of images.
fn conv_forward(x: &[f32], w: &[f32], d: &Dims) -> Vec<f32> {
    let (k, positions, group) = (d.k(), d.out_positions(), d.images_per_group());
    let mut y = vec![0f32; d.b * d.out_len()];
    y.par_chunks_mut((group * d.out_len()).max(1))
        .zip(x.par_chunks((group * d.in_len()).max(1)))
        .for_each(|(yg, xg)| {
            let ld = yg.len() / d.co.max(1);
            let mut cols = vec![0f32; k * ld];
            for (i, xb) in xg.chunks(d.in_len().max(1)).enumerate() {
                im2col(xb, d, &mut cols[i * positions..], ld);
            }
            let mut product = vec![0f32; d.co * ld];
            sgemm(d.co, ld, k, &mut product, ld, false, w, k, 1, &cols, ld, 1);
            scatter_images(&product, d.co, positions, yg);
        });
    y
}

/// `dx[group] = col2im(W^T[K, Co] @ g[group])`: the input gradient, and the transposed
/// convolution.
fn conv_input_grad(g: &[f32], w: &[f32], d: &Dims) -> Vec<f32> {
    let (k, positions, group) = (d.k(), d.out_positions(), d.images_per_group());
    let mut dx = vec![0f32; d.b * d.in_len()];
    dx.par_chunks_mut((group * d.in_len()).max(1))
        .zip(g.par_chunks((group * d.out_len()).max(1)))
        .for_each(|(dxg, gg)| {
            let n = gg.len() / d.out_len().max(1);
            let ld = n * positions;
            let grads = gather_images(gg, d.co, positions, n);
            let mut cols = vec![0f32; k * ld];
            sgemm(k, ld, d.co, &mut cols, ld, false, w, 1, k, &grads, ld, 1);
            for (i, dxb) in dxg.chunks_mut(d.in_len().max(1)).enumerate() {
                col2im(&cols[i * positions..], d, ld, dxb);
            }
        });
    dx
}

/// `dW[Co, K] = sum over groups of g[group] @ im2col(x[group])^T`, the groups' partial sums
/// added in order.
fn conv_weight_grad(x: &[f32], g: &[f32], d: &Dims) -> Vec<f32> {
    let (k, positions, group) = (d.k(), d.out_positions(), d.images_per_group());
    let partials: Vec<Vec<f32>> = x
        .par_chunks((group * d.in_len()).max(1))
        .zip(g.par_chunks((group * d.out_len()).max(1)))
        .map(|(xg, gg)| {
            let n = gg.len() / d.out_len().max(1);
            let ld = n * positions;
            let mut cols = vec![0f32; k * ld];
            for (i, xb) in xg.chunks(d.in_len().max(1)).enumerate() {
                im2col(xb, d, &mut cols[i * positions..], ld);
            }
            let grads = gather_images(gg, d.co, positions, n);
            let mut dw = vec![0f32; d.co * k];
            sgemm(d.co, k, ld, &mut dw, k, false, &grads, ld, 1, &cols, 1, ld);
            dw
        })
        .collect();
    let mut parts = partials.into_iter();
    let mut dw = parts.next().unwrap_or_else(|| vec![0f32; d.co * k]);
    for part in parts {
        for (a, p) in dw.iter_mut().zip(&part) {
            *a += p;
        }
    }
    dw
}

/// The gradient of `operand` from `compute`, or `None` without computing it when no variable lies
/// behind `operand` (real images, a generator step's discriminator with detached weights).
fn when_tracked(
    operand: &Tensor,
    compute: impl FnOnce() -> candle_core::Result<Tensor>,
) -> candle_core::Result<Option<Tensor>> {
    if operand.track_op() {
        compute().map(Some)
    } else {
        Ok(None)
    }
}

/// `y = conv(x, w)` as a custom op.
struct Conv2dOp(ConvGeometry);
/// `dx = conv_input_grad(g, w)` for inputs of `h x w`, as a custom op.
struct ConvInputGradOp {
    geometry: ConvGeometry,
    input_hw: (usize, usize),
}
/// `dw = conv_weight_grad(x, g)` for `kh x kw` kernels, as a custom op.
struct ConvWeightGradOp {
    geometry: ConvGeometry,
    kernel_hw: (usize, usize),
}

fn dims4(l: &Layout, what: &str) -> candle_core::Result<(usize, usize, usize, usize)> {
    l.shape().dims4().map_err(|_| {
        candle_core::Error::Msg(format!("conv2d: {what} must be 4-D, got {:?}", l.dims()))
    })
}

impl CustomOp2 for Conv2dOp {
    fn name(&self) -> &'static str {
        "socgan-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, ci, h, w) = dims4(l1, "input")?;
        let (co, wci, kh, kw) = dims4(l2, "weight")?;
        if wci != ci {
            candle_core::bail!("conv2d: input has {ci} channels, weight expects {wci}");
        }
        let d = dims(b, (ci, h, w), (co, kh, kw), self.0)?;
        let y = conv_forward(
            cpu_slice(s1, l1, "conv2d input")?,
            cpu_slice(s2, l2, "conv2d weight")?,
            &d,
        );
        Ok((CpuStorage::F32(y), Shape::from((b, co, d.ho, d.wo))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (_, _, h, wd) = x.dims4()?;
        let (_, _, kh, kw) = w.dims4()?;
        let grad = grad.contiguous()?;
        let dx = when_tracked(x, || {
            grad.apply_op2(
                w,
                ConvInputGradOp {
                    geometry: self.0,
                    input_hw: (h, wd),
                },
            )
        })?;
        let dw = when_tracked(w, || {
            x.apply_op2(
                &grad,
                ConvWeightGradOp {
                    geometry: self.0,
                    kernel_hw: (kh, kw),
                },
            )
        })?;
        Ok((dx, dw))
    }
}

impl CustomOp2 for ConvInputGradOp {
    fn name(&self) -> &'static str {
        "socgan-conv2d-input-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, co, ho, wo) = dims4(l1, "gradient")?;
        let (wco, ci, kh, kw) = dims4(l2, "weight")?;
        if wco != co {
            candle_core::bail!("conv2d input gradient: {co} channels, weight has {wco}");
        }
        let (h, w) = self.input_hw;
        let d = dims(b, (ci, h, w), (co, kh, kw), self.geometry)?;
        if (d.ho, d.wo) != (ho, wo) {
            candle_core::bail!(
                "conv2d input gradient: a {ho}x{wo} map does not come from a {h}x{w} input"
            );
        }
        let dx = conv_input_grad(
            cpu_slice(s1, l1, "gradient")?,
            cpu_slice(s2, l2, "weight")?,
            &d,
        );
        Ok((CpuStorage::F32(dx), Shape::from((b, ci, h, w))))
    }

    fn bwd(
        &self,
        g: &Tensor,
        w: &Tensor,
        _dx: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (_, _, kh, kw) = w.dims4()?;
        let grad = grad.contiguous()?;
        let dg = when_tracked(g, || grad.apply_op2(w, Conv2dOp(self.geometry)))?;
        let dw = when_tracked(w, || {
            grad.apply_op2(
                g,
                ConvWeightGradOp {
                    geometry: self.geometry,
                    kernel_hw: (kh, kw),
                },
            )
        })?;
        Ok((dg, dw))
    }
}

impl CustomOp2 for ConvWeightGradOp {
    fn name(&self) -> &'static str {
        "socgan-conv2d-weight-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, ci, h, w) = dims4(l1, "input")?;
        let (gb, co, ho, wo) = dims4(l2, "gradient")?;
        let (kh, kw) = self.kernel_hw;
        let d = dims(b, (ci, h, w), (co, kh, kw), self.geometry)?;
        if gb != b || (d.ho, d.wo) != (ho, wo) {
            candle_core::bail!(
                "conv2d weight gradient: gradient {:?} does not match input {:?}",
                l2.dims(),
                l1.dims()
            );
        }
        let dw = conv_weight_grad(
            cpu_slice(s1, l1, "input")?,
            cpu_slice(s2, l2, "gradient")?,
            &d,
        );
        Ok((CpuStorage::F32(dw), Shape::from((co, ci, kh, kw))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        g: &Tensor,
        _dw: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (_, _, h, w) = x.dims4()?;
        let grad = grad.contiguous()?;
        let dx = when_tracked(x, || {
            g.apply_op2(
                &grad,
                ConvInputGradOp {
                    geometry: self.geometry,
                    input_hw: (h, w),
                },
            )
        })?;
        let dg = when_tracked(g, || x.apply_op2(&grad, Conv2dOp(self.geometry)))?;
        Ok((dx, dg))
    }
}

/// `conv2d(x [B, Ci, H, W], w [Co, Ci, Kh, Kw])` with `stride` and zero `padding` (no bias),
/// differentiable to any order. The fused CPU op for `f32` on the CPU; candle's elsewhere.
pub fn conv2d(x: &Tensor, w: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
    if !use_fused(x, w) {
        return reference::conv2d(x, w, stride, padding);
    }
    let geometry = ConvGeometry { stride, padding };
    Ok(x.contiguous()?
        .apply_op2(&w.contiguous()?, Conv2dOp(geometry))?)
}

/// The transposed convolution of `x [B, Cin, H, W]` with `w [Cin, Cout, Kh, Kw]` (PyTorch's
/// `ConvTranspose2d` layout): output `[B, Cout, (H-1)*stride - 2*padding + Kh, ...]`, the input
/// gradient of the matching `conv2d`. Differentiable to any order.
pub fn conv_transpose2d(x: &Tensor, w: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
    let (_, _, h, wd) = x.dims4()?;
    let (_, _, kh, kw) = w.dims4()?;
    let out = |input: usize, k: usize| ((input - 1) * stride + k).checked_sub(2 * padding);
    let (Some(oh), Some(ow)) = (out(h, kh), out(wd, kw)) else {
        return Err(Error::Shape(format!(
            "conv_transpose2d: padding {padding} is too large for a {h}x{wd} input and {kh}x{kw} kernel"
        )));
    };
    if !use_fused(x, w) {
        return reference::conv_transpose2d(x, w, stride, padding);
    }
    let op = ConvInputGradOp {
        geometry: ConvGeometry { stride, padding },
        input_hw: (oh, ow),
    };
    Ok(x.contiguous()?.apply_op2(&w.contiguous()?, op)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::equivalence::{max_abs_diff, max_gradient_diffs};
    use candle_core::{Device, Var};
    use gan_core::SeededRng;

    fn var(rng: &mut SeededRng, shape: &[usize]) -> Var {
        Var::from_tensor(&rng.normal(shape, 0.0, 1.0, &Device::Cpu).unwrap()).unwrap()
    }

    #[test]
    fn conv2d_matches_candle_in_values_and_gradients() {
        let mut rng = SeededRng::new(3);
        // (batch, ci, h, w, co, k, stride, padding): DCGAN's 4x4 stride-2 layers, a classifier's
        // 5x5 padded layer, odd sizes, a batch that is not a multiple of the image group.
        for (b, ci, h, w, co, k, s, p) in [
            (3, 2, 9, 7, 4, 3, 1, 0),
            (11, 3, 16, 16, 5, 4, 2, 1),
            (2, 4, 8, 8, 6, 4, 1, 0),
            (5, 1, 12, 12, 3, 5, 1, 2),
            (9, 2, 4, 4, 3, 4, 1, 0),
            // Stride 3 with padding wider than some kernel columns' reach.
            (2, 2, 11, 11, 3, 3, 3, 2),
            // 4x4 maps: 32 images a group, so ten groups, the last one short.
            (300, 2, 7, 7, 3, 4, 1, 0),
        ] {
            let x = var(&mut rng, &[b, ci, h, w]);
            let wt = var(&mut rng, &[co, ci, k, k]);
            let fused = conv2d(&x, &wt, s, p).unwrap();
            let plain = reference::conv2d(&x, &wt, s, p).unwrap();
            assert_eq!(fused.dims(), plain.dims());
            assert!(max_abs_diff(&fused, &plain) < 1e-4);
            let probe = rng.normal(fused.dims(), 0.0, 1.0, &Device::Cpu).unwrap();
            for d in max_gradient_diffs(&fused, &plain, &probe, &[&x, &wt]) {
                assert!(
                    d < 1e-3,
                    "gradient differs by {d} for {:?}",
                    (b, ci, h, w, co, k, s, p)
                );
            }
        }
    }

    #[test]
    fn conv_transpose2d_matches_candle_in_values_and_gradients() {
        let mut rng = SeededRng::new(4);
        // DCGAN's generator: 1x1 -> 4x4 (stride 1, no padding), then doubling 4x4 stride-2 layers.
        for (b, cin, h, cout, k, s, p) in [
            (4, 6, 1, 5, 4, 1, 0),
            (3, 5, 4, 3, 4, 2, 1),
            (2, 3, 7, 2, 3, 2, 1),
            (9, 2, 8, 1, 4, 2, 1),
        ] {
            let x = var(&mut rng, &[b, cin, h, h]);
            let wt = var(&mut rng, &[cin, cout, k, k]);
            let fused = conv_transpose2d(&x, &wt, s, p).unwrap();
            let plain = reference::conv_transpose2d(&x, &wt, s, p).unwrap();
            assert_eq!(fused.dims(), plain.dims());
            assert!(max_abs_diff(&fused, &plain) < 1e-4);
            let probe = rng.normal(fused.dims(), 0.0, 1.0, &Device::Cpu).unwrap();
            for d in max_gradient_diffs(&fused, &plain, &probe, &[&x, &wt]) {
                assert!(d < 1e-3, "gradient differs by {d}");
            }
        }
    }

    #[test]
    fn weight_gradients_do_not_depend_on_the_thread_count() {
        let mut rng = SeededRng::new(5);
        // 5x5 maps: 20 images a group, three groups.
        let x = var(&mut rng, &[50, 3, 10, 10]);
        let wt = var(&mut rng, &[4, 3, 4, 4]);
        let grad_of = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let y = conv2d(&x, &wt, 2, 1).unwrap();
                let g = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
                g.get(&wt)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
            })
        };
        assert_eq!(grad_of(1), grad_of(3));
    }

    #[test]
    fn kernels_that_do_not_fit_are_errors() {
        let mut rng = SeededRng::new(6);
        let x = var(&mut rng, &[1, 1, 3, 3]);
        let wt = var(&mut rng, &[1, 1, 5, 5]);
        let err = conv2d(&x, &wt, 1, 0).unwrap_err().to_string();
        assert!(
            err.contains("a 5x5 kernel does not fit a 3x3 input"),
            "{err}"
        );
        let wrong_channels = var(&mut rng, &[1, 2, 3, 3]);
        let err = conv2d(&x, &wrong_channels, 1, 0).unwrap_err().to_string();
        assert!(
            err.contains("input has 1 channels, weight expects 2"),
            "{err}"
        );
    }
}
