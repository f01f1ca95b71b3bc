//! Sampling on the device that holds the model: the same inverse-CDF draw as
//! [`sample_rows`](crate::sample_rows), one host uniform per row, computed with tensor ops so
//! that a GPU neither sends its hidden states to the host nor waits for it at every token (the
//! drawn ids stay on the device until the caller reads them).
//!
//! The CDF is a blocked prefix sum (a triangular matmul within blocks of 64, another over the
//! block totals): candle's `cumsum` builds a `V x V` triangle, gigabytes at a vocabulary of
//! 20,000. Sums run in another order than the host kernel's running sum, so a uniform that
//! lands within rounding of a CDF step can pick the neighbouring token; otherwise the draws are
//! the host kernel's.

use candle_core::{DType, Device, Tensor, D};

use crate::Result;

/// Width of the blocks of the prefix sum.
const BLOCK: usize = 64;

/// Draws tokens from `softmax((hidden @ weight + bias) / temperature)` (`weight` `[H, V]`,
/// `bias` `[V]`) on the device that holds them, by inverting the CDF at one host uniform per
/// row. Built once per sampling call: it keeps the detached output layer and the prefix sum's
/// triangles on the device.
pub struct DeviceSampler {
    weight: Tensor,
    bias: Tensor,
    inv_temperature: f64,
    within_block: Tensor,
    before_block: Tensor,
}

impl DeviceSampler {
    pub fn new(weight: &Tensor, bias: &Tensor, temperature: f32) -> Result<Self> {
        let device = weight.device();
        let blocks = bias.dim(0)?.div_ceil(BLOCK);
        Ok(Self {
            // No graph: the draws are not differentiated, and a graph through the ids would keep
            // every step's [B, V] temporaries alive until the sequences end.
            weight: weight.detach(),
            bias: bias.detach(),
            inv_temperature: 1.0 / temperature as f64,
            within_block: triangle(BLOCK, true, device)?,
            before_block: triangle(blocks, false, device)?,
        })
    }

    /// One token per row of `hidden` (`[B, H]`), inverting the CDF at `uniforms[row]`: `[B]`
    /// u32 ids on `hidden`'s device.
    pub fn sample(&self, hidden: &Tensor, uniforms: &[f32]) -> Result<Tensor> {
        let logits = hidden
            .detach()
            .matmul(&self.weight)?
            .broadcast_add(&self.bias)?;
        let (rows, vocab) = logits.dims2()?;
        let max = logits.max_keepdim(D::Minus1)?;
        let mass = (logits.broadcast_sub(&max)? * self.inv_temperature)?.exp()?;
        let cdf = self.prefix_sum(&mass)?;
        let total = cdf.narrow(1, vocab - 1, 1)?;
        let u = Tensor::from_slice(uniforms, (rows, 1), hidden.device())?;
        let target = total.broadcast_mul(&u)?;
        // The first token whose running mass exceeds the target: the number of steps at or
        // below it.
        let below = cdf.broadcast_le(&target)?.to_dtype(DType::U32)?.sum(1)?;
        // Rounding can leave the target at the very end: the last token instead.
        Ok(below.minimum(vocab as u32 - 1)?)
    }

    /// Inclusive prefix sums along the rows of `x` (`[B, V]`).
    fn prefix_sum(&self, x: &Tensor) -> Result<Tensor> {
        let (rows, vocab) = x.dims2()?;
        let blocks = vocab.div_ceil(BLOCK);
        let padded = if blocks * BLOCK == vocab {
            x.clone()
        } else {
            let zeros = Tensor::zeros((rows, blocks * BLOCK - vocab), x.dtype(), x.device())?;
            Tensor::cat(&[x, &zeros], 1)?
        };
        let within = padded
            .reshape((rows * blocks, BLOCK))?
            .matmul(&self.within_block)?
            .reshape((rows, blocks, BLOCK))?;
        // Contiguous before the matmul: cuBLAS refuses a left operand strided like a column.
        let block_totals = within.narrow(2, BLOCK - 1, 1)?.squeeze(2)?.contiguous()?;
        let before_block = block_totals.matmul(&self.before_block)?;
        Ok(within
            .broadcast_add(&before_block.unsqueeze(2)?)?
            .reshape((rows, blocks * BLOCK))?
            .narrow(1, 0, vocab)?)
    }
}

/// `[n, n]` with ones where row <= column (`inclusive`) or row < column: `x @ triangle` sums
/// each row's entries up to (or before) every column.
fn triangle(n: usize, inclusive: bool, device: &Device) -> Result<Tensor> {
    let values: Vec<f32> = (0..n * n)
        .map(|i| {
            let (row, col) = (i / n, i % n);
            if row < col || (inclusive && row == col) {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    Ok(Tensor::from_vec(values, (n, n), device)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{sample_rows, SamplingConfig};
    use gan_core::SeededRng;

    #[test]
    fn prefix_sums_match_a_running_sum() {
        let values: Vec<f32> = (0..3 * 150).map(|i| (i % 7) as f32 * 0.25).collect();
        let x = Tensor::from_vec(values.clone(), (3, 150), &Device::Cpu).unwrap();
        let layer = Tensor::zeros((1, 150), DType::F32, &Device::Cpu).unwrap();
        let bias = Tensor::zeros(150, DType::F32, &Device::Cpu).unwrap();
        let sampler = DeviceSampler::new(&layer, &bias, 1.0).unwrap();
        let sums = sampler.prefix_sum(&x).unwrap().to_vec2::<f32>().unwrap();
        for (row, sums) in values.chunks(150).zip(sums) {
            let mut acc = 0f32;
            for (v, s) in row.iter().zip(sums) {
                acc += v;
                assert!((acc - s).abs() < 1e-4, "{acc} against {s}");
            }
        }
    }

    #[test]
    fn draws_are_the_host_kernels() {
        // A vocabulary that is not a multiple of the block, rows of a peaked and a flat softmax.
        let (rows, hidden_dim, vocab) = (2000, 8, 300);
        let mut rng = SeededRng::new(11);
        let hidden = rng.uniform_vec(rows * hidden_dim, -2.0, 2.0);
        let weight = rng.uniform_vec(hidden_dim * vocab, -1.0, 1.0);
        let bias = rng.uniform_vec(vocab, -1.0, 1.0);
        let uniforms = rng.uniform_vec(rows, 0.0, 1.0);
        for temperature in [1.0f32, 0.7] {
            let config = SamplingConfig {
                temperature,
                ..SamplingConfig::default()
            };
            let host = sample_rows(&hidden, &weight, &bias, hidden_dim, &config, &uniforms);
            let tensor = |v: &[f32], shape: &[usize]| Tensor::from_slice(v, shape, &Device::Cpu);
            let sampler = DeviceSampler::new(
                &tensor(&weight, &[hidden_dim, vocab]).unwrap(),
                &tensor(&bias, &[vocab]).unwrap(),
                temperature,
            )
            .unwrap();
            let on_device = sampler
                .sample(&tensor(&hidden, &[rows, hidden_dim]).unwrap(), &uniforms)
                .unwrap()
                .to_vec1::<u32>()
                .unwrap();
            let differ = host.iter().zip(&on_device).filter(|(a, b)| a != b).count();
            // Only a uniform within rounding of a CDF step may pick the neighbour.
            assert!(differ <= 2, "{differ} of {rows} draws differ");
        }
    }
}
