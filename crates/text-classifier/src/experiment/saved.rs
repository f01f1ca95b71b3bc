//! A trained classifier loaded back from a checkpoint: its config, label map, encoding and
//! networks, for `predict`, `eval` and the report written after training.

use candle_core::Device;
use gan_core::{Checkpoint, RunConfig};
use socgan_data::labels::LabelMap;

use crate::experiment::config::ClassifierConfig;
use crate::experiment::encoding::{TextEncoding, TOKENIZER_FILE};
use crate::experiment::train::{build_nets, checkpoint_labels};
use crate::task::{names, ClassifierNets};
use crate::Result;

pub struct SavedClassifier {
    pub config: ClassifierConfig,
    pub map: LabelMap,
    pub encoding: TextEncoding,
    pub nets: ClassifierNets,
}

impl SavedClassifier {
    pub fn load(ckpt: &Checkpoint, device: &Device, quiet: bool) -> Result<Self> {
        let config = ClassifierConfig::from_checkpoint(ckpt)?;
        let map = checkpoint_labels(ckpt)?;
        let method = config.method.neural().ok_or_else(|| {
            crate::Error::Config(format!(
                "{}: a TF-IDF baseline run keeps no model to load",
                ckpt.dir.display()
            ))
        })?;
        let tokenizer = ckpt.dir.join(TOKENIZER_FILE);
        let encoding = TextEncoding::for_saved_run(
            &config.encoder,
            tokenizer.is_file().then_some(tokenizer.as_path()),
            device,
            quiet,
        )?;
        let nets = build_nets(&config, method, map.num_classes(), &encoding, device)?;
        let load = |params: &gan_core::ParamStore, group: &str| {
            params.load_with_prefix(&ckpt.tensors, &format!("{group}."), &ckpt.dir)
        };
        load(nets.discriminator.params(), names::DISCRIMINATOR)?;
        if let Some(params) = nets.encoder.params() {
            load(params, names::ENCODER)?;
        }
        Ok(Self {
            config,
            map,
            encoding,
            nets,
        })
    }

    /// Class probabilities `[N * K]` of `texts` (normalised as in training).
    pub fn probabilities(&self, texts: &[String], device: &Device) -> Result<Vec<f32>> {
        let normalised: Vec<String> = texts
            .iter()
            .map(|t| self.config.normalize.apply(t))
            .collect();
        let inputs = self.encoding.encode(&normalised, "posts", device)?;
        self.nets.probabilities(&inputs)
    }
}
