//! A trained next-item model loaded back from a checkpoint: its config, its interactions and
//! split, and the model, for `eval` and `recommend`.

use candle_core::Device;
use gan_core::{Checkpoint, ParamStore, RunConfig, SeededRng};
use socgan_data::interactions::{InteractionLog, LeaveOneOut};

use crate::experiment::config::BehaviourConfig;
use crate::experiment::data;
use crate::model::{Recommender, SequenceModel};
use crate::popularity::Popularity;
use crate::task::MODEL_GROUP;
use crate::Result;

pub struct SavedRecommender {
    pub config: BehaviourConfig,
    pub log: InteractionLog,
    pub split: LeaveOneOut,
    pub recommender: Recommender,
}

impl SavedRecommender {
    pub fn load(ckpt: &Checkpoint, device: &Device) -> Result<Self> {
        let config = BehaviourConfig::from_checkpoint(ckpt)?;
        let log = data::from_checkpoint(ckpt)?;
        let split = LeaveOneOut::new(&log);
        let mut params = ParamStore::new(device);
        let recommender = build_recommender(&config, &log, &split, &mut params)?;
        if matches!(recommender, Recommender::Sequence { .. }) {
            params.load_with_prefix(&ckpt.tensors, &format!("{MODEL_GROUP}."), &ckpt.dir)?;
        }
        Ok(Self {
            config,
            log,
            split,
            recommender,
        })
    }
}

/// The model of `config` over `log`'s items, its weights drawn from the run seed into `params`
/// (the popularity baseline counts the split's training items instead).
pub fn build_recommender(
    config: &BehaviourConfig,
    log: &InteractionLog,
    split: &LeaveOneOut,
    params: &mut ParamStore,
) -> Result<Recommender> {
    let mut rng = SeededRng::derive(config.seed, "init", 0);
    Ok(
        match SequenceModel::new(&config.model, log.num_items(), params, &mut rng)? {
            Some(model) => Recommender::Sequence {
                max_length: model.max_length(&config.model),
                model,
            },
            None => Recommender::Popularity(Popularity::fit(&split.train, log.num_items())),
        },
    )
}
