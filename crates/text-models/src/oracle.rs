//! The synthetic-oracle benchmark's "real" distribution: a fixed LSTM that generates the training
//! data and scores generated samples (NLL_oracle).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use gan_core::{ParamStore, SeededRng};
use socgan_data::TokenSequences;

use crate::{CoreConfig, Error, GeneratorConfig, Result, SamplingConfig, SequenceGenerator};

/// A frozen LSTM language model used as the data distribution.
pub struct Oracle {
    model: SequenceGenerator,
}

/// SeqGAN's `target_params` names with their shapes for vocabulary `v`, embedding `e`, hidden `h`.
fn seqgan_tensor_shapes(v: usize, e: usize, h: usize) -> Vec<(&'static str, Vec<usize>)> {
    let mut shapes = vec![("g_embeddings", vec![v, e])];
    for (w, u, b) in [
        ("Wi", "Ui", "bi"),
        ("Wf", "Uf", "bf"),
        ("Wog", "Uog", "bog"),
        ("Wc", "Uc", "bc"),
    ] {
        shapes.push((w, vec![e, h]));
        shapes.push((u, vec![h, h]));
        shapes.push((b, vec![h]));
    }
    shapes.push(("Wo", vec![h, v]));
    shapes.push(("bo", vec![v]));
    shapes
}

impl Oracle {
    /// Loads SeqGAN's fixed oracle (`seqgan_oracle_target_params.safetensors`: tensor names and
    /// equations in its SOURCE.md). Sizes are read from the file and checked against each other;
    /// a missing tensor or a wrong shape is an error naming the file and the tensor.
    pub fn load_seqgan(path: &Path, seq_len: usize, device: &Device) -> Result<Self> {
        let err = |message: String| Error::Oracle {
            path: path.to_path_buf(),
            message,
        };
        if !path.is_file() {
            return Err(err("oracle file not found".into()));
        }
        let tensors: HashMap<String, Tensor> = candle_core::safetensors::load(path, device)
            .map_err(|e| err(format!("not a readable safetensors file ({e})")))?;
        let emb = tensors
            .get("g_embeddings")
            .ok_or_else(|| err("missing tensor `g_embeddings`".into()))?;
        let (v, e) = emb.dims2().map_err(|_| {
            err(format!(
                "`g_embeddings` has shape {:?}, expected [vocab, emb]",
                emb.dims()
            ))
        })?;
        let h = tensors
            .get("Ui")
            .map(|t| t.dims().first().copied().unwrap_or(0))
            .ok_or_else(|| err("missing tensor `Ui`".into()))?;
        for (name, shape) in seqgan_tensor_shapes(v, e, h) {
            let t = tensors
                .get(name)
                .ok_or_else(|| err(format!("missing tensor `{name}`")))?;
            if t.dims() != shape.as_slice() {
                return Err(err(format!(
                    "tensor `{name}` has shape {:?}, expected {:?}",
                    t.dims(),
                    shape
                )));
            }
        }
        let get = |n: &str| tensors[n].to_dtype(candle_core::DType::F32);
        // SeqGAN: i, f, o gates and candidate c; the generator's column order is i, f, c, o.
        let w_ih = Tensor::cat(&[get("Wi")?, get("Wf")?, get("Wc")?, get("Wog")?], 1)?;
        let w_hh = Tensor::cat(&[get("Ui")?, get("Uf")?, get("Uc")?, get("Uog")?], 1)?;
        let bias = Tensor::cat(&[get("bi")?, get("bf")?, get("bc")?, get("bog")?], 0)?;
        let named: HashMap<String, Tensor> = [
            ("embedding", get("g_embeddings")?),
            ("lstm.w_ih", w_ih),
            ("lstm.w_hh", w_hh),
            ("lstm.bias", bias),
            ("output.weight", get("Wo")?),
            ("output.bias", get("bo")?),
        ]
        .into_iter()
        .map(|(k, t)| (k.to_string(), t))
        .collect();
        let config = GeneratorConfig {
            vocab_size: v,
            embed_dim: e,
            hidden_dim: h,
            core: CoreConfig::Lstm,
            seq_len,
            start_token: 0,
            classes: 0,
        };
        // Build with throwaway values, then overwrite every parameter from the file.
        let model = SequenceGenerator::new(config, device, &mut SeededRng::new(0))?;
        model.params().load_with_prefix(&named, "", path)?;
        Ok(Self { model })
    }

    /// A random oracle as TextGAN-PyTorch makes one (every parameter `N(0, 1)`), from `seed`.
    /// Results on it are comparable only between runs with the same seed and sizes.
    pub fn random(config: GeneratorConfig, seed: u64, device: &Device) -> Result<Self> {
        let mut rng = SeededRng::derive(seed, "oracle", 0);
        Ok(Self {
            model: SequenceGenerator::with_init(config, device, &mut rng, Some(1.0))?,
        })
    }

    pub fn config(&self) -> &GeneratorConfig {
        self.model.config()
    }
    pub fn params(&self) -> &ParamStore {
        self.model.params()
    }
    pub fn model(&self) -> &SequenceGenerator {
        &self.model
    }

    /// Samples from the oracle (the benchmark's "real" data).
    pub fn sample(&self, n: usize, rng: &mut SeededRng) -> Result<TokenSequences> {
        self.model.sample(n, &SamplingConfig::default(), rng)
    }

    /// Mean per-token NLL of `seqs` under the oracle: NLL_oracle when `seqs` are generated.
    pub fn nll(&self, seqs: &TokenSequences) -> Result<f64> {
        self.model.mean_nll(seqs)
    }
}
