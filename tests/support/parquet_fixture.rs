//! Parquet files like the hub's, written by tests (the hub's data set format).

#![allow(dead_code)]

use std::path::Path;

/// Writes a Parquet file like the hub's (snappy, a UTF-8 `text` column, an integer `label`,
/// optional `note` with nulls), in row groups of `group` rows.
pub fn write_parquet(path: &Path, rows: &[(&str, i64, Option<&str>)], group: usize) {
    use std::fs::File;

    use parquet::basic::Compression;
    use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use std::sync::Arc;

    let schema = Arc::new(
        parquet::schema::parser::parse_message_type(
            "message schema { REQUIRED BYTE_ARRAY text (UTF8); REQUIRED INT64 label; OPTIONAL BYTE_ARRAY note (UTF8); }",
        )
        .unwrap(),
    );
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build(),
    );
    let mut writer = SerializedFileWriter::new(File::create(path).unwrap(), schema, props).unwrap();
    for chunk in rows.chunks(group) {
        let mut rg = writer.next_row_group().unwrap();
        let texts: Vec<ByteArray> = chunk.iter().map(|r| ByteArray::from(r.0)).collect();
        let mut col = rg.next_column().unwrap().unwrap();
        col.typed::<ByteArrayType>()
            .write_batch(&texts, None, None)
            .unwrap();
        col.close().unwrap();
        let labels: Vec<i64> = chunk.iter().map(|r| r.1).collect();
        let mut col = rg.next_column().unwrap().unwrap();
        col.typed::<Int64Type>()
            .write_batch(&labels, None, None)
            .unwrap();
        col.close().unwrap();
        let notes: Vec<ByteArray> = chunk
            .iter()
            .filter_map(|r| r.2.map(ByteArray::from))
            .collect();
        let defined: Vec<i16> = chunk.iter().map(|r| r.2.is_some() as i16).collect();
        let mut col = rg.next_column().unwrap().unwrap();
        col.typed::<ByteArrayType>()
            .write_batch(&notes, Some(&defined), None)
            .unwrap();
        col.close().unwrap();
        rg.close().unwrap();
    }
    writer.close().unwrap();
}

/// Writes a Parquet file like the hub's image data sets (`ylecun/mnist`): an `image` struct with
/// the encoded `bytes` (and a null `path`), and an integer `label`.
pub fn write_image_parquet(path: &Path, rows: &[(Vec<u8>, i64)]) {
    use std::fs::File;

    use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use std::sync::Arc;

    let schema = Arc::new(
        parquet::schema::parser::parse_message_type(
            "message schema { REQUIRED group image { REQUIRED BYTE_ARRAY bytes; OPTIONAL BYTE_ARRAY path (UTF8); } REQUIRED INT64 label; }",
        )
        .unwrap(),
    );
    let mut writer = SerializedFileWriter::new(
        File::create(path).unwrap(),
        schema,
        Arc::new(WriterProperties::builder().build()),
    )
    .unwrap();
    let mut rg = writer.next_row_group().unwrap();
    let bytes: Vec<ByteArray> = rows.iter().map(|r| ByteArray::from(r.0.clone())).collect();
    let mut col = rg.next_column().unwrap().unwrap();
    col.typed::<ByteArrayType>()
        .write_batch(&bytes, None, None)
        .unwrap();
    col.close().unwrap();
    let nulls = vec![0i16; rows.len()];
    let mut col = rg.next_column().unwrap().unwrap();
    col.typed::<ByteArrayType>()
        .write_batch(&[], Some(&nulls), None)
        .unwrap();
    col.close().unwrap();
    let labels: Vec<i64> = rows.iter().map(|r| r.1).collect();
    let mut col = rg.next_column().unwrap().unwrap();
    col.typed::<Int64Type>()
        .write_batch(&labels, None, None)
        .unwrap();
    col.close().unwrap();
    rg.close().unwrap();
    writer.close().unwrap();
}
