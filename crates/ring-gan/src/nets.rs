//! The generator and the discriminator: multilayer perceptrons of ReLU layers, each layer one
//! [`socgan_nn::dense`] op.

use candle_core::Tensor;
use gan_core::{Init, ParamStore, SeededRng};
use serde::{Deserialize, Serialize};
use socgan_nn::GradientOrder;

use crate::Result;

/// The networks' sizes; the defaults are the unrolled-GAN paper's (noise 256, two hidden layers
/// of 128 units).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetsConfig {
    pub noise_dim: usize,
    pub hidden: usize,
    pub layers: usize,
}

impl Default for NetsConfig {
    fn default() -> Self {
        Self {
            noise_dim: 256,
            hidden: 128,
            layers: 2,
        }
    }
}

/// `layers` hidden ReLU layers of `hidden` units between `inputs` and `outputs`, weights drawn
/// as PyTorch's `nn.Linear` draws them (uniform in +-1/sqrt(fan_in)).
pub struct Mlp {
    weights: Vec<(Tensor, Tensor)>,
    order: GradientOrder,
}

impl Mlp {
    /// Parameters `{prefix}.{i}.weight` / `.bias` in `params`.
    pub fn new(
        params: &mut ParamStore,
        prefix: &str,
        sizes: &[usize],
        order: GradientOrder,
        rng: &mut SeededRng,
    ) -> Result<Self> {
        let mut weights = Vec::new();
        for (i, pair) in sizes.windows(2).enumerate() {
            let bound = 1.0 / (pair[0] as f32).sqrt();
            let init = Init::Uniform {
                low: -bound,
                high: bound,
            };
            let w = params.create(
                &format!("{prefix}.{i}.weight"),
                (pair[1], pair[0]),
                init,
                rng,
            )?;
            let b = params.create(&format!("{prefix}.{i}.bias"), pair[1], init, rng)?;
            weights.push((w, b));
        }
        Ok(Self { weights, order })
    }

    /// The sizes of a network of `config`'s hidden layers from `inputs` to `outputs`.
    pub fn sizes(config: &NetsConfig, inputs: usize, outputs: usize) -> Vec<usize> {
        std::iter::once(inputs)
            .chain(std::iter::repeat_n(config.hidden, config.layers))
            .chain(std::iter::once(outputs))
            .collect()
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for (i, (w, b)) in self.weights.iter().enumerate() {
            h = socgan_nn::dense(&h, w, b, self.order)?;
            if i + 1 < self.weights.len() {
                h = h.relu()?;
            }
        }
        Ok(h)
    }

    /// The same network on detached weights: the generator's update scores its points through
    /// the discriminator without computing the discriminator's weight gradients.
    pub fn frozen(&self) -> Self {
        Self {
            weights: self
                .weights
                .iter()
                .map(|(w, b)| (w.detach(), b.detach()))
                .collect(),
            order: self.order,
        }
    }
}
