//! `socgan bench --workload sasrec-epoch[-softmax]`: one SASRec training epoch on Amazon Games
//! (`$SOCGAN_BENCH_LOG`, default `../shared/data/sasrec-amazon-video-games/Video.txt`; 31,013
//! users, 23,715 items), hidden 50, 2 blocks, 50 items, dropout 0.5, batch 128, through the
//! trainer's own [`Stepper`], so what it times is what training does. `$SOCGAN_BENCH_BATCHES`
//! limits the timed batches (default: the whole epoch). Three untimed warm-up batches first. The
//! peer is `benches/peers/sasrec_epoch.py` (pmixer/SASRec.pytorch's model).

use std::path::PathBuf;
use std::time::Instant;

use candle_core::Device;
use gan_core::bench::{median, record};
use gan_core::trainer::Stepper;
use gan_core::ParamStore;
use serde_json::{json, Value};
use socgan_data::interactions::LeaveOneOut;

use crate::evaluation::{EvaluationConfig, RankingEvaluator};
use crate::experiment::config::{
    BehaviourConfig, BehaviourTag, LogConfig, LogLayout, TrainingConfig,
};
use crate::experiment::data::read_interactions;
use crate::experiment::saved::build_recommender;
use crate::loss::NextItemLoss;
use crate::model::ModelConfig;
use crate::task::{RecommenderTask, TrainingHistories};
use crate::{Error, Result};

/// The workloads, in the order `cargo xtask bench` runs them.
pub const WORKLOADS: [&str; 2] = ["sasrec-epoch", "sasrec-epoch-softmax"];

const WARM_UP_BATCHES: u64 = 3;

/// Runs `workload` on `device`; one JSON record (see [`gan_core::bench::record`]).
pub fn run(workload: &str, repeats: usize, device: &Device) -> Result<Value> {
    let loss = match workload {
        "sasrec-epoch" => NextItemLoss::Bce,
        "sasrec-epoch-softmax" => NextItemLoss::Softmax,
        _ => return Err(Error::Config(format!("unknown workload `{workload}`"))),
    };
    let path = std::env::var_os("SOCGAN_BENCH_LOG")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared/data/sasrec-amazon-video-games/Video.txt"));
    let config = bench_config(path, loss);
    let log = read_interactions(&config.data)?;
    let split = LeaveOneOut::new(&log);
    let mut params = ParamStore::new(device);
    let recommender = build_recommender(&config, &log, &split, &mut params)?;
    // The evaluator is not timed; one sampled user keeps building it cheap.
    let evaluation = EvaluationConfig {
        sampled_users: 1,
        ..EvaluationConfig::default()
    };
    let evaluator = RankingEvaluator::new(&split, log.num_items(), 0, &evaluation);
    let mut task = RecommenderTask::new(
        recommender,
        params,
        loss,
        TrainingHistories::new(&split.train, &[]),
        evaluator,
        config.training.batch_size,
        log.num_items(),
        device,
    );
    let per_epoch = task.batches_per_epoch();
    let batches: u64 = std::env::var("SOCGAN_BENCH_BATCHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(per_epoch)
        .min(per_epoch);
    let trainer_config = config.trainer_config(per_epoch, true);
    let mut stepper = Stepper::new(&trainer_config, &task)?;
    let mut step = 0;
    let mut last_loss = f64::NAN;
    for _ in 0..WARM_UP_BATCHES {
        stepper.step(&mut task, step)?;
        step += 1;
    }
    let mut times = Vec::new();
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        for _ in 0..batches {
            let record = stepper.step(&mut task, step % (per_epoch * config.training.epochs))?;
            last_loss = record.get("loss").copied().unwrap_or(f64::NAN);
            step += 1;
        }
        device.synchronize()?;
        times.push(start.elapsed().as_secs_f64());
    }
    let seconds = median(times);
    Ok(record(
        workload,
        device,
        seconds,
        json!({
            "batches": batches,
            "batches_per_s": batches as f64 / seconds,
            "final_loss": last_loss,
        }),
    ))
}

fn bench_config(path: PathBuf, loss: NextItemLoss) -> BehaviourConfig {
    BehaviourConfig {
        task: BehaviourTag::Behaviour,
        seed: 0,
        out_dir: PathBuf::new(),
        data: LogConfig {
            name: "games".into(),
            path,
            layout: LogLayout::Sasrec,
            user_column: None,
            item_column: None,
            timestamp_column: None,
            action_column: None,
            actions: None,
            min_user_interactions: 0,
            min_item_interactions: 0,
            lossy: false,
        },
        model: ModelConfig::Sasrec(Default::default()),
        training: TrainingConfig {
            loss,
            ..TrainingConfig::default()
        },
        evaluation: EvaluationConfig::default(),
        augmentation: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_workload_is_one_error() {
        let err = run("dcgan-step", 1, &candle_core::Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown workload `dcgan-step`"), "{err}");
    }
}
