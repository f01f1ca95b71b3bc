//! The semi-supervised GAN over sentence vectors (Salimans et al. 2016; GAN-BERT, Croce et al.
//! 2020): a generator from noise to fake sentence vectors, and a discriminator that is also the
//! classifier, with one hidden layer whose activations feature matching compares.
//!
//! The two heads:
//! - [`Head::KPlusOne`] (GAN-BERT): `K + 1` logits, the last one "generated";
//! - [`Head::FixedFakeLogit`] (Salimans et al.): `K` logits, the fake logit fixed at 0, so
//!   `p(fake | x) = 1 / (1 + sum_k exp l_k)`.
//!
//! Losses, in log-space so that they stay finite when the discriminator is sure
//! (`lse` = log-sum-exp over the logits named):
//! - `log p(fake) = l_fake - lse(all)`, `log (1 - p(fake)) = lse(real classes) - lse(all)`;
//! - discriminator: cross-entropy of the `K` class logits on the labelled rows, minus
//!   `mean log (1 - p(fake))` over real rows (labelled and unlabelled), minus `mean log p(fake)`
//!   over generated rows;
//! - generator: `-mean log (1 - p(fake))` over generated rows plus feature matching,
//!   `mean_j (mean_batch h_real - mean_batch h_fake)_j^2` on the hidden layer (the mean over
//!   hidden units, as both reference codes compute it).
//!
//! D's optimizer steps on the discriminator loss only and G's on the generator loss only (the
//! trainer differentiates each loss for the optimizers it names); the PyTorch port of GAN-BERT
//! lets the generator loss leak into D's gradients, which is not copied.

use candle_core::{DType, Device, Tensor, D};
use candle_nn::{Linear, Module};
use gan_core::{Mode, ParamStore, SeededRng};
use serde::{Deserialize, Serialize};

use crate::Result;

/// Negative slope of the LeakyReLU in both networks (GAN-BERT: 0.2).
const LEAKY_SLOPE: f64 = 0.2;

/// How the discriminator says "generated".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Head {
    /// GAN-BERT's `K + 1` outputs.
    KPlusOne,
    /// Salimans et al.'s `K` outputs with the fake logit fixed at 0.
    FixedFakeLogit,
}

/// Sizes and dropout of the two networks; `Default` is GAN-BERT's (noise 100, one hidden layer
/// each, dropout 0.1), the hidden width that of the sentence vectors unless set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GanShape {
    pub noise_dim: usize,
    /// Hidden width of both networks; 0 = the sentence vectors' width.
    pub hidden_dim: usize,
    pub dropout: f32,
}

impl Default for GanShape {
    fn default() -> Self {
        Self {
            noise_dim: 100,
            hidden_dim: 0,
            dropout: 0.1,
        }
    }
}

impl GanShape {
    pub fn hidden(&self, feature_dim: usize) -> usize {
        if self.hidden_dim == 0 {
            feature_dim
        } else {
            self.hidden_dim
        }
    }
}

fn leaky_relu(x: &Tensor) -> Result<Tensor> {
    // max(x, slope x): one comparison, and a gradient for every element.
    Ok(x.maximum(&(x * LEAKY_SLOPE)?)?)
}

/// Noise `U(0, 1)` -> hidden (LeakyReLU, dropout) -> a fake sentence vector.
pub struct FeatureGenerator {
    params: ParamStore,
    hidden: Linear,
    output: Linear,
    noise_dim: usize,
    dropout: f32,
}

impl FeatureGenerator {
    pub fn new(
        shape: &GanShape,
        feature_dim: usize,
        device: &Device,
        rng: &mut SeededRng,
    ) -> Result<Self> {
        let mut params = ParamStore::new(device);
        let hidden_dim = shape.hidden(feature_dim);
        let (hidden, output) = {
            let vb = params.var_builder(rng);
            (
                candle_nn::linear(shape.noise_dim, hidden_dim, vb.pp("hidden"))?,
                candle_nn::linear(hidden_dim, feature_dim, vb.pp("output"))?,
            )
        };
        Ok(Self {
            params,
            hidden,
            output,
            noise_dim: shape.noise_dim,
            dropout: shape.dropout,
        })
    }

    pub fn params(&self) -> &ParamStore {
        &self.params
    }

    /// `n` fake sentence vectors `[n, feature_dim]`, noise drawn from `rng`.
    pub fn generate(&self, n: usize, rng: &mut SeededRng) -> Result<Tensor> {
        let noise = rng.uniform((n, self.noise_dim), 0.0, 1.0, self.params.device())?;
        let h = leaky_relu(&self.hidden.forward(&noise)?)?;
        let h = Mode::Train(rng).dropout(&h, self.dropout)?;
        Ok(self.output.forward(&h)?)
    }
}

