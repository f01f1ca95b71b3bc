//! `socgan generate` from an image GAN checkpoint: a PNG grid, or a folder of PNGs.

use std::path::Path;

use candle_core::Device;
use gan_core::{Checkpoint, SeededRng};
use socgan_data::images::{write_grid, ImageSet};

use crate::evaluation::generate as generate_images;
use crate::experiment::train::checkpoint_generator;
use crate::{Error, Result};

/// `n` images from `ckpt`'s generator, all noise from `seed`: to `output` as one grid if it ends
/// in `.png`, else as `output/000000.png`, ... (written atomically).
pub fn generate(
    ckpt: &Checkpoint,
    n: usize,
    seed: u64,
    output: Option<&Path>,
    device: &Device,
) -> Result<()> {
    let output = output.ok_or_else(|| {
        Error::Config("image samples need --output: a .png file for a grid, or a folder".into())
    })?;
    let (_, generator, shape) = checkpoint_generator(ckpt, device)?;
    let images = generate_images(
        &generator,
        shape.pixel_range(),
        shape.noise_dim,
        n,
        &mut SeededRng::derive(seed, "generate", 0),
        device,
    )?;
    if output
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"))
    {
        let columns = (n as f64).sqrt().ceil() as usize;
        write_grid(output, &images, columns)?;
        return Ok(());
    }
    for i in 0..images.len() {
        let one = ImageSet {
            pixels: images.image(i).to_vec(),
            ..images.clone()
        };
        write_grid(&output.join(format!("{i:06}.png")), &one, 1)?;
    }
    Ok(())
}
