//! A pretrained sentence encoder, frozen: all-MiniLM-L6-v2 (a 6-layer BERT), pooled as
//! sentence-transformers does: the mean of the last hidden states over the attention mask, then
//! L2 normalisation. On the CPU it runs socgan's packed inference ([`super::packed_bert`]);
//! on other devices candle-transformers' `BertModel`. Its vectors equal
//! `SentenceTransformer.encode`'s to 1e-4 (`cargo xtask check-minilm` compares them with the
//! reference vectors committed in `tests/fixtures/minilm_reference.json`).
//!
//! candle-transformers' BERT normalises with an op that has no backward, so this path is for
//! inference only; the classifier reads its vectors from the on-disk cache ([`super::cache`]).

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use serde::{Deserialize, Serialize};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::bert::read_config;
use super::packed_bert::PackedBert;
use crate::{Error, Result};

/// The files a BERT sentence encoder needs.
pub const MODEL_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// Which pretrained encoder, and how it reads posts. `Default` is all-MiniLM-L6-v2 as
/// sentence-transformers configures it (`max_seq_length` 256).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MiniLmConfig {
    /// A directory holding `config.json`, `tokenizer.json` and `model.safetensors`, or a hub model
    /// id read from the hub cache (`socgan data fetch --model ID` fetches it).
    pub model: String,
    /// Tokens per post, `[CLS]` and `[SEP]` included; longer posts are cut.
    pub max_seq_length: usize,
    /// Posts per forward pass.
    pub batch_size: usize,
    /// Where computed vectors are kept (default: `$HOME/.cache/socgan/features`).
    pub cache_dir: Option<PathBuf>,
}

impl Default for MiniLmConfig {
    fn default() -> Self {
        Self {
            model: "sentence-transformers/all-MiniLM-L6-v2".into(),
            max_seq_length: 256,
            batch_size: 32,
            cache_dir: None,
        }
    }
}

/// The local directory of `model`: the directory itself, or the hub cache's snapshot of the id.
pub fn resolve_model_dir(model: &str) -> Result<PathBuf> {
    let path = Path::new(model);
    if path.is_dir() {
        let missing: Vec<&str> = MODEL_FILES
            .iter()
            .copied()
            .filter(|f| !path.join(f).is_file())
            .collect();
        if !missing.is_empty() {
            return Err(Error::file(
                path,
                format!(
                    "not a BERT encoder directory: {} missing (it needs {})",
                    missing.join(", "),
                    MODEL_FILES.join(", ")
                ),
            ));
        }
        return Ok(path.to_path_buf());
    }
    if path.components().count() > 2 || model.starts_with('.') || model.starts_with('/') {
        return Err(Error::file(path, "no such encoder directory"));
    }
    let hub = socgan_data::hub::Hub::from_env()?.offline(true);
    let repo = socgan_data::hub::HubRepo::model(model);
    let files: Vec<String> = MODEL_FILES.iter().map(|f| f.to_string()).collect();
    let paths = hub.fetch_files(&repo, &files).map_err(|e| {
        Error::Config(format!(
            "encoder `{model}` is neither a directory nor in the hub cache ({e}); fetch it with `socgan data fetch {model} --model`, or pass a directory"
        ))
    })?;
    Ok(paths[0].parent().map(Path::to_path_buf).unwrap_or_default())
}

/// How a loaded encoder computes: packed host rows on the CPU, candle-transformers elsewhere.
enum Backend {
    Packed(PackedBert),
    Candle(BertModel),
}

/// A loaded BERT sentence encoder.
pub struct MiniLm {
    backend: Backend,
    tokenizer: Tokenizer,
    /// SHA-256 of `model.safetensors`: the features cache is keyed by it.
    pub weights_sha256: String,
    pub dim: usize,
    pub dir: PathBuf,
    config: MiniLmConfig,
}

