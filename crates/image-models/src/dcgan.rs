//! DCGAN (Radford et al. 2016; PyTorch's `examples/dcgan`): a generator of transposed
//! convolutions with batch norm and ReLU, tanh out; a discriminator of strided convolutions with
//! leaky ReLU and (selectable) normalisation. At 64x64 the generator is
//! `noise -> 8f -> 4f -> 2f -> f -> C` over 4, 8, 16, 32, 64 pixels (f = 64 filters); the 32x32
//! variant drops one stage (`noise -> 4f -> 2f -> f -> C`).

use candle_core::Tensor;
use gan_core::{Mode, ParamStore, SeededRng};

use socgan_nn::{Activation, GradientOrder};

use crate::layers::{Conv, ConvTranspose, FeatureNorm, Normalization};
use crate::stabilizers::append_minibatch_stddev;
use crate::{Error, Result};

/// Channel multipliers of the hidden stages, from the generator's input side: 64x64 has four
/// (8, 4, 2, 1), 32x32 three (4, 2, 1).
fn stages(size: usize) -> Result<&'static [usize]> {
    match size {
        64 => Ok(&[8, 4, 2, 1]),
        32 => Ok(&[4, 2, 1]),
        other => Err(Error::Config(format!(
            "DCGAN generates 64x64 or 32x32 images, not {other}x{other}"
        ))),
    }
}

pub struct DcganGenerator {
    convs: Vec<ConvTranspose>,
    norms: Vec<FeatureNorm>,
}

impl DcganGenerator {
    pub fn new(
        params: &mut ParamStore,
        noise_dim: usize,
        filters: usize,
        (channels, size): (usize, usize),
        rng: &mut SeededRng,
    ) -> Result<Self> {
        let widths: Vec<usize> = stages(size)?.iter().map(|m| m * filters).collect();
        let mut convs = Vec::new();
        let mut norms = Vec::new();
        let mut inputs = noise_dim;
        for (i, &w) in widths.iter().enumerate() {
            // The first layer maps the 1x1 noise to 4x4; the others double the size.
            let (stride, padding) = if i == 0 { (1, 0) } else { (2, 1) };
            convs.push(ConvTranspose::new(
                params,
                &format!("convt{}", i + 1),
                inputs,
                w,
                4,
                stride,
                padding,
                rng,
            )?);
            norms.push(FeatureNorm::new(
                Normalization::Batch,
                params,
                &format!("bn{}", i + 1),
                w,
                rng,
            )?);
            inputs = w;
        }
        let last = widths.len() + 1;
        convs.push(ConvTranspose::new(
            params,
            &format!("convt{last}"),
            inputs,
            channels,
            4,
            2,
            1,
            rng,
        )?);
        Ok(Self { convs, norms })
    }

    /// Images in `[-1, 1]`, `[B, C, S, S]`.
    pub fn forward(&self, z: &Tensor, mode: &Mode) -> Result<Tensor> {
        let mut h = z.reshape((z.dim(0)?, z.dim(1)?, 1, 1))?;
        for (conv, norm) in self.convs.iter().zip(&self.norms) {
            // The generator's gradients are never differentiated again.
            h = norm.forward_activated(
                &conv.forward(&h)?,
                mode,
                Activation::Relu,
                GradientOrder::First,
            )?;
        }
        let last = self.convs.last().expect("at least one layer");
        Ok(last.forward(&h)?.tanh()?)
    }
}

pub struct DcganDiscriminator {
    convs: Vec<Conv>,
    norms: Vec<FeatureNorm>,
    /// Whether the last convolution also sees the batch's mean feature standard deviation.
    minibatch_stddev: bool,
    /// How far it must be differentiable (the second order under a gradient penalty).
    order: GradientOrder,
}

impl DcganDiscriminator {
    pub fn new(
        params: &mut ParamStore,
        filters: usize,
        (channels, size): (usize, usize),
        normalization: Normalization,
        minibatch_stddev: bool,
        order: GradientOrder,
        rng: &mut SeededRng,
    ) -> Result<Self> {
        let spectral = normalization == Normalization::Spectral;
        let widths: Vec<usize> = stages(size)?.iter().rev().map(|m| m * filters).collect();
        let mut convs = Vec::new();
        let mut norms = Vec::new();
        let mut inputs = channels;
        for (i, &w) in widths.iter().enumerate() {
            convs.push(Conv::new(
                params,
                &format!("conv{}", i + 1),
                inputs,
                w,
                4,
                2,
                1,
                spectral,
                rng,
            )?);
            // DCGAN leaves the first layer unnormalised.
            let norm = if i == 0 {
                Normalization::None
            } else {
                normalization
            };
            norms.push(FeatureNorm::new(
                norm,
                params,
                &format!("norm{}", i + 1),
                w,
                rng,
            )?);
            inputs = w;
        }
        let last = widths.len() + 1;
        convs.push(Conv::new(
            params,
            &format!("conv{last}"),
            inputs + usize::from(minibatch_stddev),
            1,
            4,
            1,
            0,
            spectral,
            rng,
        )?);
        Ok(Self {
            convs,
            norms,
            minibatch_stddev,
            order,
        })
    }

    /// The same network with detached parameters (see [`crate::nets::Discriminator::frozen`]).
    pub fn frozen(&self) -> Self {
        Self {
            convs: self.convs.iter().map(Conv::frozen).collect(),
            norms: self.norms.iter().map(FeatureNorm::frozen).collect(),
            minibatch_stddev: self.minibatch_stddev,
            order: self.order,
        }
    }

    /// One logit per image: `[B]`.
    pub fn forward(&self, x: &Tensor, mode: &Mode) -> Result<Tensor> {
        let mut h = x.clone();
        for (conv, norm) in self.convs.iter().zip(&self.norms) {
            let pre = conv.forward(&h, mode)?;
            h = norm.forward_activated(&pre, mode, Activation::LeakyRelu(0.2), self.order)?;
        }
        if self.minibatch_stddev {
            h = append_minibatch_stddev(&h)?;
        }
        let last = self.convs.last().expect("at least one layer");
        Ok(last.forward(&h, mode)?.flatten_all()?)
    }
}
