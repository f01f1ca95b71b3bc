//! `socgan data embed`: the sentence vectors of every post of a file from a pretrained encoder,
//! one JSON line each (`{"embedding": [...]}`), in input order. The text is read as it is in the
//! file (no social-media normalisation), so the vectors compare with
//! `SentenceTransformer.encode` on the same strings. Either BERT computes them: the frozen
//! encoder's (packed inference on the CPU, candle-transformers' elsewhere) or the fine-tuning
//! path's (in eval mode), so `cargo xtask check-minilm` holds both to the reference.

use std::path::Path;

use socgan_data::posts::{PostFormat, PostReader, ReadOptions};
use socgan_io::write_atomic;

use candle_core::Device;
use gan_core::Mode;

use crate::encoder::bert::{padded_ids, read_config};
use crate::encoder::minilm::{load_tokenizer, resolve_model_dir};
use crate::encoder::{MiniLm, MiniLmConfig, TrainableBert};
use crate::{Error, Result};

/// Which BERT implementation computes the vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BertImplementation {
    /// The frozen encoder's: packed inference on the CPU, candle-transformers' `BertModel`
    /// elsewhere.
    Frozen,
    /// The fine-tuned encoder's, with gradient-capable layer norms.
    Trainable,
}

pub fn embed_file(
    input: &Path,
    text_field: &str,
    lossy: bool,
    model: &str,
    implementation: BertImplementation,
    output: Option<&Path>,
    device: &Device,
) -> Result<()> {
    let format = PostFormat::for_path(input, text_field, None);
    let mut texts = Vec::new();
    for post in PostReader::open(input, &format, ReadOptions { lossy })? {
        texts.push(post?.text);
    }
    let config = MiniLmConfig {
        model: model.to_string(),
        ..MiniLmConfig::default()
    };
    let (vectors, dim) = match implementation {
        BertImplementation::Frozen => {
            let encoder = MiniLm::load(&config, device)?;
            (encoder.embed(&texts, |_| {})?, encoder.dim)
        }
        BertImplementation::Trainable => own_bert_vectors(&config, &texts, device)?,
    };
    let mut out = String::new();
    for row in vectors.chunks_exact(dim) {
        out.push_str(&serde_json::json!({ "embedding": row }).to_string());
        out.push('\n');
    }
    match output {
        Some(path) => write_atomic(path, out.as_bytes())?,
        None => print!("{out}"),
    }
    Ok(())
}

/// The vectors of `texts` from socgan's own BERT in eval mode, and their width.
fn own_bert_vectors(
    config: &MiniLmConfig,
    texts: &[String],
    device: &Device,
) -> Result<(Vec<f32>, usize)> {
    let dir = resolve_model_dir(&config.model)?;
    let bert = TrainableBert::load(&read_config(&dir)?, &dir.join("model.safetensors"), device)?;
    let tokenizer = load_tokenizer(&dir.join("tokenizer.json"), config.max_seq_length)?;
    let mut vectors = Vec::with_capacity(texts.len() * bert.dim);
    for chunk in texts.chunks(config.batch_size.max(1)) {
        let encodings = tokenizer
            .encode_batch(chunk.to_vec(), true)
            .map_err(|e| Error::Config(format!("tokenizing for the encoder: {e}")))?;
        let ids = padded_ids(&encodings, device)?;
        let pooled = bert.forward(&ids, &mut Mode::Eval)?;
        vectors.extend(pooled.flatten_all()?.to_vec1::<f32>()?);
    }
    Ok((vectors, bert.dim))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::minilm::testing::{tiny_bert, tiny_bert_texts};

    fn vectors(path: &Path) -> Vec<Vec<f32>> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                serde_json::from_value(v["embedding"].clone()).unwrap()
            })
            .collect()
    }

    #[test]
    fn one_unit_vector_per_post_in_order_and_both_berts_agree() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("bert");
        std::fs::create_dir_all(&model).unwrap();
        tiny_bert(&model);
        let texts = tiny_bert_texts();
        let input = dir.path().join("posts.jsonl");
        let lines: String = texts
            .iter()
            .map(|t| format!("{}\n", serde_json::json!({ "body": t })))
            .collect();
        std::fs::write(&input, lines).unwrap();
        let model = model.display().to_string();
        let mut per_implementation = Vec::new();
        for implementation in [BertImplementation::Frozen, BertImplementation::Trainable] {
            let out = dir.path().join(format!("{implementation:?}.jsonl"));
            embed_file(
                &input,
                "body",
                false,
                &model,
                implementation,
                Some(&out),
                &Device::Cpu,
            )
            .unwrap();
            let v = vectors(&out);
            assert_eq!(v.len(), texts.len());
            for row in &v {
                assert_eq!(row.len(), 8);
                let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
                assert!((norm - 1.0).abs() < 1e-4, "{norm}");
            }
            per_implementation.push(v);
        }
        for (a, b) in per_implementation[0].iter().zip(&per_implementation[1]) {
            let diff = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            assert!(diff < 1e-5, "the two BERTs differ by {diff}");
        }
        // A model folder without its tokenizer is one clear error naming the file.
        std::fs::remove_file(dir.path().join("bert/tokenizer.json")).unwrap();
        let err = embed_file(
            &input,
            "body",
            false,
            &model,
            BertImplementation::Frozen,
            None,
            &Device::Cpu,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("tokenizer.json"), "{err}");
    }
}
