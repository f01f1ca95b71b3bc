//! Adversarial objectives computed from discriminator logits.
//!
//! candle's `binary_cross_entropy_with_logit` takes a sigmoid and then a log, which turns into
//! NaN/inf once the discriminator saturates (candle #2561). Every objective here is written with
//! the stable `softplus(x) = relu(x) + ln(1 + exp(-|x|))`, so logits of +-100 give finite losses
//! and gradients.

use candle_core::{Tensor, Var, D};
use serde::{Deserialize, Serialize};

use crate::{Error, Result, SeededRng};

/// The GAN objective. Each variant defines the discriminator's loss and the generator's loss from
/// the discriminator's logits on a batch of real and a batch of generated samples.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use gan_core::AdversarialLoss;
/// let real = Tensor::new(&[100f32, 2.0], &Device::Cpu).unwrap();
/// let fake = Tensor::new(&[-100f32, -2.0], &Device::Cpu).unwrap();
/// let d = AdversarialLoss::NonSaturating.discriminator_loss(&real, &fake).unwrap();
/// assert!(d.to_scalar::<f32>().unwrap().is_finite());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AdversarialLoss {
    /// Goodfellow et al. 2014: D maximises `log D(x) + log(1 - D(G(z)))`, G minimises
    /// `log(1 - D(G(z)))` (saturates early in training; kept for completeness).
    Minimax,
    /// Goodfellow et al. 2014, the practical form: G maximises `log D(G(z))`.
    NonSaturating,
    /// WGAN (Arjovsky et al. 2017): critic scores, weights clipped to `[-clip, clip]` after each
    /// critic step.
    Wasserstein { clip: f64 },
    /// WGAN-GP (Gulrajani et al. 2017): critic scores plus `lambda * (||grad D(x_hat)|| - 1)^2` on
    /// random interpolates of real and fake.
    WganGp { lambda: f64 },
    /// Hinge loss (Lim & Ye 2017; Miyato et al. 2018).
    Hinge,
    /// Least squares (Mao et al. 2017) with targets a=0, b=c=1.
    LeastSquares,
    /// Relativistic standard GAN (Jolicoeur-Martineau 2019), as RelGAN uses it: pairs real and
    /// fake logits element by element.
    Rsgan,
}

/// `ln(1 + exp(x))` without overflow.
pub fn softplus(xs: &Tensor) -> Result<Tensor> {
    let tail = (xs.abs()?.neg()?.exp()? + 1.0)?.log()?;
    Ok((xs.relu()? + tail)?)
}

