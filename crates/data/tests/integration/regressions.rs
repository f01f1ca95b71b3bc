//! Inputs the fuzz targets found (`fuzz/`), kept as the files they were: each must stay a
//! one-line error naming the file, never a panic.

use std::path::{Path, PathBuf};

fn found(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/integration/regressions")
        .join(name)
}

/// `tokenizer` target: a `decoder` section that is not JSON made `tokenizers`' deserialiser
/// panic (`expect("Helper")`).
#[test]
fn a_tokenizer_file_that_makes_tokenizers_panic_is_one_error() {
    let path = found("tokenizer-malformed-decoder.json");
    let err = socgan_data::tokenizer::TextTokenizer::load(&path)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("tokenizer-malformed-decoder.json")
            && err.contains("not readable as a tokenizer file"),
        "{err}"
    );
}

/// Found by the `images` fuzz target: a column chunk whose byte range is negative makes the
/// Parquet record reader panic ("column start and length should not be negative"); every reader
/// of Parquet files turns that into a one-line error naming the file.
#[test]
fn a_parquet_file_that_makes_the_record_reader_panic_is_one_error() {
    let path = found("negative-column-range.parquet");
    let err = socgan_data::images::read_parquet_images(
        std::slice::from_ref(&path),
        "image",
        Some("label"),
        1,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("negative-column-range.parquet")
            && err.contains("not readable as Parquet images")
            && err.contains("column start and length should not be negative"),
        "{err}"
    );
    // The post reader meets the same chunk when it reads the `image` column.
    let format = socgan_data::posts::PostFormat::Parquet {
        text: "image".into(),
        label: None,
    };
    let err = socgan_data::posts::PostReader::open(&path, &format, Default::default())
        .and_then(|posts| posts.collect::<socgan_data::Result<Vec<_>>>())
        .unwrap_err()
        .to_string();
    assert!(err.contains("negative-column-range.parquet"), "{err}");
}
