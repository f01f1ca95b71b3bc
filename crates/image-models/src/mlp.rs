//! The MLP GAN (the Goodfellow et al. 2014 setting as PyTorch tutorials train it on MNIST):
//! generator noise -> 128 -> 128 -> pixels with a sigmoid; discriminator pixels -> 128 -> 128 -> 1.

use candle_core::Tensor;
use gan_core::{Mode, ParamStore, SeededRng};

use crate::layers::{leaky_relu, Dense, FeatureNorm, Normalization};
use crate::Result;

pub struct MlpGenerator {
    layers: [Dense; 3],
    shape: (usize, usize, usize),
}

impl MlpGenerator {
    /// `noise_dim -> hidden -> hidden -> channels * size * size`.
    pub fn new(
        params: &mut ParamStore,
        noise_dim: usize,
        hidden: usize,
        (channels, size): (usize, usize),
        rng: &mut SeededRng,
    ) -> Result<Self> {
        let pixels = channels * size * size;
        Ok(Self {
            layers: [
                Dense::new(params, "fc1", noise_dim, hidden, false, rng)?,
                Dense::new(params, "fc2", hidden, hidden, false, rng)?,
                Dense::new(params, "fc3", hidden, pixels, false, rng)?,
            ],
            shape: (channels, size, size),
        })
    }

    /// Images in `[0, 1]`, `[B, C, H, W]`.
    pub fn forward(&self, z: &Tensor, mode: &Mode) -> Result<Tensor> {
        let h = self.layers[0].forward(z, mode)?.relu()?;
        let h = self.layers[1].forward(&h, mode)?.relu()?;
        let out = candle_nn::ops::sigmoid(&self.layers[2].forward(&h, mode)?)?;
        let (c, hh, w) = self.shape;
        Ok(out.reshape((z.dim(0)?, c, hh, w))?)
    }
}

pub struct MlpDiscriminator {
    layers: [Dense; 3],
    norms: [FeatureNorm; 2],
}

impl MlpDiscriminator {
    pub fn new(
        params: &mut ParamStore,
        pixels: usize,
        hidden: usize,
        normalization: Normalization,
        rng: &mut SeededRng,
    ) -> Result<Self> {
        let spectral = normalization == Normalization::Spectral;
        Ok(Self {
            layers: [
                Dense::new(params, "fc1", pixels, hidden, spectral, rng)?,
                Dense::new(params, "fc2", hidden, hidden, spectral, rng)?,
                Dense::new(params, "fc3", hidden, 1, spectral, rng)?,
            ],
            norms: [
                FeatureNorm::new(normalization, params, "norm1", hidden, rng)?,
                FeatureNorm::new(normalization, params, "norm2", hidden, rng)?,
            ],
        })
    }

    /// The same network with detached parameters (see [`crate::nets::Discriminator::frozen`]).
    pub fn frozen(&self) -> Self {
        Self {
            layers: self.layers.each_ref().map(Dense::frozen),
            norms: self.norms.each_ref().map(FeatureNorm::frozen),
        }
    }

    /// One logit per image: `[B]`.
    pub fn forward(&self, x: &Tensor, mode: &Mode) -> Result<Tensor> {
        let x = x.flatten_from(1)?;
        let h = self.norms[0].forward(&self.layers[0].forward(&x, mode)?, mode)?;
        let h = leaky_relu(&h, 0.2)?;
        let h = self.norms[1].forward(&self.layers[1].forward(&h, mode)?, mode)?;
        let h = leaky_relu(&h, 0.2)?;
        Ok(self.layers[2].forward(&h, mode)?.squeeze(1)?)
    }
}
