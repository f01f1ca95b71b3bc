//! What the literature uses against mode collapse, as options of an image GAN run
//! (`[stabilizers]`; the fourth, different learning rates for D and G (Heusel et al. 2017's two
//! time-scale rule), is `optim.discriminator.lr` against `optim.generator.lr`):
//! - one-sided label smoothing (Salimans et al. 2016): the discriminator's target for real
//!   images is `real_label` (0.9) instead of 1, fakes keep 0, so D is never rewarded for
//!   growing more confident on real images;
//! - instance noise (Sønderby et al. 2017, Arjovsky & Bottou 2017): Gaussian noise added to
//!   every image the discriminator sees, real and generated, its standard deviation annealed
//!   linearly from `instance_noise` to 0 over the run, so the two distributions overlap early;
//! - minibatch standard deviation (Karras et al. 2018): the discriminator's last layer also sees
//!   the mean over features of the batch's per-feature standard deviation, so a batch of
//!   near-identical samples is visible to it.

use candle_core::Tensor;
use gan_core::loss::softplus;
use gan_core::{AdversarialLoss, SeededRng};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The options (none by default).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Stabilizers {
    /// The discriminator's target for real images, in `[0.5, 1)`: one-sided label smoothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub real_label: Option<f64>,
    /// The standard deviation of the noise added to the discriminator's inputs at step 0 (in
    /// the generator's pixel range), annealed linearly to 0 at the last step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_noise: Option<f64>,
    /// Append the batch's mean feature standard deviation before the discriminator's last layer.
    pub minibatch_stddev: bool,
}

impl Stabilizers {
    /// One line for an impossible combination with `loss`.
    pub fn validate(&self, loss: &AdversarialLoss) -> std::result::Result<(), String> {
        if let Some(label) = self.real_label {
            if !(0.5..1.0).contains(&label) {
                return Err(format!(
                    "stabilizers.real_label must be in [0.5, 1), got {label}"
                ));
            }
            if !matches!(
                loss,
                AdversarialLoss::NonSaturating
                    | AdversarialLoss::Minimax
                    | AdversarialLoss::LeastSquares
            ) {
                return Err(format!(
                    "stabilizers.real_label smooths a target, and the {} loss has none: use it with non_saturating, minimax or least_squares",
                    loss.name()
                ));
            }
        }
        if let Some(std) = self.instance_noise {
            if !(std > 0.0 && std.is_finite()) {
                return Err(format!(
                    "stabilizers.instance_noise must be a positive standard deviation, got {std}"
                ));
            }
        }
        if self.minibatch_stddev && loss.gradient_penalty_weight().is_some() {
            return Err("stabilizers.minibatch_stddev mixes the samples of a batch, and the gradient penalty is taken per sample: drop one".into());
        }
        Ok(())
    }

    /// The instance noise's standard deviation at `step` of `steps` (0 without it).
    pub fn noise_std(&self, step: u64, steps: u64) -> f64 {
        let Some(start) = self.instance_noise else {
            return 0.0;
        };
        let left = 1.0 - step as f64 / steps.max(1) as f64;
        start * left.max(0.0)
    }
}

/// `x + N(0, std^2)` from `rng` (`x` itself when `std` is 0).
pub fn add_instance_noise(x: &Tensor, std: f64, rng: &mut SeededRng) -> Result<Tensor> {
    if std == 0.0 {
        return Ok(x.clone());
    }
    let noise = rng.normal(x.dims(), 0.0, std as f32, x.device())?;
    Ok((x + noise)?)
}

/// The discriminator's loss with real images' target `real_label` (fakes' target stays 0): the
/// binary cross-entropy of the sigmoid losses, the squared error of least squares.
pub fn smoothed_discriminator_loss(
    loss: &AdversarialLoss,
    real: &Tensor,
    fake: &Tensor,
    real_label: f64,
) -> Result<Tensor> {
    Ok(match loss {
        AdversarialLoss::NonSaturating | AdversarialLoss::Minimax => {
            let on_real = ((softplus(&real.neg()?)? * real_label)?
                + (softplus(real)? * (1.0 - real_label))?)?;
            (on_real.mean_all()? + softplus(fake)?.mean_all()?)?
        }
        AdversarialLoss::LeastSquares => {
            (((real - real_label)?.sqr()?.mean_all()? + fake.sqr()?.mean_all()?)? * 0.5)?
        }
        other => {
            return Err(Error::Config(format!(
                "label smoothing is not defined for the {} loss",
                other.name()
            )))
        }
    })
}

