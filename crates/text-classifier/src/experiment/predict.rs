//! `socgan predict`: the label and class probabilities of every post of a file, in input order,
//! as CSV (`text,label,p_<class>...`) or JSONL (by the output's extension).

use std::path::Path;

use candle_core::Device;
use gan_core::Checkpoint;
use serde_json::json;
use socgan_data::posts::{PostFormat, PostReader, ReadOptions};
use socgan_io::write_atomic;

use crate::experiment::saved::SavedClassifier;
use crate::task::argmax;
use crate::{Error, Result};

/// Output layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    Csv,
    Jsonl,
}

/// Predicts every post of `input` (its `text_field` for CSV / JSONL / Parquet; one post per line
/// for text files) and writes them to `output` (atomically) or standard output.
pub fn predict(
    ckpt: &Checkpoint,
    input: &Path,
    text_field: &str,
    lossy: bool,
    output: Option<&Path>,
    device: &Device,
) -> Result<()> {
    let layout = match output.and_then(|p| p.extension()).and_then(|e| e.to_str()) {
        Some("jsonl") | Some("ndjson") => Layout::Jsonl,
        Some("csv") | None => Layout::Csv,
        Some(other) => {
            return Err(Error::Config(format!(
                "--output: write .csv or .jsonl, not .{other}"
            )))
        }
    };
    let format = PostFormat::for_path(input, text_field, None);
    let mut texts = Vec::new();
    for post in PostReader::open(input, &format, ReadOptions { lossy })? {
        texts.push(post?.text);
    }
    let saved = SavedClassifier::load(ckpt, device, output.is_none())?;
    let probs = saved.probabilities(&texts, device)?;
    let names = saved.map.names();
    let text = render(layout, &texts, &probs, names)?;
    match output {
        Some(path) => write_atomic(path, text.as_bytes())?,
        None => print!("{text}"),
    }
    Ok(())
}

fn render(layout: Layout, texts: &[String], probs: &[f32], names: &[String]) -> Result<String> {
    let k = names.len();
    match layout {
        Layout::Jsonl => {
            let mut out = String::new();
            for (text, row) in texts.iter().zip(probs.chunks_exact(k)) {
                let p: serde_json::Map<String, serde_json::Value> = names
                    .iter()
                    .zip(row)
                    .map(|(n, &v)| (n.clone(), json!(v)))
                    .collect();
                out.push_str(
                    &json!({"text": text, "label": names[argmax(row)], "probabilities": p})
                        .to_string(),
                );
                out.push('\n');
            }
            Ok(out)
        }
        Layout::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            let mut header = vec!["text".to_string(), "label".to_string()];
            header.extend(names.iter().map(|n| format!("p_{n}")));
            let csv_err = |e: csv::Error| Error::Config(format!("writing CSV: {e}"));
            w.write_record(&header).map_err(csv_err)?;
            for (text, row) in texts.iter().zip(probs.chunks_exact(k)) {
                let mut record = vec![text.clone(), names[argmax(row)].clone()];
                record.extend(row.iter().map(|v| format!("{v:.6}")));
                w.write_record(&record).map_err(csv_err)?;
            }
            let bytes = w.into_inner().map_err(|e| Error::Config(e.to_string()))?;
            Ok(String::from_utf8(bytes).expect("CSV of UTF-8 strings"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_jsonl_keep_input_order_and_quote_commas() {
        let names = vec!["neg".to_string(), "pos".to_string()];
        let texts = vec!["bad, really".to_string(), "good".to_string()];
        let probs = [0.9, 0.1, 0.2, 0.8];
        let csv = render(Layout::Csv, &texts, &probs, &names).unwrap();
        assert_eq!(
            csv,
            "text,label,p_neg,p_pos\n\"bad, really\",neg,0.900000,0.100000\ngood,pos,0.200000,0.800000\n"
        );
        let jsonl = render(Layout::Jsonl, &texts, &probs, &names).unwrap();
        let first: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
        assert_eq!(first["label"], "neg");
        assert!(jsonl.lines().nth(1).unwrap().contains("\"label\":\"pos\""));
    }
}
