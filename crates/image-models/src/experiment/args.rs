//! The command-line flags of image GAN runs, included by the `socgan` binary beside its own.

use crate::layers::Normalization;
use crate::nets::Architecture;

/// The adversarial losses by name, with the usual settings of each (WGAN: clip 0.01 and 5 critic
/// steps; WGAN-GP: lambda 10 and 5 critic steps).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LossArg {
    Minimax,
    NonSaturating,
    Wasserstein,
    WganGp,
    Hinge,
    LeastSquares,
    Rsgan,
}

impl LossArg {
    pub fn name(self) -> &'static str {
        match self {
            LossArg::Minimax => "minimax",
            LossArg::NonSaturating => "non_saturating",
            LossArg::Wasserstein => "wasserstein",
            LossArg::WganGp => "wgan_gp",
            LossArg::Hinge => "hinge",
            LossArg::LeastSquares => "least_squares",
            LossArg::Rsgan => "rsgan",
        }
    }

    /// The config's `loss` value.
    pub fn toml(self) -> String {
        match self {
            LossArg::Wasserstein => "{ kind = \"wasserstein\", clip = 0.01 }".into(),
            LossArg::WganGp => "{ kind = \"wgan_gp\", lambda = 10.0 }".into(),
            other => format!("{{ kind = \"{}\" }}", other.name()),
        }
    }

    /// Critic updates per generator update (Arjovsky et al., Gulrajani et al.: 5).
    pub fn discriminator_steps(self) -> u64 {
        match self {
            LossArg::Wasserstein | LossArg::WganGp => 5,
            _ => 1,
        }
    }
}

/// `socgan train` flags of image runs without a config file.
#[derive(clap::Args, Clone, Debug)]
pub struct ImageTrainArgs {
    /// Image GAN of a run without --config (with --task image-gan).
    #[arg(long, value_enum, default_value_t = Architecture::Dcgan)]
    pub model: Architecture,
    /// Adversarial loss of a run without --config.
    #[arg(long, value_enum, default_value_t = LossArg::NonSaturating)]
    pub loss: LossArg,
    /// The discriminator's normalisation (default: batch; layer with wgan-gp; none for mlp).
    #[arg(long, value_enum)]
    pub normalization: Option<Normalization>,
    /// Adversarial rounds of a run without --config.
    #[arg(long, default_value_t = 1000)]
    pub steps: u64,
}
