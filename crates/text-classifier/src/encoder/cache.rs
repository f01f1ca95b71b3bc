//! Sentence vectors of a frozen encoder, computed once and kept on disk: the key is the SHA-256
//! of the encoder's weights, its settings and every text (length-prefixed, in order), so any
//! change of model, truncation or data computes them anew, and a second run reads them.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use sha2::{Digest, Sha256};

use crate::Result;

/// Where cached vectors live unless a config says otherwise.
pub fn default_cache_dir() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".cache"))
        .join("socgan")
        .join("features")
}

/// The cache key of `texts` encoded by the encoder `encoder_id` (weights hash and settings).
pub fn cache_key(encoder_id: &str, texts: &[String]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(encoder_id.as_bytes());
    hasher.update((texts.len() as u64).to_le_bytes());
    for text in texts {
        hasher.update((text.len() as u64).to_le_bytes());
        hasher.update(text.as_bytes());
    }
    socgan_io::hex(&hasher.finalize())
}

/// A directory of cached `[N, D]` vector files.
pub struct FeatureCache {
    dir: PathBuf,
}

const TENSOR: &str = "vectors";

impl FeatureCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.safetensors"))
    }

    /// The vectors stored under `key`, if any (a file that does not read is computed anew).
    pub fn get(&self, key: &str, rows: usize, dim: usize) -> Option<Vec<f32>> {
        let tensors = candle_core::safetensors::load(self.path(key), &Device::Cpu).ok()?;
        let t = tensors.get(TENSOR)?;
        if t.dims() != [rows, dim] {
            return None;
        }
        t.flatten_all().ok()?.to_vec1().ok()
    }

    /// Stores `vectors` (`rows x dim`) under `key`, atomically.
    pub fn put(&self, key: &str, vectors: &[f32], rows: usize, dim: usize) -> Result<()> {
        let t = Tensor::from_slice(vectors, (rows, dim), &Device::Cpu)?;
        // Two runs caching the same posts at once each write a file of their own.
        socgan_io::write_atomic_with(&self.path(key), |tmp| -> Result<()> {
            candle_core::safetensors::save(&[(TENSOR, t)].into_iter().collect(), tmp)?;
            Ok(())
        })
    }

    /// The vectors of `key`, from the cache or computed by `compute` (then stored).
    pub fn get_or_compute(
        &self,
        key: &str,
        rows: usize,
        dim: usize,
        compute: impl FnOnce() -> Result<Vec<f32>>,
    ) -> Result<(Vec<f32>, bool)> {
        if let Some(v) = self.get(key, rows, dim) {
            return Ok((v, true));
        }
        let v = compute()?;
        self.put(key, &v, rows, dim)?;
        Ok((v, false))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_change_with_any_text_and_the_cache_round_trips() {
        let a = vec!["one".to_string(), "two".to_string()];
        let b = vec!["on".to_string(), "etwo".to_string()];
        assert_ne!(cache_key("m", &a), cache_key("m", &b));
        assert_ne!(cache_key("m", &a), cache_key("n", &a));
        let dir = tempfile::tempdir().unwrap();
        let cache = FeatureCache::new(dir.path().join("c"));
        let key = cache_key("m", &a);
        let (v, hit) = cache
            .get_or_compute(&key, 2, 2, || Ok(vec![1.0, 2.0, 3.0, 4.0]))
            .unwrap();
        assert!(!hit);
        let (again, hit) = cache
            .get_or_compute(&key, 2, 2, || panic!("computed twice"))
            .unwrap();
        assert!(hit);
        assert_eq!(v, again);
        assert!(cache.get(&key, 3, 2).is_none());
    }
}