impl AdversarialLoss {
    /// The config name of the objective (`non_saturating`, `wgan_gp`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Minimax => "minimax",
            Self::NonSaturating => "non_saturating",
            Self::Wasserstein { .. } => "wasserstein",
            Self::WganGp { .. } => "wgan_gp",
            Self::Hinge => "hinge",
            Self::LeastSquares => "least_squares",
            Self::Rsgan => "rsgan",
        }
    }

    /// Loss the discriminator minimises.
    pub fn discriminator_loss(&self, real: &Tensor, fake: &Tensor) -> Result<Tensor> {
        let loss = match self {
            Self::Minimax | Self::NonSaturating => {
                (softplus(&real.neg()?)?.mean_all()? + softplus(fake)?.mean_all()?)?
            }
            Self::Wasserstein { .. } | Self::WganGp { .. } => {
                (fake.mean_all()? - real.mean_all()?)?
            }
            Self::Hinge => {
                ((1.0 - real)?.relu()?.mean_all()? + (fake + 1.0)?.relu()?.mean_all()?)?
            }
            Self::LeastSquares => {
                (((real - 1.0)?.sqr()?.mean_all()? + fake.sqr()?.mean_all()?)? * 0.5)?
            }
            Self::Rsgan => softplus(&(fake - real)?)?.mean_all()?,
        };
        Ok(loss)
    }

    /// The discriminator loss of one batch that mixes real and generated rows, as SeqGAN
    /// trains its discriminator (real and generated sequences shuffled together): each row's
    /// term summed and divided by the batch's row count, so a batch of `n` rows weighs every row
    /// `1 / n` whatever the share of each kind. `None` is a kind absent from the batch. An
    /// error for the losses that pair a real row with a fake one (RSGAN) or interpolate
    /// between them (WGAN-GP).
    pub fn mixed_batch_discriminator_loss(
        &self,
        real: Option<&Tensor>,
        fake: Option<&Tensor>,
    ) -> Result<Tensor> {
        type Term = fn(&Tensor) -> Result<Tensor>;
        // Each row's term, summed: the real rows' and the generated rows'.
        let (real_term, fake_term): (Term, Term) = match self {
            Self::Minimax | Self::NonSaturating => (
                |r| Ok(softplus(&r.neg()?)?.sum_all()?),
                |f| Ok(softplus(f)?.sum_all()?),
            ),
            Self::Wasserstein { .. } => (|r| Ok(r.sum_all()?.neg()?), |f| Ok(f.sum_all()?)),
            Self::Hinge => (
                |r| Ok((1.0 - r)?.relu()?.sum_all()?),
                |f| Ok((f + 1.0)?.relu()?.sum_all()?),
            ),
            Self::LeastSquares => (
                |r| Ok(((r - 1.0)?.sqr()?.sum_all()? * 0.5)?),
                |f| Ok((f.sqr()?.sum_all()? * 0.5)?),
            ),
            Self::WganGp { .. } | Self::Rsgan => {
                return Err(Error::Config(format!(
                    "the {} loss pairs real with generated rows; a batch that mixes them needs a loss with a term per row",
                    self.name()
                )))
            }
        };
        let rows = real.map_or(0, |r| r.elem_count()) + fake.map_or(0, |f| f.elem_count());
        let total = match (real, fake) {
            (Some(r), Some(f)) => (real_term(r)? + fake_term(f)?)?,
            (Some(r), None) => real_term(r)?,
            (None, Some(f)) => fake_term(f)?,
            (None, None) => return Err(Error::Config("an empty discriminator batch".into())),
        };
        Ok((total / rows.max(1) as f64)?)
    }

    /// Loss the generator minimises. `real` is only read by the relativistic loss.
    pub fn generator_loss(&self, real: &Tensor, fake: &Tensor) -> Result<Tensor> {
        let loss = match self {
            Self::Minimax => softplus(fake)?.mean_all()?.neg()?,
            Self::NonSaturating => softplus(&fake.neg()?)?.mean_all()?,
            Self::Wasserstein { .. } | Self::WganGp { .. } | Self::Hinge => {
                fake.mean_all()?.neg()?
            }
            Self::LeastSquares => ((fake - 1.0)?.sqr()?.mean_all()? * 0.5)?,
            Self::Rsgan => softplus(&(real - fake)?)?.mean_all()?,
        };
        Ok(loss)
    }

    /// Weight-clipping bound to apply to the critic after each of its updates.
    pub fn weight_clip(&self) -> Option<f64> {
        match self {
            Self::Wasserstein { clip } => Some(*clip),
            _ => None,
        }
    }

    /// Weight of the gradient penalty, for WGAN-GP.
    pub fn gradient_penalty_weight(&self) -> Option<f64> {
        match self {
            Self::WganGp { lambda } => Some(*lambda),
            _ => None,
        }
    }

    /// Whether the generator loss reads the real logits (so a real batch must be scored in the
    /// generator step).
    pub fn generator_needs_real(&self) -> bool {
        matches!(self, Self::Rsgan)
    }

    pub fn validate(&self) -> Result<()> {
        match self {
            Self::Wasserstein { clip } if *clip <= 0.0 => {
                Err(Error::Config("wasserstein clip must be > 0".into()))
            }
            Self::WganGp { lambda } if *lambda < 0.0 => {
                Err(Error::Config("wgan_gp lambda must be >= 0".into()))
            }
            _ => Ok(()),
        }
    }
}

