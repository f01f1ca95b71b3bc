//! SeqGAN's fixed oracle (LantaoYu/SeqGAN `save/target_params_py3.pkl`): the LSTM behind the
//! published synthetic-data tables, converted from its pickle (read, never executed:
//! [`crate::numpy_pickle`]) to the safetensors layout socgan's oracle loads.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};

use crate::numpy_pickle::read_f32_arrays;
use crate::{Error, Result};

/// The pickle's arrays in order (`target_lstm.py`'s params[0..14]) and their names.
pub const TENSOR_NAMES: [&str; 15] = [
    "g_embeddings",
    "Wi",
    "Ui",
    "bi",
    "Wf",
    "Uf",
    "bf",
    "Wog",
    "Uog",
    "bog",
    "Wc",
    "Uc",
    "bc",
    "Wo",
    "bo",
];

/// The file name the converted oracle is saved under (as in `../shared/data/seqgan_oracle/`).
pub const SAFETENSORS_NAME: &str = "seqgan_oracle_target_params.safetensors";

/// Converts the pickle at `pickle` to safetensors at `dest` (atomically), checking that it holds
/// the oracle's 15 arrays with consistent shapes (vocabulary x embedding, embedding x hidden,
/// hidden x hidden, hidden, hidden x vocabulary, vocabulary).
pub fn convert(pickle: &Path, dest: &Path) -> Result<()> {
    let bytes = std::fs::read(pickle).map_err(|source| Error::Io {
        path: pickle.to_path_buf(),
        source,
    })?;
    let arrays = read_f32_arrays(&bytes, &pickle.display().to_string())?;
    let invalid = |m: String| Error::Invalid(format!("{}: {m}", pickle.display()));
    if arrays.len() != TENSOR_NAMES.len() {
        return Err(invalid(format!(
            "{} arrays, SeqGAN's oracle has {}",
            arrays.len(),
            TENSOR_NAMES.len()
        )));
    }
    let dims = |i: usize| arrays[i].shape.as_slice();
    let (v, e) = match dims(0) {
        [v, e] => (*v, *e),
        other => return Err(invalid(format!("g_embeddings has shape {other:?}"))),
    };
    let h = dims(2).first().copied().unwrap_or(0);
    for (i, name) in TENSOR_NAMES.iter().enumerate() {
        let expected: Vec<usize> = match *name {
            "g_embeddings" => vec![v, e],
            "Wo" => vec![h, v],
            "bo" => vec![v],
            n if n.starts_with('W') => vec![e, h],
            n if n.starts_with('U') => vec![h, h],
            _ => vec![h],
        };
        if dims(i) != expected.as_slice() {
            return Err(invalid(format!(
                "`{name}` has shape {:?}, expected {expected:?}",
                dims(i)
            )));
        }
    }
    let mut tensors = HashMap::new();
    for (name, array) in TENSOR_NAMES.iter().zip(&arrays) {
        let tensor = Tensor::from_raw_buffer(&array.data, DType::F32, &array.shape, &Device::Cpu)?;
        tensors.insert(name.to_string(), tensor);
    }
    socgan_io::write_atomic_with(dest, |tmp| -> Result<()> {
        candle_core::safetensors::save(&tensors, tmp)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numpy_pickle::tests::pickle;

    /// A tiny oracle of the real layout: vocabulary 7, embedding 3, hidden 2.
    fn tiny() -> Vec<(Vec<usize>, Vec<f32>)> {
        let (v, e, h) = (7, 3, 2);
        TENSOR_NAMES
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let shape = match *name {
                    "g_embeddings" => vec![v, e],
                    "Wo" => vec![h, v],
                    "bo" => vec![v],
                    n if n.starts_with('W') => vec![e, h],
                    n if n.starts_with('U') => vec![h, h],
                    _ => vec![h],
                };
                let n: usize = shape.iter().product();
                (shape, (0..n).map(|k| (i * 100 + k) as f32 / 7.0).collect())
            })
            .collect()
    }

    #[test]
    fn the_pickle_becomes_the_named_tensors_and_bad_shapes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let arrays = tiny();
        let pkl = dir.path().join("target_params_py3.pkl");
        std::fs::write(&pkl, pickle(&arrays)).unwrap();
        let dest = dir.path().join(SAFETENSORS_NAME);
        convert(&pkl, &dest).unwrap();
        let tensors = candle_core::safetensors::load(&dest, &Device::Cpu).unwrap();
        for (name, (shape, values)) in TENSOR_NAMES.iter().zip(&arrays) {
            let t = &tensors[*name];
            assert_eq!(t.dims(), shape.as_slice(), "{name}");
            assert_eq!(
                &t.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                values,
                "{name}"
            );
        }
        let mut wrong = tiny();
        wrong[5] = (vec![3, 3], vec![0.0; 9]);
        std::fs::write(&pkl, pickle(&wrong)).unwrap();
        let err = convert(&pkl, &dir.path().join("x.safetensors"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`Uf` has shape [3, 3], expected [2, 2]"),
            "{err}"
        );
        std::fs::write(&pkl, pickle(&wrong[..3])).unwrap();
        let err = convert(&pkl, &dir.path().join("x.safetensors"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("3 arrays, SeqGAN's oracle has 15"), "{err}");
        assert!(!dir.path().join("x.safetensors").exists());
    }

    /// The real pickle converts to exactly the tensors of the workspace's safetensors copy.
    #[test]
    #[ignore = "reads ../shared/data/seqgan_oracle (run with --ignored where it is)"]
    fn the_published_pickle_converts_to_the_published_tensors() {
        let shared =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/seqgan_oracle");
        let pkl = shared.join("target_params_py3.pkl");
        assert!(
            pkl.exists(),
            "{} is not here: this test needs ../shared/data",
            pkl.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join(SAFETENSORS_NAME);
        convert(&pkl, &dest).unwrap();
        let ours = candle_core::safetensors::load(&dest, &Device::Cpu).unwrap();
        let theirs =
            candle_core::safetensors::load(shared.join(SAFETENSORS_NAME), &Device::Cpu).unwrap();
        assert_eq!(ours.len(), theirs.len());
        for (name, t) in &theirs {
            let a = ours[name].flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let b = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert_eq!(ours[name].dims(), t.dims(), "{name}");
            assert!(
                a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
                "{name}"
            );
        }
    }
}
