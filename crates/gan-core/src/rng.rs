//! The one source of randomness. candle's CPU RNG cannot be seeded (`Device::Cpu.set_seed` is an
//! error), so `Tensor::rand`, candle's `Init`, `ops::dropout` and `sampling::gumbel_softmax` are
//! never used for anything that must reproduce; every draw comes from here instead.

use candle_core::{Device, Shape, Tensor};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::Result;

/// A seeded, serialisable random number generator (ChaCha8).
///
/// ```
/// use gan_core::SeededRng;
/// let mut a = SeededRng::new(7);
/// let mut b = SeededRng::new(7);
/// assert_eq!(a.uniform_vec(4, 0.0, 1.0), b.uniform_vec(4, 0.0, 1.0));
/// ```
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SeededRng {
    inner: ChaCha8Rng,
}

impl SeededRng {
    pub fn new(seed: u64) -> Self {
        Self {
            inner: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// An independent stream derived from the run seed, a purpose and an index (an epoch, a
    /// step). Derived streams let, e.g., the batch order of epoch 7 or the evaluation at step 300
    /// be recomputed after a resume without storing them, and keep evaluation from disturbing the
    /// training draws.
    pub fn derive(seed: u64, purpose: &str, index: u64) -> Self {
        // FNV-1a of the purpose, mixed into the seed; the index selects the ChaCha stream.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in purpose.bytes() {
            hash = (hash ^ byte as u64).wrapping_mul(0x0100_0000_01b3);
        }
        let mut inner = ChaCha8Rng::seed_from_u64(seed ^ hash.rotate_left(17));
        inner.set_stream(index);
        Self { inner }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform_f32(&mut self) -> f32 {
        self.inner.random::<f32>()
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.inner.random_range(0..n)
    }

    pub fn uniform_vec(&mut self, n: usize, low: f32, high: f32) -> Vec<f32> {
        (0..n)
            .map(|_| low + (high - low) * self.inner.random::<f32>())
            .collect()
    }

    /// Standard normal draws by the Box-Muller transform.
    pub fn normal_vec(&mut self, n: usize, mean: f32, std: f32) -> Vec<f32> {
        let mut out = Vec::with_capacity(n + 1);
        while out.len() < n {
            // 1 - u keeps the logarithm finite.
            let u1 = 1.0 - self.inner.random::<f64>();
            let u2 = self.inner.random::<f64>();
            let radius = (-2.0 * u1.ln()).sqrt();
            let angle = std::f64::consts::TAU * u2;
            out.push(mean + std * (radius * angle.cos()) as f32);
            out.push(mean + std * (radius * angle.sin()) as f32);
        }
        out.truncate(n);
        out
    }

    /// Standard Gumbel draws `-ln(-ln u)`, with `u` kept away from 0 and 1.
    pub fn gumbel_vec(&mut self, n: usize) -> Vec<f32> {
        let mut draws: Vec<f32> = (0..n)
            .map(|_| self.inner.random::<f32>().clamp(1e-10, 1.0 - 1e-7))
            .collect();
        crate::fast_ln::gumbel_in_place(&mut draws);
        draws
    }

    pub fn uniform<S: Into<Shape>>(
        &mut self,
        shape: S,
        low: f32,
        high: f32,
        device: &Device,
    ) -> Result<Tensor> {
        let shape = shape.into();
        let data = self.uniform_vec(shape.elem_count(), low, high);
        Ok(Tensor::from_vec(data, shape, device)?)
    }

    pub fn normal<S: Into<Shape>>(
        &mut self,
        shape: S,
        mean: f32,
        std: f32,
        device: &Device,
    ) -> Result<Tensor> {
        let shape = shape.into();
        let data = self.normal_vec(shape.elem_count(), mean, std);
        Ok(Tensor::from_vec(data, shape, device)?)
    }

    pub fn gumbel<S: Into<Shape>>(&mut self, shape: S, device: &Device) -> Result<Tensor> {
        let shape = shape.into();
        let data = self.gumbel_vec(shape.elem_count());
        Ok(Tensor::from_vec(data, shape, device)?)
    }

    /// Inverted dropout with a seeded mask: zeroes each element with probability `p` and scales the
    /// rest by `1/(1-p)`. Identity when `p == 0`.
    pub fn dropout(&mut self, xs: &Tensor, p: f32) -> Result<Tensor> {
        let Some(mask) = self.dropout_multipliers(xs.elem_count(), p) else {
            return Ok(xs.clone());
        };
        let mask = Tensor::from_vec(mask, xs.shape(), xs.device())?.to_dtype(xs.dtype())?;
        Ok(xs.mul(&mask)?)
    }

    /// The multipliers [`Self::dropout`] would apply to `n` elements (`1/(1-p)` or 0), for fused
    /// kernels that apply dropout themselves; `None` when `p == 0` (nothing drawn).
    pub fn dropout_multipliers(&mut self, n: usize, p: f32) -> Option<Vec<f32>> {
        (p > 0.0).then(|| self.dropout_mask(n, 1.0 - p))
    }

    /// `1 / keep` with probability `keep`, else 0, for each of `n` elements: the draws of
    /// `random::<f32>() < keep` (the top 24 bits of each 32-bit word), taken from the stream in
    /// one `fill_bytes` rather than word by word, which was a tenth of a SASRec training step.
    fn dropout_mask(&mut self, n: usize, keep: f32) -> Vec<f32> {
        // Filled as words (rand fills the bytes and reads them little-endian), then mapped over
        // a plain slice so that the comparison vectorises; over bytes it did not.
        let mut words = vec![0u32; n];
        self.inner.fill(&mut words[..]);
        let scale = 1.0 / keep;
        let unit = 1.0 / (1u32 << 24) as f32;
        words
            .iter()
            .map(|&word| {
                if (word >> 8) as f32 * unit < keep {
                    scale
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// A uniformly random permutation of `0..n` (Fisher-Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.inner.random_range(0..=i);
            order.swap(i, j);
        }
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropout_masks_are_the_word_by_word_draws() {
        let mut fast = SeededRng::new(3);
        let mut slow = SeededRng::new(3);
        // An odd count first, so that the next mask starts mid-block.
        for n in [1001, 64, 4096] {
            let mask = fast.dropout_mask(n, 0.7);
            let expected: Vec<f32> = (0..n)
                .map(|_| {
                    if slow.inner.random::<f32>() < 0.7 {
                        1.0 / 0.7
                    } else {
                        0.0
                    }
                })
                .collect();
            assert_eq!(mask, expected);
        }
        assert_eq!(fast.next_u64(), slow.next_u64());
    }

    #[test]
    fn same_seed_same_draws_and_serialised_state_resumes() {
        let mut a = SeededRng::new(3);
        a.normal_vec(5, 0.0, 1.0);
        let saved = serde_json::to_string(&a).unwrap();
        let mut restored: SeededRng = serde_json::from_str(&saved).unwrap();
        assert_eq!(a.gumbel_vec(10), restored.gumbel_vec(10));
    }

    #[test]
    fn derived_streams_differ_by_purpose_and_index() {
        let draw = |p: &str, i| SeededRng::derive(1, p, i).next_u64();
        assert_eq!(draw("batches", 4), draw("batches", 4));
        assert_ne!(draw("batches", 4), draw("batches", 5));
        assert_ne!(draw("batches", 4), draw("eval", 4));
    }

    #[test]
    fn normal_draws_have_unit_moments() {
        let xs = SeededRng::new(11).normal_vec(20_000, 0.0, 1.0);
        let mean = xs.iter().sum::<f32>() / xs.len() as f32;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / xs.len() as f32;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "mean {mean} var {var}"
        );
    }

    #[test]
    fn permutation_is_a_permutation() {
        let mut p = SeededRng::new(0).permutation(100);
        p.sort();
        assert_eq!(p, (0..100).collect::<Vec<_>>());
    }
}