/// WGAN-GP's penalty `mean((||grad_x critic(x_hat)||_2 - 1)^2)` over interpolates
/// `x_hat = a * real + (1 - a) * fake`, `a ~ U(0, 1)` per sample.
///
/// The penalty is differentiated with respect to the critic's parameters, which needs the graph of
/// the gradient itself. candle detaches gradients unless `CANDLE_GRAD_DO_NOT_DETACH=1` was set
/// before the thread's first backward pass; without it this returns
/// [`Error::SecondOrderGradientsDisabled`] rather than a penalty that silently trains nothing.
pub fn gradient_penalty<F>(
    critic: F,
    real: &Tensor,
    fake: &Tensor,
    rng: &mut SeededRng,
) -> Result<Tensor>
where
    F: Fn(&Tensor) -> Result<Tensor>,
{
    if !second_order_gradients_enabled()? {
        return Err(Error::SecondOrderGradientsDisabled);
    }
    let batch = real.dim(0)?;
    let mut alpha_shape = vec![1usize; real.rank()];
    alpha_shape[0] = batch;
    let alpha = rng.uniform(alpha_shape, 0.0, 1.0, real.device())?;
    let mixed =
        (real.detach().broadcast_mul(&alpha)? + fake.detach().broadcast_mul(&(1.0 - &alpha)?)?)?;
    let mixed = Var::from_tensor(&mixed)?;
    let scores = critic(mixed.as_tensor())?;
    let grads = scores.sum_all()?.backward()?;
    let grad = grads
        .get(&mixed)
        .ok_or_else(|| Error::GradientFlow("critic output does not depend on its input".into()))?;
    let norms = (grad.flatten_from(1)?.sqr()?.sum(D::Minus1)? + 1e-12)?.sqrt()?;
    Ok((norms - 1.0)?.sqr()?.mean_all()?)
}