/// `h` (`[B, F]` or `[B, C, H, W]`) with one more feature (or channel) holding, for every sample,
/// the mean over features (and positions) of the batch's standard deviation per feature.
pub fn append_minibatch_stddev(h: &Tensor) -> Result<Tensor> {
    let centred = h.broadcast_sub(&h.mean_keepdim(0)?)?;
    let std = (centred.sqr()?.mean_keepdim(0)? + 1e-8)?.sqrt()?;
    let statistic = std.mean_all()?;
    let mut dims = h.dims().to_vec();
    dims[1] = 1;
    let column = statistic.broadcast_as(dims.as_slice())?.contiguous()?;
    Ok(Tensor::cat(&[h, &column], 1)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-5
    }

    #[test]
    fn smoothing_to_one_is_the_core_loss_and_point_nine_raises_it_on_confident_reals() {
        let d = Device::Cpu;
        let real = Tensor::new(&[3.0f32, 0.5, -1.0], &d).unwrap();
        let fake = Tensor::new(&[-2.0f32, 0.1, 1.0], &d).unwrap();
        let scalar = |t: Tensor| t.to_scalar::<f32>().unwrap() as f64;
        for loss in [
            AdversarialLoss::NonSaturating,
            AdversarialLoss::LeastSquares,
        ] {
            let core = scalar(loss.discriminator_loss(&real, &fake).unwrap());
            let one = scalar(smoothed_discriminator_loss(&loss, &real, &fake, 1.0).unwrap());
            assert!(close(core, one), "{}: {core} vs {one}", loss.name());
        }
        // A single very confident real logit: its loss is no longer ~0 with the 0.9 target.
        let confident = Tensor::new(&[12.0f32], &d).unwrap();
        let none = Tensor::new(&[-12.0f32], &d).unwrap();
        let nb = AdversarialLoss::NonSaturating;
        let smoothed = scalar(smoothed_discriminator_loss(&nb, &confident, &none, 0.9).unwrap());
        assert!(
            close(smoothed, 0.9 * (1.0 + (-12f64).exp()).ln() + 0.1 * 12.0),
            "{smoothed}"
        );
        assert!(smoothed_discriminator_loss(&AdversarialLoss::Hinge, &real, &fake, 0.9).is_err());
    }

    #[test]
    fn the_minibatch_statistic_is_zero_for_identical_samples() {
        let d = Device::Cpu;
        let same = Tensor::ones((4, 3), candle_core::DType::F32, &d).unwrap();
        let out = append_minibatch_stddev(&same).unwrap();
        assert_eq!(out.dims(), [4, 4]);
        let col: Vec<f32> = out
            .narrow(1, 3, 1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert!(col.iter().all(|v| v.abs() < 1e-3), "{col:?}");
        // Two distinct samples [0, 0] and [2, 4]: per-feature std 1 and 2, mean 1.5.
        let spread = Tensor::new(&[[0f32, 0.0], [2.0, 4.0]], &d).unwrap();
        let col: Vec<f32> = append_minibatch_stddev(&spread)
            .unwrap()
            .narrow(1, 2, 1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert!(col.iter().all(|v| (v - 1.5).abs() < 1e-4), "{col:?}");
        // Four dimensions: one more channel.
        let maps = Tensor::zeros((2, 3, 4, 4), candle_core::DType::F32, &d).unwrap();
        assert_eq!(append_minibatch_stddev(&maps).unwrap().dims(), [2, 4, 4, 4]);
    }

    #[test]
    fn impossible_combinations_are_refused_and_the_noise_anneals() {
        let smoothing = Stabilizers {
            real_label: Some(0.9),
            ..Default::default()
        };
        assert!(smoothing.validate(&AdversarialLoss::NonSaturating).is_ok());
        let err = smoothing.validate(&AdversarialLoss::Hinge).unwrap_err();
        assert!(err.contains("hinge"), "{err}");
        let out_of_range = Stabilizers {
            real_label: Some(1.2),
            ..Default::default()
        };
        assert!(out_of_range
            .validate(&AdversarialLoss::NonSaturating)
            .is_err());
        let mbstd = Stabilizers {
            minibatch_stddev: true,
            ..Default::default()
        };
        assert!(mbstd
            .validate(&AdversarialLoss::WganGp { lambda: 10.0 })
            .is_err());
        let noise = Stabilizers {
            instance_noise: Some(0.2),
            ..Default::default()
        };
        assert!(close(noise.noise_std(0, 100), 0.2));
        assert!(close(noise.noise_std(50, 100), 0.1));
        assert!(close(noise.noise_std(100, 100), 0.0));
        assert_eq!(Stabilizers::default().noise_std(0, 100), 0.0);
    }
}
