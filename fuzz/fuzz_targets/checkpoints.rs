//! Checkpoints: `weights.safetensors`, `state.json` and `config.toml` as a run writes them, read
//! back as `socgan generate / eval` do, the weights loaded into a model (shapes checked).
#![no_main]

use candle_core::Device;
use gan_core::trainer::checkpoint_task;
use gan_core::{Checkpoint, RunConfig};
use libfuzzer_sys::fuzz_target;
use socgan_fuzz::{file, scratch, two_parts};

fuzz_target!(|data: &[u8]| {
    socgan_fuzz::report_unguarded_panics_only();
    let (weights, rest) = two_parts(data);
    let (state, config) = two_parts(rest);
    let dir = scratch();
    file(dir.path(), "weights.safetensors", weights);
    file(dir.path(), "state.json", state);
    file(dir.path(), "config.toml", config);
    let Ok(ckpt) = Checkpoint::load(dir.path(), &Device::Cpu) else {
        return;
    };
    let _ = checkpoint_task(&ckpt);
    let Ok(config) = ring_gan::experiment::config::RingGanConfig::from_checkpoint(&ckpt) else {
        return;
    };
    // A small model of the config's kind, whatever sizes the config asked for.
    let mut small = config.clone();
    small.nets.noise_dim = small.nets.noise_dim.min(8);
    small.nets.hidden = small.nets.hidden.min(8);
    small.nets.layers = small.nets.layers.min(2);
    if let Ok(gan) = ring_gan::task::RingGan::new(
        &small.nets,
        small.ring.clone(),
        small.loss.clone(),
        2,
        2,
        0,
        &Device::Cpu,
    ) {
        let _ = gan.g_params.load_with_prefix(&ckpt.tensors, "generator.", &ckpt.dir);
    }
});