/// Input dropout -> hidden (LeakyReLU; the feature-matching layer) -> dropout -> logits.
pub struct KPlusOneDiscriminator {
    params: ParamStore,
    hidden: Linear,
    output: Linear,
    head: Head,
    classes: usize,
    dropout: f32,
}

/// What the discriminator says about a batch.
pub struct DiscriminatorOutput {
    /// The hidden (feature-matching) layer `[B, H]`.
    pub hidden: Tensor,
    /// Class logits `[B, K]`.
    pub class_logits: Tensor,
    /// Every logit, the fake one last `[B, K + 1]` (for [`Head::FixedFakeLogit`] a column of 0).
    pub all_logits: Tensor,
}

impl KPlusOneDiscriminator {
    pub fn new(
        shape: &GanShape,
        feature_dim: usize,
        classes: usize,
        head: Head,
        device: &Device,
        rng: &mut SeededRng,
    ) -> Result<Self> {
        let mut params = ParamStore::new(device);
        let hidden_dim = shape.hidden(feature_dim);
        let outputs = match head {
            Head::KPlusOne => classes + 1,
            Head::FixedFakeLogit => classes,
        };
        let (hidden, output) = {
            let vb = params.var_builder(rng);
            (
                candle_nn::linear(feature_dim, hidden_dim, vb.pp("hidden"))?,
                candle_nn::linear(hidden_dim, outputs, vb.pp("output"))?,
            )
        };
        Ok(Self {
            params,
            hidden,
            output,
            head,
            classes,
            dropout: shape.dropout,
        })
    }