impl MiniLm {
    pub fn load(config: &MiniLmConfig, device: &Device) -> Result<Self> {
        let dir = resolve_model_dir(&config.model)?;
        let bert = read_config(&dir)?;
        let weights = dir.join("model.safetensors");
        let backend = if device.is_cpu() {
            Backend::Packed(PackedBert::load(&bert, &weights)?)
        } else {
            Backend::Candle(load_bert_model(&bert, &weights, device)?)
        };
        let tokenizer = load_tokenizer(&dir.join("tokenizer.json"), config.max_seq_length)?;
        Ok(Self {
            backend,
            tokenizer,
            weights_sha256: socgan_io::sha256_file(&weights)?,
            dim: bert.hidden_size,
            dir,
            config: config.clone(),
        })
    }

    /// Unit-length sentence vectors of `texts`, `[texts.len() * dim]` row-major, in input order.
    /// Posts are batched by length (longest first, as sentence-transformers does) so that
    /// padding stays short; the result does not depend on the batching. `on_batch` is told how
    /// many posts each batch held.
    pub fn embed(&self, texts: &[String], mut on_batch: impl FnMut(usize)) -> Result<Vec<f32>> {
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(texts[i].len()));
        let mut out = vec![0f32; texts.len() * self.dim];
        for chunk in order.chunks(self.config.batch_size.max(1)) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i].as_str()).collect();
            let vectors = self.embed_batch(&batch)?;
            for (row, &i) in chunk.iter().enumerate() {
                out[i * self.dim..(i + 1) * self.dim]
                    .copy_from_slice(&vectors[row * self.dim..(row + 1) * self.dim]);
            }
            on_batch(chunk.len());
        }
        Ok(out)
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<f32>> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| Error::Config(format!("tokenizing for the encoder: {e}")))?;
        match &self.backend {
            Backend::Packed(bert) => bert.embed(&unpadded_ids(&encodings)),
            Backend::Candle(model) => {
                let (ids, mask) = id_and_mask_tensors(&encodings, &model.device)?;
                let hidden = model.forward(&ids, &ids.zeros_like()?, Some(&mask))?;
                let pooled = mean_pool(&hidden, &mask)?;
                Ok(l2_normalize(&pooled)?.flatten_all()?.to_vec1()?)
            }
        }
    }
}

/// candle-transformers' BERT over the memory-mapped weights.
pub(crate) fn load_bert_model(bert: &Config, weights: &Path, device: &Device) -> Result<BertModel> {
    // SAFETY: the file is memory-mapped read-only and not modified while the model lives.
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[weights], DType::F32, device) }
        .map_err(|e| Error::file(weights, e.to_string()))?;
    BertModel::load(vb, bert).map_err(|e| Error::file(weights, e.to_string()))
}

/// Each encoding's ids where its attention mask is set.
fn unpadded_ids(encodings: &[tokenizers::Encoding]) -> Vec<Vec<u32>> {
    encodings
        .iter()
        .map(|e| {
            e.get_ids()
                .iter()
                .zip(e.get_attention_mask())
                .filter(|(_, &m)| m == 1)
                .map(|(&id, _)| id)
                .collect()
        })
        .collect()
}

/// The encoder's tokenizer, cutting at `max_len` tokens and padding to the batch's longest.
pub fn load_tokenizer(path: &Path, max_len: usize) -> Result<Tokenizer> {
    let mut tokenizer = socgan_data::tokenizer::read_tokenizer_file(path)?;
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: max_len,
            ..Default::default()
        }))
        .map_err(|e| Error::file(path, e.to_string()))?;
    let pad_id = tokenizer.token_to_id("[PAD]").unwrap_or(0);
    tokenizer.with_padding(Some(PaddingParams {
        strategy: PaddingStrategy::BatchLongest,
        pad_id,
        pad_token: "[PAD]".into(),
        ..Default::default()
    }));
    Ok(tokenizer)
}

