//! The layers the image GANs are built of, on `socgan-nn`'s convolutions and normalisations:
//! dense and convolutional layers (optionally spectrally normalised), transposed convolutions,
//! the critic's selectable normalisation with its activation fused where it can be.

use candle_core::Tensor;
use gan_core::{Init, Mode, ParamStore, SeededRng};
use serde::{Deserialize, Serialize};
use socgan_nn::{
    activate, dense_activation, Activation, BatchNorm, GradientOrder, GroupLayerNorm, SpectralNorm,
};

use crate::Result;

/// How the discriminator's hidden layers are normalised. WGAN-GP's penalty is taken per sample,
/// which batch statistics would mix, so it is refused with `batch`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Normalization {
    /// Batch normalisation (DCGAN's).
    #[default]
    Batch,
    /// Per-sample normalisation over channels and positions (the WGAN-GP paper's choice).
    Layer,
    /// Spectral normalisation of every weight (Miyato et al. 2018), no feature normalisation.
    Spectral,
    None,
}

impl Normalization {
    pub fn name(self) -> &'static str {
        match self {
            Normalization::Batch => "batch",
            Normalization::Layer => "layer",
            Normalization::Spectral => "spectral",
            Normalization::None => "none",
        }
    }
}

/// A weight, spectrally normalised or not.
struct Weight {
    tensor: Tensor,
    spectral: Option<SpectralNorm>,
}

impl Weight {
    fn new(
        params: &mut ParamStore,
        name: &str,
        shape: &[usize],
        init: Init,
        spectral: bool,
        rng: &mut SeededRng,
    ) -> Result<Self> {
        let tensor = params.create(&format!("{name}.weight"), shape, init, rng)?;
        let spectral = if spectral {
            Some(SpectralNorm::new(
                params,
                &format!("{name}.sn"),
                &tensor,
                rng,
            )?)
        } else {
            None
        };
        Ok(Self { tensor, spectral })
    }

    fn frozen(&self) -> Self {
        Self {
            tensor: self.tensor.detach(),
            spectral: self.spectral.clone(),
        }
    }

    fn value(&self, mode: &Mode) -> Result<Tensor> {
        Ok(match &self.spectral {
            Some(sn) => sn.apply(&self.tensor, mode)?,
            None => self.tensor.clone(),
        })
    }
}

/// `x @ W^T + b`, PyTorch's `Linear` with its default initialisation
/// (`U(-1/sqrt(fan_in), 1/sqrt(fan_in))` for weight and bias), as `socgan-nn`'s fused dense op
/// (one graph node with its activation) unless gradients of it are to be differentiated again.
pub struct Dense {
    weight: Weight,
    bias: Tensor,
    order: GradientOrder,
}

impl Dense {
    pub fn new(
        params: &mut ParamStore,
        name: &str,
        inputs: usize,
        outputs: usize,
        spectral: bool,
        rng: &mut SeededRng,
    ) -> Result<Self> {
        let bound = 1.0 / (inputs as f32).sqrt();
        let init = Init::Uniform {
            low: -bound,
            high: bound,
        };
        let weight = Weight::new(params, name, &[outputs, inputs], init, spectral, rng)?;
        let bias = params.create(&format!("{name}.bias"), outputs, init, rng)?;
        Ok(Self {
            weight,
            bias,
            order: GradientOrder::First,
        })
    }

    /// The layer differentiable to `order` (a WGAN-GP critic's: the second).
    pub fn with_order(self, order: GradientOrder) -> Self {
        Self { order, ..self }
    }

    /// The same layer with detached parameters (see [`FeatureNorm::frozen`]).
    pub fn frozen(&self) -> Self {
        Self {
            weight: self.weight.frozen(),
            bias: self.bias.detach(),
            order: self.order,
        }
    }

    pub fn forward(&self, x: &Tensor, mode: &Mode) -> Result<Tensor> {
        self.forward_activated(x, mode, Activation::Identity)
    }

    /// `activation(x @ W^T + b)`.
    pub fn forward_activated(
        &self,
        x: &Tensor,
        mode: &Mode,
        activation: Activation,
    ) -> Result<Tensor> {
        Ok(dense_activation(
            x,
            &self.weight.value(mode)?,
            &self.bias,
            activation,
            self.order,
        )?)
    }
}

/// A bias-free convolution (DCGAN's), weights `N(0, 0.02)`.
pub struct Conv {
    weight: Weight,
    stride: usize,
    padding: usize,
}