/// Whether backward passes on this thread keep the graph of the gradients (candle's
/// `CANDLE_GRAD_DO_NOT_DETACH`). candle detaches only part of the chain otherwise, so a partial
/// graph still exists and looks fine; the probe computes `d^2 v^4 / dv^2` at `v = 1`, which is 12
/// with full second-order gradients and 4 without.
pub fn second_order_gradients_enabled() -> Result<bool> {
    let v = Var::new(1f32, &candle_core::Device::Cpu)?;
    let first = v.as_tensor().sqr()?.sqr()?.backward()?;
    let dv = first
        .get(&v)
        .ok_or_else(|| Error::GradientFlow("probe has no gradient".into()))?;
    let second = dv.backward()?;
    let curvature = match second.get(&v) {
        Some(g) => g.to_scalar::<f32>()?,
        None => 0.0,
    };
    Ok((curvature - 12.0).abs() < 1e-3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn t(v: &[f32]) -> Tensor {
        Tensor::new(v, &Device::Cpu).unwrap()
    }
    fn val(x: Tensor) -> f32 {
        x.to_scalar::<f32>().unwrap()
    }
    fn sp(x: f64) -> f64 {
        x.max(0.0) + (-x.abs()).exp().ln_1p()
    }
    const ALL: [AdversarialLoss; 7] = [
        AdversarialLoss::Minimax,
        AdversarialLoss::NonSaturating,
        AdversarialLoss::Wasserstein { clip: 0.01 },
        AdversarialLoss::WganGp { lambda: 10.0 },
        AdversarialLoss::Hinge,
        AdversarialLoss::LeastSquares,
        AdversarialLoss::Rsgan,
    ];

    /// With as many real rows as fake ones, the mixed batch's loss is the balanced loss over
    /// twice the rows (half the sum of the two means); one kind alone is its own term; the
    /// pairing losses are refused.
    #[test]
    fn mixed_batches_weigh_every_row_alike() {
        let (r, f) = (t(&[0.5, -1.0, 2.0]), t(&[2.0, -0.5, 0.1]));
        for loss in ALL {
            let mixed = loss.mixed_batch_discriminator_loss(Some(&r), Some(&f));
            if matches!(
                loss,
                AdversarialLoss::WganGp { .. } | AdversarialLoss::Rsgan
            ) {
                assert!(mixed.is_err(), "{}", loss.name());
                continue;
            }
            let balanced = val(loss.discriminator_loss(&r, &f).unwrap());
            assert!(
                (val(mixed.unwrap()) - balanced / 2.0).abs() < 1e-6,
                "{}",
                loss.name()
            );
        }
        let alone = AdversarialLoss::NonSaturating
            .mixed_batch_discriminator_loss(Some(&r), None)
            .unwrap();
        let expected = [0.5f64, -1.0, 2.0].iter().map(|&x| sp(-x)).sum::<f64>() / 3.0;
        assert!((val(alone) as f64 - expected).abs() < 1e-6);
    }

    #[test]
    fn closed_form_values() {
        let (r, f) = ([0.5f64, -1.0], [2.0f64, -0.5]);
        let (real, fake) = (t(&[0.5, -1.0]), t(&[2.0, -0.5]));
        let mean = |xs: [f64; 2]| (xs[0] + xs[1]) / 2.0;
        let cases: Vec<(AdversarialLoss, f64, f64)> = vec![
            (
                AdversarialLoss::Minimax,
                mean([sp(-r[0]), sp(-r[1])]) + mean([sp(f[0]), sp(f[1])]),
                -mean([sp(f[0]), sp(f[1])]),
            ),
            (
                AdversarialLoss::NonSaturating,
                mean([sp(-r[0]), sp(-r[1])]) + mean([sp(f[0]), sp(f[1])]),
                mean([sp(-f[0]), sp(-f[1])]),
            ),
            (
                AdversarialLoss::Wasserstein { clip: 0.01 },
                mean(f) - mean(r),
                -mean(f),
            ),
            (
                AdversarialLoss::Hinge,
                mean([0.5, 2.0]) + mean([3.0, 0.5]),
                -mean(f),
            ),
            (
                AdversarialLoss::LeastSquares,
                0.5 * (mean([0.25, 4.0]) + mean([4.0, 0.25])),
                0.5 * mean([1.0, 2.25]),
            ),
            (
                AdversarialLoss::Rsgan,
                mean([sp(f[0] - r[0]), sp(f[1] - r[1])]),
                mean([sp(r[0] - f[0]), sp(r[1] - f[1])]),
            ),
        ];
        for (loss, d, g) in cases {
            let got_d = val(loss.discriminator_loss(&real, &fake).unwrap()) as f64;
            let got_g = val(loss.generator_loss(&real, &fake).unwrap()) as f64;
            assert!((got_d - d).abs() < 1e-5, "{loss:?} D: {got_d} vs {d}");
            assert!((got_g - g).abs() < 1e-5, "{loss:?} G: {got_g} vs {g}");
        }
    }

    #[test]
    fn saturated_logits_give_finite_losses_and_gradients() {
        for loss in ALL {
            let real = Var::new(&[100f32, -100.0], &Device::Cpu).unwrap();
            let fake = Var::new(&[-100f32, 100.0], &Device::Cpu).unwrap();
            for total in [
                loss.discriminator_loss(real.as_tensor(), fake.as_tensor())
                    .unwrap(),
                loss.generator_loss(real.as_tensor(), fake.as_tensor())
                    .unwrap(),
            ] {
                assert!(val(total.clone()).is_finite(), "{loss:?}");
                let grads = total.backward().unwrap();
                for v in [&real, &fake] {
                    if let Some(g) = grads.get(v) {
                        assert!(
                            g.to_vec1::<f32>().unwrap().iter().all(|x| x.is_finite()),
                            "{loss:?}"
                        );
                    }
                }
            }
        }
        // A confidently wrong discriminator pays about 100 per sample, not inf.
        let d = AdversarialLoss::NonSaturating
            .discriminator_loss(&t(&[-100.0]), &t(&[-100.0]))
            .unwrap();
        assert!((val(d) - 100.0).abs() < 1e-3);
    }

    #[test]
    fn gradient_penalty_refuses_to_run_without_second_order_gradients() {
        // The unit-test process never sets CANDLE_GRAD_DO_NOT_DETACH, so the gradient is
        // detached and the penalty must say so instead of silently training nothing. The
        // positive case runs in tests/integration/gradient_penalty.rs, in a child process with
        // the variable set.
        assert!(!second_order_gradients_enabled().unwrap());
        let w = Var::new(&[[1f32], [2.0]], &Device::Cpu).unwrap();
        let real = t(&[1.0, 0.0, 0.0, 1.0]).reshape((2, 2)).unwrap();
        let fake = real.zeros_like().unwrap();
        let critic = |x: &Tensor| Ok(x.matmul(w.as_tensor())?.sqr()?);
        let err = gradient_penalty(critic, &real, &fake, &mut SeededRng::new(0)).unwrap_err();
        assert!(matches!(err, Error::SecondOrderGradientsDisabled));
    }
}
