//! Reading and splitting the images of a run, and the resolutions they are used at.

use socgan_data::datasets::training_files;
use socgan_data::images::{read_image_folder, read_mnist_json, read_parquet_images, ImageSet};

use crate::experiment::config::{ImageData, ImageGanConfig};
use crate::{Error, Result};

/// The images of a run.
pub struct PreparedImages {
    /// Training images at the generator's resolution (without the validation images).
    pub train: ImageSet,
    /// Images held out of the GAN's training at the generator's resolution: the reference of
    /// the validation FID that selection and early stopping read.
    pub validation: ImageSet,
    /// Test images at their own resolution, which the classifier reads.
    pub test: ImageSet,
    /// Training images at their own resolution (the classifier trains on them).
    pub train_native: ImageSet,
}

/// Train and test images as the source gives them (split with `data_seed` where it has no split).
pub fn read(config: &ImageGanConfig) -> Result<(ImageSet, ImageSet)> {
    match &config.data {
        ImageData::MnistJson {
            path,
            train_fraction,
        } => Ok(read_mnist_json(path)?.split(*train_fraction, config.data_seed)?),
        ImageData::Mnist => {
            let files = training_files("mnist")?;
            let test = files
                .test
                .ok_or_else(|| Error::Config("mnist: the cache has no test split".into()))?;
            let label = files.label_field.as_deref();
            Ok((
                read_parquet_images(&files.train, &files.text_field, label, 1)?,
                read_parquet_images(&test, &files.text_field, label, 1)?,
            ))
        }
        ImageData::Folder {
            path,
            size,
            channels,
            train_fraction,
        } => {
            Ok(read_image_folder(path, *size, *channels)?
                .split(*train_fraction, config.data_seed)?)
        }
    }
}

/// The run's images: training images resized to the architecture's resolution, a share of them
/// held out as the validation reference (the classifier still trains on all of them).
pub fn prepare(config: &ImageGanConfig) -> Result<PreparedImages> {
    let (train_native, test) = read(config)?;
    if train_native.len() < config.batch_size {
        return Err(Error::Config(format!(
            "{} training images are fewer than a batch of {}",
            train_native.len(),
            config.batch_size
        )));
    }
    if train_native.height != train_native.width {
        return Err(Error::Shape(format!(
            "images must be square, these are {}x{}",
            train_native.height, train_native.width
        )));
    }
    let size = config.model.architecture.image_size(train_native.height);
    let share = config.evaluation.validation_share;
    let (gan_train, validation) = train_native.split(1.0 - share, config.data_seed)?;
    if gan_train.len() < config.batch_size {
        return Err(Error::Config(format!(
            "{} training images after holding out evaluation.validation_share {share} are fewer than a batch of {}",
            gan_train.len(),
            config.batch_size
        )));
    }
    Ok(PreparedImages {
        train: gan_train.resized(size),
        validation: validation.resized(size),
        test,
        train_native,
    })
}