/// `[B, T]` token ids and attention mask (u32) of a padded batch.
pub fn id_and_mask_tensors(
    encodings: &[tokenizers::Encoding],
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let t = encodings.first().map_or(0, |e| e.get_ids().len());
    let ids: Vec<u32> = encodings
        .iter()
        .flat_map(|e| e.get_ids().to_vec())
        .collect();
    let mask: Vec<u32> = encodings
        .iter()
        .flat_map(|e| e.get_attention_mask().to_vec())
        .collect();
    let b = encodings.len();
    Ok((
        Tensor::from_vec(ids, (b, t), device)?,
        Tensor::from_vec(mask, (b, t), device)?,
    ))
}

/// sentence-transformers' mean pooling: `sum_t h[b, t] mask[b, t] / max(sum_t mask[b, t], 1e-9)`.
pub fn mean_pool(hidden: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let mask = mask.to_dtype(hidden.dtype())?.unsqueeze(2)?;
    let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
    let counts = mask.sum(1)?.clamp(1e-9, f64::INFINITY)?;
    Ok(summed.broadcast_div(&counts)?)
}

/// Rows divided by their L2 norm (at least 1e-12, as `torch.nn.functional.normalize`).
pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let norms = x
        .sqr()?
        .sum_keepdim(1)?
        .sqrt()?
        .clamp(1e-12, f64::INFINITY)?;
    Ok(x.broadcast_div(&norms)?)
}

/// A fixture for tests of this crate and of the binary: a tiny random BERT directory.
#[doc(hidden)]
pub mod testing {
    use std::path::Path;

    use candle_core::{Device, Tensor};
    use candle_transformers::models::bert::{BertModel, Config};
    use gan_core::{ParamStore, SeededRng};
    use tokenizers::models::wordlevel::WordLevel;
    use tokenizers::pre_tokenizers::whitespace::Whitespace;
    use tokenizers::processors::bert::BertProcessing;
    use tokenizers::Tokenizer;

    const WORDS: [&str; 10] = [
        "the", "cat", "sat", "on", "mat", "happy", "sad", "day", "a", "dog",
    ];

