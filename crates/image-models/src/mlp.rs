//! The MLP GANs of the seed documents (Goodfellow et al. 2014 as PyTorch tutorials train them
//! on MNIST): a generator noise -> hidden layers -> pixels and a discriminator pixels -> hidden
//! layers -> 1, with the layer widths, activations and output squashing of an [`MlpLayout`].
//! socgan's default layout is noise -> 128 -> 128 -> pixels (ReLU, sigmoid) against
//! pixels -> 128 -> 128 -> 1 (leaky ReLU 0.2).

use candle_core::Tensor;
use gan_core::{Mode, ParamStore, SeededRng};
use serde::{Deserialize, Serialize};

use crate::layers::{Dense, FeatureNorm, Normalization};
use crate::nets::PixelRange;
use crate::stabilizers::append_minibatch_stddev;
use crate::Result;
use socgan_nn::{Activation as FusedActivation, GradientOrder};

/// A hidden layer's activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Relu,
    /// Slope 0.2 below zero (DCGAN's and the seeds').
    LeakyRelu,
}

impl Activation {
    /// The same activation, fused into a dense layer.
    fn fused(self) -> FusedActivation {
        match self {
            Activation::Relu => FusedActivation::Relu,
            Activation::LeakyRelu => FusedActivation::LeakyRelu(0.2),
        }
    }
}

/// How the generator squashes its output, which fixes the pixel range real images are mapped to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    /// `[0, 1]` pixels.
    #[default]
    Sigmoid,
    /// `[-1, 1]` pixels.
    Tanh,
}

impl Output {
    pub fn pixel_range(self) -> PixelRange {
        match self {
            Output::Sigmoid => PixelRange::ZeroOne,
            Output::Tanh => PixelRange::MinusOneOne,
        }
    }
}

/// The widths and activations of an MLP GAN (`[model.mlp]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpLayout {
    /// The generator's hidden widths, from the noise on.
    pub generator: Vec<usize>,
    /// The discriminator's hidden widths, from the pixels on.
    pub discriminator: Vec<usize>,
    #[serde(default = "relu")]
    pub generator_activation: Activation,
    #[serde(default = "leaky")]
    pub discriminator_activation: Activation,
    #[serde(default)]
    pub output: Output,
}

fn relu() -> Activation {
    Activation::Relu
}
fn leaky() -> Activation {
    Activation::LeakyRelu
}

impl MlpLayout {
    /// socgan's default: two hidden layers of `width` in each network, ReLU and sigmoid in the
    /// generator, leaky ReLU in the discriminator.
    pub fn two_layers(width: usize) -> Self {
        Self {
            generator: vec![width, width],
            discriminator: vec![width, width],
            generator_activation: Activation::Relu,
            discriminator_activation: Activation::LeakyRelu,
            output: Output::Sigmoid,
        }
    }
}

/// Dense layers named `fc1`, `fc2`, ... through `widths`, and on to `outputs` when given.
fn dense_stack(
    params: &mut ParamStore,
    inputs: usize,
    widths: &[usize],
    outputs: Option<usize>,
    spectral: bool,
    rng: &mut SeededRng,
) -> Result<Vec<Dense>> {
    let mut sizes = vec![inputs];
    sizes.extend_from_slice(widths);
    sizes.extend(outputs);
    sizes
        .windows(2)
        .enumerate()
        .map(|(i, io)| Dense::new(params, &format!("fc{}", i + 1), io[0], io[1], spectral, rng))
        .collect()
}

pub struct MlpGenerator {
    layers: Vec<Dense>,
    activation: Activation,
    output: Output,
    shape: (usize, usize, usize),
}

impl MlpGenerator {
    /// `noise_dim -> layout.generator... -> channels * size * size`.
    pub fn new(
        params: &mut ParamStore,
        noise_dim: usize,
        layout: &MlpLayout,
        (channels, size): (usize, usize),
        rng: &mut SeededRng,
    ) -> Result<Self> {
        let pixels = channels * size * size;
        Ok(Self {
            layers: dense_stack(
                params,
                noise_dim,
                &layout.generator,
                Some(pixels),
                false,
                rng,
            )?,
            activation: layout.generator_activation,
            output: layout.output,
            shape: (channels, size, size),
        })
    }

    /// Images in the output's pixel range, `[B, C, H, W]`.
    pub fn forward(&self, z: &Tensor, mode: &Mode) -> Result<Tensor> {
        let (last, hidden) = self.layers.split_last().expect("an output layer");
        let mut h = z.clone();
        for layer in hidden {
            h = layer.forward_activated(&h, mode, self.activation.fused())?;
        }
        let logits = last.forward(&h, mode)?;
        let out = match self.output {
            Output::Sigmoid => candle_nn::ops::sigmoid(&logits)?,
            Output::Tanh => logits.tanh()?,
        };
        let (c, hh, w) = self.shape;
        Ok(out.reshape((z.dim(0)?, c, hh, w))?)
    }
}

pub struct MlpDiscriminator {
    layers: Vec<Dense>,
    norms: Vec<FeatureNorm>,
    activation: Activation,
    /// Whether the last layer also sees the batch's mean feature standard deviation.
    minibatch_stddev: bool,
    order: GradientOrder,
}

impl MlpDiscriminator {
    pub fn new(
        params: &mut ParamStore,
        pixels: usize,
        layout: &MlpLayout,
        normalization: Normalization,
        minibatch_stddev: bool,
        order: GradientOrder,
        rng: &mut SeededRng,
    ) -> Result<Self> {
        let spectral = normalization == Normalization::Spectral;
        let widths = &layout.discriminator;
        // The output layer sees one more input with the batch statistic.
        let output_inputs =
            widths.last().copied().unwrap_or(pixels) + usize::from(minibatch_stddev);
        let mut layers = dense_stack(params, pixels, widths, None, spectral, rng)?;
        let name = format!("fc{}", widths.len() + 1);
        layers.push(Dense::new(params, &name, output_inputs, 1, spectral, rng)?);
        let layers = layers.into_iter().map(|l| l.with_order(order)).collect();
        let mut norms = Vec::new();
        for (i, &w) in widths.iter().enumerate() {
            norms.push(FeatureNorm::new(
                normalization,
                params,
                &format!("norm{}", i + 1),
                w,
                rng,
            )?);
        }
        Ok(Self {
            layers,
            norms,
            activation: layout.discriminator_activation,
            minibatch_stddev,
            order,
        })
    }

    /// The same network with detached parameters (see [`crate::nets::Discriminator::frozen`]).
    pub fn frozen(&self) -> Self {
        Self {
            layers: self.layers.iter().map(Dense::frozen).collect(),
            norms: self.norms.iter().map(FeatureNorm::frozen).collect(),
            activation: self.activation,
            minibatch_stddev: self.minibatch_stddev,
            order: self.order,
        }
    }

    /// One logit per image: `[B]`.
    pub fn forward(&self, x: &Tensor, mode: &Mode) -> Result<Tensor> {
        let (last, hidden) = self.layers.split_last().expect("an output layer");
        let mut h = x.flatten_from(1)?;
        for (layer, norm) in hidden.iter().zip(&self.norms) {
            let act = self.activation.fused();
            h = if norm.is_identity() {
                layer.forward_activated(&h, mode, act)?
            } else {
                norm.forward_activated(&layer.forward(&h, mode)?, mode, act, self.order)?
            };
        }
        if self.minibatch_stddev {
            h = append_minibatch_stddev(&h)?;
        }
        Ok(last.forward(&h, mode)?.squeeze(1)?)
    }
}
