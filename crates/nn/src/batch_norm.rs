//! Batch normalisation in training mode as one CPU op with its own backward: per-channel
//! moments, normalisation and affine in two passes over the input, and the input, scale and
//! shift gradients in two passes over the output gradient. The candle composition (a transpose,
//! two reductions and broadcast products whose backward sums over three axes with strided folds)
//! was a fifth of a DCGAN step. Channel sums run sequentially per channel in `f64`, so results
//! do not depend on the number of threads.
//!
//! The backward is first-order only: a gradient penalty through a batch-normalised critic is
//! refused by the models (the penalty is per sample, batch statistics mix samples), and
//! evaluation mode runs the candle composition, which stays differentiable to any order.

use candle_core::{CpuStorage, CustomOp1, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::activation::Activation;
use crate::gemm::cpu_slice;

/// `[B, C, S]` sizes of a `[B, C]` or `[B, C, H, W]` tensor.
#[derive(Clone, Copy, Debug)]
struct Sizes {
    batch: usize,
    channels: usize,
    spatial: usize,
}

impl Sizes {
    fn of(layout: &Layout) -> candle_core::Result<Self> {
        let dims = layout.dims();
        if dims.len() < 2 {
            candle_core::bail!("batch norm needs [B, C, ...], got {dims:?}");
        }
        Ok(Self {
            batch: dims[0],
            channels: dims[1],
            spatial: dims[2..].iter().product(),
        })
    }

    fn count(&self) -> usize {
        self.batch * self.spatial
    }

    /// The `batch` runs of `spatial` values of channel `c`.
    fn planes<'a>(&self, x: &'a [f32], c: usize) -> impl Iterator<Item = &'a [f32]> + 'a {
        let (channels, spatial) = (self.channels, self.spatial);
        (0..self.batch).map(move |b| &x[(b * channels + c) * spatial..][..spatial])
    }
}

/// Per-channel mean and biased variance, `f64` accumulation in a fixed order.
fn moments(x: &[f32], s: Sizes) -> Vec<(f64, f64)> {
    let n = s.count().max(1) as f64;
    (0..s.channels)
        .into_par_iter()
        .map(|c| {
            let sum: f64 = s.planes(x, c).flatten().map(|&v| v as f64).sum();
            let mean = sum / n;
            let sq: f64 = s
                .planes(x, c)
                .flatten()
                .map(|&v| (v as f64 - mean).powi(2))
                .sum();
            (mean, sq / n)
        })
        .collect()
}

/// Per-channel `(scale, shift)` with `y = x * scale + shift`.
fn affine_terms(moments: &[(f64, f64)], weight: &[f32], bias: &[f32], eps: f64) -> Vec<(f32, f32)> {
    moments
        .iter()
        .zip(weight.iter().zip(bias))
        .map(|(&(mean, var), (&w, &b))| {
            let scale = w as f64 / (var + eps).sqrt();
            (scale as f32, (b as f64 - mean * scale) as f32)
        })
        .collect()
}

/// `y = activation(batch_norm(x; weight, bias))` on the batch's own statistics.
struct BatchNormTrain {
    eps: f64,
    activation: Activation,
}

impl CustomOp3 for BatchNormTrain {
    fn name(&self) -> &'static str {
        "socgan-batch-norm"
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
        let s = Sizes::of(l1)?;
        let x = cpu_slice(s1, l1, "batch norm input")?;
        let terms = affine_terms(
            &moments(x, s),
            cpu_slice(s2, l2, "batch norm weight")?,
            cpu_slice(s3, l3, "batch norm bias")?,
            self.eps,
        );
        let mut y = vec![0f32; x.len()];
        let slope = self.activation.negative_slope();
        y.par_chunks_mut(s.spatial.max(1))
            .zip(x.par_chunks(s.spatial.max(1)))
            .enumerate()
            .for_each(|(plane, (y, x))| {
                let (scale, shift) = terms[plane % s.channels];
                for (y, &x) in y.iter_mut().zip(x) {
                    let v = x * scale + shift;
                    *y = match slope {
                        Some(slope) if v <= 0.0 => v * slope,
                        _ => v,
                    };
                }
            });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _bias: &Tensor,
        y: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let elems = x.elem_count();
        let channels = weight.elem_count();
        let grad = self.activation.gradient_through(y, grad)?;
        // One op returns the three gradients packed: [dx (elems), dweight (C), dbias (C)].
        let packed = x.apply_op3_no_bwd(
            weight,
            &grad.contiguous()?,
            &BatchNormBackward { eps: self.eps },
        )?;
        let dx = packed.narrow(0, 0, elems)?.reshape(x.shape())?;
        let dweight = packed.narrow(0, elems, channels)?;
        let dbias = packed.narrow(0, elems + channels, channels)?;
        Ok((Some(dx), Some(dweight), Some(dbias)))
    }
}