    /// Posts for [`tiny_bert`]: of different lengths (padding matters), one with an unknown word.
    pub fn tiny_bert_texts() -> Vec<String> {
        [
            "the cat sat on the mat",
            "sad",
            "a happy dog day",
            "the unknownword",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// A tiny random BERT in the layout of a sentence-transformers directory: config.json,
    /// tokenizer.json (word-level, `[CLS] ... [SEP]`), model.safetensors.
    pub fn tiny_bert(dir: &Path) {
        let config = serde_json::json!({
            "vocab_size": 14, "hidden_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2,
            "intermediate_size": 16, "hidden_act": "gelu", "hidden_dropout_prob": 0.0,
            "max_position_embeddings": 32, "type_vocab_size": 2, "initializer_range": 0.02,
            "layer_norm_eps": 1e-12, "pad_token_id": 0, "classifier_dropout": null,
            "model_type": "bert"
        });
        std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
        let bert: Config = serde_json::from_value(config).unwrap();
        let mut params = ParamStore::new(&Device::Cpu);
        let mut rng = SeededRng::new(7);
        BertModel::load(params.var_builder(&mut rng), &bert).unwrap();
        let tensors: std::collections::HashMap<String, Tensor> = params
            .named_vars()
            .map(|(n, v)| (n.to_string(), v.as_tensor().clone()))
            .collect();
        candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();

        let mut vocab: std::collections::HashMap<String, u32> =
            ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
                .iter()
                .chain(WORDS.iter())
                .enumerate()
                .map(|(i, w)| (w.to_string(), i as u32))
                .collect();
        vocab.shrink_to_fit();
        let model = WordLevel::builder()
            .vocab(vocab.into_iter().collect())
            .unk_token("[UNK]".into())
            .build()
            .unwrap();
        let mut tokenizer = Tokenizer::new(model);
        tokenizer.with_pre_tokenizer(Some(Whitespace {}));
        tokenizer.with_post_processor(Some(BertProcessing::new(
            ("[SEP]".into(), 3),
            ("[CLS]".into(), 2),
        )));
        tokenizer.save(dir.join("tokenizer.json"), false).unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{tiny_bert, tiny_bert_texts};
    use super::*;
    use socgan_nn::gemm::host_values;

    fn encoder(dir: &Path, batch_size: usize) -> MiniLm {
        let config = MiniLmConfig {
            model: dir.display().to_string(),
            max_seq_length: 16,
            batch_size,
            cache_dir: None,
        };
        MiniLm::load(&config, &Device::Cpu).unwrap()
    }

    #[test]
    fn a_tiny_bert_loads_and_pools_like_sentence_transformers() {
        let dir = tempfile::tempdir().unwrap();
        tiny_bert(dir.path());
        let texts = tiny_bert_texts();
        let batched = encoder(dir.path(), 3).embed(&texts, |_| {}).unwrap();
        let single = encoder(dir.path(), 1);
        let one_by_one = single.embed(&texts, |_| {}).unwrap();
        assert_eq!(single.dim, 8);
        for (a, b) in batched.iter().zip(&one_by_one) {
            assert!((a - b).abs() < 1e-5, "padding changed a vector: {a} vs {b}");
        }
        for row in batched.chunks_exact(8) {
            let norm: f32 = row.iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "{norm}");
        }
        // Without padding, the pooled vector is the plain mean of candle-transformers' BERT's
        // hidden states.
        let enc = single.tokenizer.encode("sad", true).unwrap();
        assert_eq!(enc.get_ids(), &[2, 10, 3]);
        let model = candle_bert(dir.path());
        let (ids, mask) = id_and_mask_tensors(&[enc], &Device::Cpu).unwrap();
        let hidden = model
            .forward(&ids, &ids.zeros_like().unwrap(), Some(&mask))
            .unwrap();
        let mean = l2_normalize(&hidden.mean(1).unwrap()).unwrap();
        let expected = host_values(&mean).unwrap();
        for (a, b) in expected.iter().zip(&batched[8..16]) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    fn candle_bert(dir: &Path) -> BertModel {
        let config = read_config(dir).unwrap();
        load_bert_model(&config, &dir.join("model.safetensors"), &Device::Cpu).unwrap()
    }

    #[test]
    fn packed_inference_equals_candle_transformers_bert_on_a_padded_batch() {
        let dir = tempfile::tempdir().unwrap();
        tiny_bert(dir.path());
        let packed = encoder(dir.path(), 4);
        let Backend::Packed(_) = packed.backend else {
            panic!("the CPU encoder should run packed");
        };
        let texts = tiny_bert_texts();
        let ours = packed.embed(&texts, |_| {}).unwrap();
        let encodings = packed
            .tokenizer
            .encode_batch(texts.iter().map(String::as_str).collect(), true)
            .unwrap();
        let (ids, mask) = id_and_mask_tensors(&encodings, &Device::Cpu).unwrap();
        assert!(mask.sum_all().unwrap().to_scalar::<u32>().unwrap() < mask.elem_count() as u32);
        let hidden = candle_bert(dir.path())
            .forward(&ids, &ids.zeros_like().unwrap(), Some(&mask))
            .unwrap();
        let reference =
            host_values(&l2_normalize(&mean_pool(&hidden, &mask).unwrap()).unwrap()).unwrap();
        assert_eq!(ours.len(), reference.len());
        for (a, b) in ours.iter().zip(&reference) {
            assert!((a - b).abs() < 1e-5, "packed {a} vs candle {b}");
        }
    }

    #[test]
    fn an_encoder_directory_without_its_files_is_one_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        tiny_bert(dir.path());
        std::fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
        let err = resolve_model_dir(&dir.path().display().to_string())
            .unwrap_err()
            .to_string();
        assert!(err.contains("tokenizer.json missing"), "{err}");
    }
}