    pub fn params(&self) -> &ParamStore {
        &self.params
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The discriminator's view of sentence vectors `[B, F]`.
    pub fn forward(&self, x: &Tensor, mode: &mut Mode) -> Result<DiscriminatorOutput> {
        let x = mode.dropout(x, self.dropout)?;
        let hidden = leaky_relu(&self.hidden.forward(&x)?)?;
        let h = mode.dropout(&hidden, self.dropout)?;
        let logits = self.output.forward(&h)?;
        let (class_logits, all_logits) = match self.head {
            Head::KPlusOne => (logits.narrow(1, 0, self.classes)?, logits),
            Head::FixedFakeLogit => {
                let zeros = Tensor::zeros((logits.dim(0)?, 1), DType::F32, logits.device())?;
                let all = Tensor::cat(&[&logits, &zeros], 1)?;
                (logits, all)
            }
        };
        Ok(DiscriminatorOutput {
            hidden,
            class_logits,
            all_logits,
        })
    }
}

/// `(log p(fake), log (1 - p(fake)))` per row of `[B, K + 1]` logits, fake last.
fn fake_log_probs(all_logits: &Tensor) -> Result<(Tensor, Tensor)> {
    let k = all_logits.dim(1)? - 1;
    let lse_all = all_logits.log_sum_exp(1)?;
    let lse_real = all_logits.narrow(1, 0, k)?.log_sum_exp(1)?;
    let fake = all_logits.narrow(1, k, 1)?.squeeze(1)?;
    Ok(((fake - &lse_all)?, (lse_real - lse_all)?))
}

/// Mean cross-entropy of class logits `[B, K]` over the rows whose label is `Some`; 0 when the
/// batch has none (GAN-BERT's convention).
pub fn supervised_loss(class_logits: &Tensor, labels: &[Option<u32>]) -> Result<Tensor> {
    let rows: Vec<u32> = (0..labels.len() as u32)
        .filter(|&i| labels[i as usize].is_some())
        .collect();
    if rows.is_empty() {
        return Ok(Tensor::zeros((), DType::F32, class_logits.device())?);
    }
    let targets: Vec<u32> = labels.iter().flatten().copied().collect();
    let device = class_logits.device();
    let picked = class_logits
        .contiguous()?
        .index_select(&Tensor::new(rows.as_slice(), device)?, 0)?;
    let log_probs = candle_nn::ops::log_softmax(&picked, D::Minus1)?;
    Ok(candle_nn::loss::nll(
        &log_probs,
        &Tensor::new(targets.as_slice(), device)?,
    )?)
}

/// The discriminator's unsupervised loss: `-mean log (1 - p(fake | real))
/// - mean log p(fake | generated)`.
pub fn discriminator_adversarial_loss(real: &Tensor, fake: &Tensor) -> Result<Tensor> {
    let (_, real_not_fake) = fake_log_probs(real)?;
    let (fake_fake, _) = fake_log_probs(fake)?;
    Ok((real_not_fake.mean_all()?.neg()? - fake_fake.mean_all()?)?)
}

/// The generator's loss: `-mean log (1 - p(fake | generated))` plus feature matching between the
/// hidden layers of real `[B, H]` and generated `[B', H]` rows.
pub fn generator_loss(
    fake_logits: &Tensor,
    real_hidden: &Tensor,
    fake_hidden: &Tensor,
) -> Result<Tensor> {
    let (_, fake_not_fake) = fake_log_probs(fake_logits)?;
    let adversarial = fake_not_fake.mean_all()?.neg()?;
    let gap = (real_hidden.mean(0)? - fake_hidden.mean(0)?)?;
    let matching = gap.sqr()?.mean_all()?;
    Ok((adversarial + matching)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gan_core::gradient_flow::check_gradient_flow;

    fn close(a: f32, b: f32) {
        assert!((a - b).abs() < 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
    }

    #[test]
    fn losses_match_the_probability_formulas() {
        let dev = Device::Cpu;
        let real = Tensor::new(&[[1.0f32, 2.0, 0.5], [0.0, -1.0, 3.0]], &dev).unwrap();
        let fake = Tensor::new(&[[0.3f32, 0.1, 2.0]], &dev).unwrap();
        let softmax = |row: &[f32]| {
            let z: f32 = row.iter().map(|v| v.exp()).sum();
            row.iter().map(|v| v.exp() / z).collect::<Vec<_>>()
        };
        let r: Vec<Vec<f32>> = real.to_vec2().unwrap();
        let f: Vec<Vec<f32>> = fake.to_vec2().unwrap();
        let expected = -((1.0 - softmax(&r[0])[2]).ln() + (1.0 - softmax(&r[1])[2]).ln()) / 2.0
            - softmax(&f[0])[2].ln();
        let d = discriminator_adversarial_loss(&real, &fake).unwrap();
        close(d.to_scalar::<f32>().unwrap(), expected);

        let hr = Tensor::new(&[[1.0f32, 0.0], [3.0, 2.0]], &dev).unwrap();
        let hf = Tensor::new(&[[0.0f32, 0.0]], &dev).unwrap();
        // Feature gap (2, 1): mean of squares 2.5.
        let expected = -(1.0 - softmax(&f[0])[2]).ln() + 2.5;
        let g = generator_loss(&fake, &hr, &hf).unwrap();
        close(g.to_scalar::<f32>().unwrap(), expected);

        // Cross-entropy over the K class logits of the labelled rows only.
        let ce = supervised_loss(&real.narrow(1, 0, 2).unwrap(), &[None, Some(0)]).unwrap();
        let p = softmax(&[0.0, -1.0]);
        close(ce.to_scalar::<f32>().unwrap(), -p[0].ln());
        let none = supervised_loss(&real, &[None, None]).unwrap();
        assert_eq!(none.to_scalar::<f32>().unwrap(), 0.0);
    }

    #[test]
    fn losses_stay_finite_when_the_discriminator_is_sure() {
        let dev = Device::Cpu;
        let sure =
            Tensor::new(&[[100.0f32, -100.0, -100.0], [-100.0, -100.0, 100.0]], &dev).unwrap();
        let d = discriminator_adversarial_loss(&sure, &sure).unwrap();
        assert!(d.to_scalar::<f32>().unwrap().is_finite());
        let h = Tensor::zeros((2, 3), DType::F32, &dev).unwrap();
        let g = generator_loss(&sure, &h, &h).unwrap();
        assert!(g.to_scalar::<f32>().unwrap().is_finite());
    }

    #[test]
    fn both_heads_pass_gradients_to_every_weight() {
        for head in [Head::KPlusOne, Head::FixedFakeLogit] {
            let dev = Device::Cpu;
            let shape = GanShape {
                noise_dim: 8,
                hidden_dim: 6,
                dropout: 0.1,
            };
            let mut rng = SeededRng::new(3);
            let g = FeatureGenerator::new(&shape, 5, &dev, &mut rng).unwrap();
            let d = KPlusOneDiscriminator::new(&shape, 5, 3, head, &dev, &mut rng).unwrap();
            let real = rng.normal((4, 5), 0.0, 1.0, &dev).unwrap();
            let fake = g.generate(4, &mut rng).unwrap();
            let r = d.forward(&real, &mut Mode::Train(&mut rng)).unwrap();
            let f = d.forward(&fake, &mut Mode::Train(&mut rng)).unwrap();
            assert_eq!(r.all_logits.dims(), &[4, 4]);
            assert_eq!(r.class_logits.dims(), &[4, 3]);
            let labels = [Some(0), None, Some(2), None];
            let d_loss = (supervised_loss(&r.class_logits, &labels).unwrap()
                + discriminator_adversarial_loss(&r.all_logits, &f.all_logits).unwrap())
            .unwrap();
            check_gradient_flow(&d_loss, d.params()).unwrap();
            let g_loss = generator_loss(&f.all_logits, &r.hidden, &f.hidden).unwrap();
            check_gradient_flow(&g_loss, g.params()).unwrap();
        }
    }
}