/// The gradients of [`BatchNormTrain`], packed into one vector.
struct BatchNormBackward {
    eps: f64,
}

impl CustomOp3 for BatchNormBackward {
    fn name(&self) -> &'static str {
        "socgan-batch-norm-backward"
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
        let s = Sizes::of(l1)?;
        let x = cpu_slice(s1, l1, "batch norm input")?;
        let weight = cpu_slice(s2, l2, "batch norm weight")?;
        let g = cpu_slice(s3, l3, "batch norm gradient")?;
        let n = s.count().max(1) as f64;
        let stats = moments(x, s);
        // Per channel: inv_std, sum(g), sum(g * x_hat).
        let sums: Vec<(f64, f64, f64)> = (0..s.channels)
            .into_par_iter()
            .map(|c| {
                let (mean, var) = stats[c];
                let inv_std = 1.0 / (var + self.eps).sqrt();
                let (mut sum_g, mut sum_gx) = (0f64, 0f64);
                for (xs, gs) in s.planes(x, c).zip(s.planes(g, c)) {
                    for (&x, &g) in xs.iter().zip(gs) {
                        sum_g += g as f64;
                        sum_gx += g as f64 * (x as f64 - mean) * inv_std;
                    }
                }
                (inv_std, sum_g, sum_gx)
            })
            .collect();
        let mut out = vec![0f32; x.len() + 2 * s.channels];
        let (dx, rest) = out.split_at_mut(x.len());
        dx.par_chunks_mut(s.spatial.max(1))
            .zip(
                x.par_chunks(s.spatial.max(1))
                    .zip(g.par_chunks(s.spatial.max(1))),
            )
            .enumerate()
            .for_each(|(plane, (dx, (x, g)))| {
                let c = plane % s.channels;
                let (inv_std, sum_g, sum_gx) = sums[c];
                let mean = stats[c].0;
                let k = weight[c] as f64 * inv_std;
                let (mean_g, mean_gx) = (sum_g / n, sum_gx / n);
                for ((dx, &x), &g) in dx.iter_mut().zip(x).zip(g) {
                    let x_hat = (x as f64 - mean) * inv_std;
                    *dx = (k * (g as f64 - mean_g - x_hat * mean_gx)) as f32;
                }
            });
        let (dweight, dbias) = rest.split_at_mut(s.channels);
        for (c, &(_, sum_g, sum_gx)) in sums.iter().enumerate() {
            dweight[c] = sum_gx as f32;
            dbias[c] = sum_g as f32;
        }
        Ok((CpuStorage::F32(out), Shape::from(x.len() + 2 * s.channels)))
    }
}

/// Batch normalisation of `x` (`[B, C]` or `[B, C, H, W]`, contiguous CPU `f32`) on its own
/// statistics, with `weight` and `bias` of `[C]`, then `activation` in the same sweep;
/// gradients reach all three (first order).
pub fn batch_norm_train(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
    activation: Activation,
) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op3(
        &weight.contiguous()?,
        &bias.contiguous()?,
        BatchNormTrain { eps, activation },
    )
}

/// Per-channel mean and biased variance as `[2, C]` (no backward).
struct ChannelMoments;

impl CustomOp1 for ChannelMoments {
    fn name(&self) -> &'static str {
        "socgan-channel-moments"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let s = Sizes::of(layout)?;
        let stats = moments(cpu_slice(storage, layout, "batch norm input")?, s);
        let mut out: Vec<f32> = stats.iter().map(|m| m.0 as f32).collect();
        out.extend(stats.iter().map(|m| m.1 as f32));
        Ok((CpuStorage::F32(out), Shape::from((2, s.channels))))
    }
}

