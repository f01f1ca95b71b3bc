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

/// `images` target: a column chunk whose byte range is negative made the Parquet record reader
/// panic ("column start and length should not be negative"); the range is checked against the
/// file before any row is read.
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
        err.contains("negative-column-range.parquet") && err.contains("outside the file"),
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

/// `images` target: a page header declaring a list of about 2^31 elements makes parquet 60's
/// thrift reader skip them one by one past the end of the data (it does not stop at EOF): from a
/// file that was millions of zero-byte `read` calls, 26 s for a 1 KB file; read from memory it is
/// an error in a few seconds. The loop itself is parquet's (see docs/BENCHMARKS.md, section 10).
#[test]
fn a_parquet_page_header_with_a_huge_list_is_an_error_in_seconds() {
    let path = found("huge-page-header-list.parquet");
    let started = std::time::Instant::now();
    let err = socgan_data::images::read_parquet_images(
        std::slice::from_ref(&path),
        "image",
        Some("label"),
        1,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("huge-page-header-list.parquet"), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}