/// DCGAN's weight initialisation (Radford et al. 2016).
pub const DCGAN_INIT: Init = Init::Normal {
    mean: 0.0,
    std: 0.02,
};

impl Conv {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        params: &mut ParamStore,
        name: &str,
        channels_in: usize,
        channels_out: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        spectral: bool,
        rng: &mut SeededRng,
    ) -> Result<Self> {
        let shape = [channels_out, channels_in, kernel, kernel];
        Ok(Self {
            weight: Weight::new(params, name, &shape, DCGAN_INIT, spectral, rng)?,
            stride,
            padding,
        })
    }

    /// The same layer with a detached weight.
    pub fn frozen(&self) -> Self {
        Self {
            weight: self.weight.frozen(),
            stride: self.stride,
            padding: self.padding,
        }
    }

    pub fn forward(&self, x: &Tensor, mode: &Mode) -> Result<Tensor> {
        Ok(socgan_nn::conv2d(
            x,
            &self.weight.value(mode)?,
            self.stride,
            self.padding,
        )?)
    }
}

/// A bias-free transposed convolution (DCGAN's generator), weights `[Cin, Cout, K, K]`,
/// `N(0, 0.02)`.
pub struct ConvTranspose {
    weight: Tensor,
    stride: usize,
    padding: usize,
}

impl ConvTranspose {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        params: &mut ParamStore,
        name: &str,
        channels_in: usize,
        channels_out: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        rng: &mut SeededRng,
    ) -> Result<Self> {
        let shape = [channels_in, channels_out, kernel, kernel];
        Ok(Self {
            weight: params.create(&format!("{name}.weight"), &shape[..], DCGAN_INIT, rng)?,
            stride,
            padding,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(socgan_nn::conv_transpose2d(
            x,
            &self.weight,
            self.stride,
            self.padding,
        )?)
    }
}

/// The feature normalisation after a hidden layer, per [`Normalization`].
pub enum FeatureNorm {
    Batch(BatchNorm),
    Layer(GroupLayerNorm),
    Identity,
}

impl FeatureNorm {
    /// DCGAN initialises batch-norm scales from `N(1, 0.02)`.
    pub fn new(
        normalization: Normalization,
        params: &mut ParamStore,
        name: &str,
        channels: usize,
        rng: &mut SeededRng,
    ) -> Result<Self> {
        Ok(match normalization {
            Normalization::Batch => FeatureNorm::Batch(BatchNorm::new(
                params,
                name,
                channels,
                Init::Normal {
                    mean: 1.0,
                    std: 0.02,
                },
                rng,
            )?),
            Normalization::Layer => {
                FeatureNorm::Layer(GroupLayerNorm::new(params, name, channels, rng)?)
            }
            Normalization::Spectral | Normalization::None => FeatureNorm::Identity,
        })
    }

    /// The same normalisation with detached parameters, statistics and buffers shared: the
    /// discriminator of a generator step, whose parameter gradients would be thrown away.
    pub fn frozen(&self) -> Self {
        match self {
            FeatureNorm::Batch(bn) => FeatureNorm::Batch(bn.frozen()),
            FeatureNorm::Layer(ln) => FeatureNorm::Layer(ln.frozen()),
            FeatureNorm::Identity => FeatureNorm::Identity,
        }
    }

    /// Whether this normalisation does nothing (an activation may then fuse into the layer).
    pub fn is_identity(&self) -> bool {
        matches!(self, FeatureNorm::Identity)
    }

    /// `activation(norm(x))`, fused where the normalisation (batch norm in training) or the
    /// gradient order (the first) allows.
    pub fn forward_activated(
        &self,
        x: &Tensor,
        mode: &Mode,
        activation: Activation,
        order: GradientOrder,
    ) -> Result<Tensor> {
        Ok(match self {
            FeatureNorm::Batch(bn) => bn.forward_activated(x, mode, activation)?,
            FeatureNorm::Layer(ln) => activate(&ln.forward(x)?, activation, order)?,
            FeatureNorm::Identity => activate(x, activation, order)?,
        })
    }

    pub fn forward(&self, x: &Tensor, mode: &Mode) -> Result<Tensor> {
        Ok(match self {
            FeatureNorm::Batch(bn) => bn.forward(x, mode)?,
            FeatureNorm::Layer(ln) => ln.forward(x)?,
            FeatureNorm::Identity => x.clone(),
        })
    }
}