/// Per-channel mean and biased variance of `x` (no gradient), `[C]` each: the statistics
/// [`batch_norm_train`] normalises with, for the running averages.
pub fn channel_moments_detached(x: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
    let stats = x.contiguous()?.apply_op1_no_bwd(&ChannelMoments)?;
    Ok((stats.get(0)?, stats.get(1)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::equivalence::{max_abs_diff, max_gradient_diffs};
    use candle_core::{Device, Var};
    use gan_core::SeededRng;

    /// The candle composition: normalise by the batch's own moments, then scale and shift.
    fn composition(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Tensor {
        let c = x.dim(1).unwrap();
        let mut shape = vec![1; x.rank()];
        shape[1] = c;
        let rows = x
            .transpose(0, 1)
            .unwrap()
            .contiguous()
            .unwrap()
            .reshape((c, ()))
            .unwrap();
        let mean = rows.mean_keepdim(1).unwrap();
        let var = rows
            .broadcast_sub(&mean)
            .unwrap()
            .sqr()
            .unwrap()
            .mean_keepdim(1)
            .unwrap();
        let inv_std = (var + eps).unwrap().sqrt().unwrap().recip().unwrap();
        let mean = mean.reshape(shape.clone()).unwrap();
        let inv_std = inv_std.reshape(shape.clone()).unwrap();
        x.broadcast_sub(&mean)
            .unwrap()
            .broadcast_mul(&inv_std)
            .unwrap()
            .broadcast_mul(&weight.reshape(shape.clone()).unwrap())
            .unwrap()
            .broadcast_add(&bias.reshape(shape).unwrap())
            .unwrap()
    }

    #[test]
    fn fused_batch_norm_matches_the_composition_in_values_and_gradients() {
        let mut rng = SeededRng::new(7);
        let var = |rng: &mut SeededRng, shape: &[usize], mean: f32| {
            Var::from_tensor(
                &(rng.normal(shape, 0.0, 1.0, &Device::Cpu).unwrap() + mean as f64).unwrap(),
            )
            .unwrap()
        };
        for shape in [vec![16, 5, 6, 6], vec![32, 7], vec![3, 4, 1, 1]] {
            let c = shape[1];
            let x = var(&mut rng, &shape, 2.0);
            let weight = var(&mut rng, &[c], 1.0);
            let bias = var(&mut rng, &[c], 0.0);
            for activation in [
                Activation::Identity,
                Activation::Relu,
                Activation::LeakyRelu(0.2),
            ] {
                let fused = batch_norm_train(&x, &weight, &bias, 1e-5, activation).unwrap();
                let plain = activation
                    .reference(&composition(&x, &weight, &bias, 1e-5))
                    .unwrap();
                assert!(
                    max_abs_diff(&fused, &plain) < 1e-4,
                    "{shape:?} {activation:?}"
                );
                let probe = rng.normal(&shape[..], 0.0, 1.0, &Device::Cpu).unwrap();
                for d in max_gradient_diffs(&fused, &plain, &probe, &[&x, &weight, &bias]) {
                    assert!(
                        d < 1e-3,
                        "gradient differs by {d} for {shape:?} {activation:?}"
                    );
                }
            }
            let (mean, variance) = channel_moments_detached(&x).unwrap();
            assert_eq!(mean.dims(), &[c]);
            assert!(variance.to_vec1::<f32>().unwrap().iter().all(|v| *v > 0.0));
        }
    }

    #[test]
    fn fused_batch_norm_does_not_depend_on_the_thread_count() {
        let mut rng = SeededRng::new(8);
        let x =
            Var::from_tensor(&rng.normal((9, 6, 5, 5), 0.0, 1.0, &Device::Cpu).unwrap()).unwrap();
        let weight = Var::from_tensor(&rng.normal(6, 1.0, 0.1, &Device::Cpu).unwrap()).unwrap();
        let bias = Var::from_tensor(&rng.normal(6, 0.0, 0.1, &Device::Cpu).unwrap()).unwrap();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let y = batch_norm_train(&x, &weight, &bias, 1e-5, Activation::Identity).unwrap();
                let grads = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
                let mut bits: Vec<u32> = Vec::new();
                for t in [&y, grads.get(&x).unwrap(), grads.get(&weight).unwrap()] {
                    let v: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
                    bits.extend(v.iter().map(|v| v.to_bits()));
                }
                bits
            })
        };
        assert_eq!(run(1), run(3));
    }
}
