//! The Parquet reader on files written here.

use std::path::Path;

use socgan_data::posts::{Post, PostFormat, PostReader, ReadOptions};

#[path = "../../../../tests/support/parquet_fixture.rs"]
mod parquet_fixture;
use parquet_fixture::write_parquet;

fn read_all(
    path: &Path,
    format: &PostFormat,
    lossy: bool,
) -> socgan_data::Result<(Vec<Post>, usize)> {
    let mut reader = PostReader::open(path, format, ReadOptions { lossy })?;
    let posts = reader.by_ref().collect::<socgan_data::Result<Vec<_>>>()?;
    Ok((posts, reader.replaced_invalid_utf8()))
}

#[test]
fn parquet_columns_by_name_across_row_groups() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("train-00000-of-00001.parquet");
    let rows = [
        ("I love this 😍 #blessed", 1, Some("a")),
        ("", 0, None),
        ("@user see http", 3, Some("b")),
        ("last, with \"quotes\"", 2, None),
        ("fifth", 0, Some("c")),
    ];
    write_parquet(&p, &rows, 2);
    let format = PostFormat::for_path(&p, "text", None);
    assert!(matches!(format, PostFormat::Parquet { .. }));
    let (posts, _) = read_all(&p, &format, false).unwrap();
    let texts: Vec<&str> = posts.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(texts, rows.iter().map(|r| r.0).collect::<Vec<_>>());
    let labelled = PostFormat::Parquet {
        text: "text".into(),
        label: Some("label".into()),
    };
    let (posts, _) = read_all(&p, &labelled, false).unwrap();
    let labels: Vec<String> = posts.iter().map(|p| p.label.clone().unwrap()).collect();
    assert_eq!(labels, ["1", "0", "3", "2", "0"]);

    // A missing column names the ones there are.
    let wrong = PostFormat::Parquet {
        text: "tweet".into(),
        label: None,
    };
    let err = read_all(&p, &wrong, false).err().unwrap().to_string();
    assert!(
        err.contains("no column `tweet`") && err.contains("text, label, note"),
        "{err}"
    );
    // A null is an error naming its row.
    let nullable = PostFormat::Parquet {
        text: "note".into(),
        label: None,
    };
    let err = read_all(&p, &nullable, false).err().unwrap().to_string();
    assert!(err.contains("row 2") && err.contains("`note`"), "{err}");
    // Not Parquet at all.
    let fake = dir.path().join("fake.parquet");
    std::fs::write(&fake, "text\nnot parquet\n").unwrap();
    let err = read_all(&fake, &format, false).err().unwrap().to_string();
    assert!(
        err.contains("fake.parquet") && err.contains("expected a Parquet file"),
        "{err}"
    );
}

#[test]
fn parquet_images_decode_from_the_hubs_struct_column() {
    let dir = tempfile::tempdir().unwrap();
    let png = |shade: u8| {
        let img =
            image::GrayImage::from_fn(28, 28, |x, _| image::Luma([shade.wrapping_add(x as u8)]));
        let mut bytes = Vec::new();
        image::DynamicImage::ImageLuma8(img)
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .unwrap();
        bytes
    };
    let path = dir.path().join("train-00000-of-00001.parquet");
    parquet_fixture::write_image_parquet(&path, &[(png(10), 3), (png(100), 7), (png(0), 0)]);
    let set = socgan_data::images::read_parquet_images(
        std::slice::from_ref(&path),
        "image",
        Some("label"),
        1,
    )
    .unwrap();
    assert_eq!((set.len(), set.height, set.width), (3, 28, 28));
    assert_eq!(set.labels.as_deref(), Some(&[3, 7, 0][..]));
    assert_eq!(set.class_names.len(), 8);
    assert!((set.image(1)[0] - 100.0 / 255.0).abs() < 1e-6);
    parquet_fixture::write_image_parquet(&path, &[(png(10), 3), (b"garbage".to_vec(), 1)]);
    let err = socgan_data::images::read_parquet_images(&[path], "image", Some("label"), 1)
        .unwrap_err()
        .to_string();
    assert!(err.contains("row 2: not a decodable image"), "{err}");
}
