//! The architectures an image GAN config names, and their generator and discriminator.

use candle_core::{Device, Tensor};
use gan_core::{Mode, ParamStore, SeededRng};
use serde::{Deserialize, Serialize};
use socgan_nn::GradientOrder;

use crate::dcgan::{DcganDiscriminator, DcganGenerator};
use crate::layers::Normalization;
use crate::mlp::{MlpDiscriminator, MlpGenerator, MlpLayout};
use crate::{Error, Result};

/// Which image GAN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    /// The MLP GAN at the data's own size: by default noise 100 -> 128 -> 128 -> pixels
    /// (sigmoid), D pixels -> 128 -> 128 -> 1; `[model.mlp]` sets other widths and activations.
    Mlp,
    /// DCGAN at 64x64, 64 filters.
    Dcgan,
    /// DCGAN at 32x32, 32 filters: a quarter of the cost, for comparing losses on two cores.
    Dcgan32,
}

/// The range generated pixels live in, and real ones are mapped to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelRange {
    /// `[0, 1]` (a sigmoid output).
    ZeroOne,
    /// `[-1, 1]` (a tanh output).
    MinusOneOne,
}

impl PixelRange {
    /// `[0, 1]` pixels in this range.
    pub fn from_unit(self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            PixelRange::ZeroOne => x.clone(),
            PixelRange::MinusOneOne => x.affine(2.0, -1.0)?,
        })
    }

    /// Pixels in this range back in `[0, 1]` (clamped).
    pub fn to_unit(self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            PixelRange::ZeroOne => x.clamp(0f32, 1f32)?,
            PixelRange::MinusOneOne => x.affine(0.5, 0.5)?.clamp(0f32, 1f32)?,
        })
    }
}

impl Architecture {
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Mlp => "mlp",
            Architecture::Dcgan => "dcgan",
            Architecture::Dcgan32 => "dcgan32",
        }
    }

    /// The side of the images it generates for data of side `data_size`.
    pub fn image_size(self, data_size: usize) -> usize {
        match self {
            Architecture::Mlp => data_size,
            Architecture::Dcgan => 64,
            Architecture::Dcgan32 => 32,
        }
    }

    /// Filters (DCGAN) or hidden units (MLP) when the config does not say.
    pub fn default_width(self) -> usize {
        match self {
            Architecture::Mlp => 128,
            Architecture::Dcgan => 64,
            Architecture::Dcgan32 => 32,
        }
    }
}

/// The sizes of one model.
#[derive(Clone, Debug)]
pub struct NetShape {
    pub architecture: Architecture,
    pub noise_dim: usize,
    /// DCGAN's filters (the MLP's widths are in `mlp`).
    pub width: usize,
    pub channels: usize,
    pub size: usize,
    pub normalization: Normalization,
    /// The MLP's widths and activations (read by the MLP only).
    pub mlp: MlpLayout,
    /// The discriminator's minibatch standard deviation feature.
    pub minibatch_stddev: bool,
    /// How far the discriminator must be differentiable: the second order under a gradient
    /// penalty (which differentiates its input gradient), else the first (fused layers).
    pub critic_order: GradientOrder,
}

impl NetShape {
    /// The range the generator's pixels live in (and real images are mapped to).
    pub fn pixel_range(&self) -> PixelRange {
        match self.architecture {
            Architecture::Mlp => self.mlp.output.pixel_range(),
            Architecture::Dcgan | Architecture::Dcgan32 => PixelRange::MinusOneOne,
        }
    }
}

pub enum Generator {
    Mlp(MlpGenerator),
    Dcgan(DcganGenerator),
}

pub enum Discriminator {
    Mlp(MlpDiscriminator),
    Dcgan(DcganDiscriminator),
}

/// A generator with its parameters, initialised from `rng`.
pub fn generator(
    shape: &NetShape,
    device: &Device,
    rng: &mut SeededRng,
) -> Result<(Generator, ParamStore)> {
    let mut params = ParamStore::new(device);
    let net = match shape.architecture {
        Architecture::Mlp => Generator::Mlp(MlpGenerator::new(
            &mut params,
            shape.noise_dim,
            &shape.mlp,
            (shape.channels, shape.size),
            rng,
        )?),
        Architecture::Dcgan | Architecture::Dcgan32 => Generator::Dcgan(DcganGenerator::new(
            &mut params,
            shape.noise_dim,
            shape.width,
            (shape.channels, shape.size),
            rng,
        )?),
    };
    Ok((net, params))
}

/// A discriminator with its parameters, initialised from `rng`.
pub fn discriminator(
    shape: &NetShape,
    device: &Device,
    rng: &mut SeededRng,
) -> Result<(Discriminator, ParamStore)> {
    let mut params = ParamStore::new(device);
    let net = match shape.architecture {
        Architecture::Mlp => Discriminator::Mlp(MlpDiscriminator::new(
            &mut params,
            shape.channels * shape.size * shape.size,
            &shape.mlp,
            shape.normalization,
            shape.minibatch_stddev,
            shape.critic_order,
            rng,
        )?),
        Architecture::Dcgan | Architecture::Dcgan32 => {
            Discriminator::Dcgan(DcganDiscriminator::new(
                &mut params,
                shape.width,
                (shape.channels, shape.size),
                shape.normalization,
                shape.minibatch_stddev,
                shape.critic_order,
                rng,
            )?)
        }
    };
    Ok((net, params))
}

impl Generator {
    /// Images `[B, C, S, S]` in the architecture's pixel range from noise `[B, noise_dim]`.
    pub fn forward(&self, z: &Tensor, mode: &Mode) -> Result<Tensor> {
        match self {
            Generator::Mlp(g) => g.forward(z, mode),
            Generator::Dcgan(g) => g.forward(z, mode),
        }
    }
}

impl Discriminator {
    /// The same network with detached parameters, sharing their storage (it sees every update)
    /// and the buffers (batch-norm statistics, spectral-norm vectors): a generator step runs D
    /// through it, so no gradient of D's weights is computed only to be thrown away. Its outputs
    /// are those of `self`.
    pub fn frozen(&self) -> Self {
        match self {
            Discriminator::Mlp(d) => Discriminator::Mlp(d.frozen()),
            Discriminator::Dcgan(d) => Discriminator::Dcgan(d.frozen()),
        }
    }

    /// One logit (or critic score) per image, `[B]`.
    pub fn forward(&self, x: &Tensor, mode: &Mode) -> Result<Tensor> {
        let logits = match self {
            Discriminator::Mlp(d) => d.forward(x, mode)?,
            Discriminator::Dcgan(d) => d.forward(x, mode)?,
        };
        if logits.dims() != [x.dim(0)?] {
            return Err(Error::Shape(format!(
                "discriminator gave {:?} for a batch of {}",
                logits.dims(),
                x.dim(0)?
            )));
        }
        Ok(logits)
    }
}
