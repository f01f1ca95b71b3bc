//! The Parquet reader on files written here.

use std::path::Path;

use socgan_data::posts::{Post, PostFormat, PostReader, ReadOptions};

#[path = "../../../tests/support/parquet_fixture.rs"]
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
