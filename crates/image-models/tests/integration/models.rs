//! The image GANs' networks and task on tiny sizes: every parameter gets a gradient under every
//! normalisation, batch norm's modes, and training through the core is seeded and resumable.

use candle_core::{Device, Tensor};
use gan_core::gradient_flow::check_gradient_flow;
use gan_core::{AdversarialLoss, Mode, RunOptions, SeededRng, Trainer};
use image_models::experiment::config::ImageGanConfig;
use image_models::mlp::{Activation, MlpLayout, Output};
use image_models::nets::{discriminator, generator, PixelRange};
use image_models::{Architecture, ImageGan, NetShape, Normalization};
use socgan_data::images::ImageSet;

fn shape(architecture: Architecture, size: usize, normalization: Normalization) -> NetShape {
    NetShape {
        architecture,
        noise_dim: 6,
        width: 4,
        channels: 1,
        size,
        normalization,
        mlp: MlpLayout::two_layers(4),
        minibatch_stddev: false,
        critic_order: socgan_nn::GradientOrder::First,
    }
}

#[test]
fn every_parameter_of_every_net_gets_a_gradient() {
    let mut rng = SeededRng::new(0);
    for (architecture, size) in [
        (Architecture::Mlp, 8),
        (Architecture::Dcgan32, 32),
        (Architecture::Dcgan, 64),
    ] {
        for normalization in [
            Normalization::Batch,
            Normalization::Layer,
            Normalization::Spectral,
            Normalization::None,
        ] {
            let s = shape(architecture, size, normalization);
            let (g, gp) = generator(&s, &Device::Cpu, &mut rng).unwrap();
            let (d, dp) = discriminator(&s, &Device::Cpu, &mut rng).unwrap();
            let z = rng.normal((3, 6), 0.0, 1.0, &Device::Cpu).unwrap();
            let mut step = SeededRng::new(1);
            let images = g.forward(&z, &Mode::Train(&mut step)).unwrap();
            assert_eq!(images.dims(), &[3, 1, size, size], "{architecture:?}");
            let logits = d.forward(&images, &Mode::Train(&mut step)).unwrap();
            assert_eq!(logits.dims(), &[3]);
            let loss = AdversarialLoss::NonSaturating
                .generator_loss(&logits, &logits)
                .unwrap();
            check_gradient_flow(&loss, &gp).unwrap_or_else(|e| panic!("{architecture:?} G: {e}"));
            let real = rng
                .uniform((3, 1, size, size), -1.0, 1.0, &Device::Cpu)
                .unwrap();
            let d_loss = AdversarialLoss::Hinge
                .discriminator_loss(
                    &d.forward(&real, &Mode::Train(&mut step)).unwrap(),
                    &logits.detach(),
                )
                .unwrap();
            check_gradient_flow(&d_loss, &dp)
                .unwrap_or_else(|e| panic!("{architecture:?} D, {normalization:?}: {e}"));
        }
    }
}

/// The seeds' MLP layouts (a deeper generator, leaky ReLU and tanh) and the minibatch statistic
/// in both discriminators: every parameter still gets a gradient, and tanh images are in
/// `[-1, 1]`.
#[test]
fn seed_layouts_and_the_minibatch_statistic_train_every_parameter() {
    let mut rng = SeededRng::new(4);
    let deep = MlpLayout {
        generator: vec![4, 4, 8],
        discriminator: vec![8, 4],
        generator_activation: Activation::Relu,
        discriminator_activation: Activation::Relu,
        output: Output::Sigmoid,
    };
    let leaky_tanh = MlpLayout {
        generator_activation: Activation::LeakyRelu,
        output: Output::Tanh,
        ..MlpLayout::two_layers(4)
    };
    let cases = [
        (Architecture::Mlp, 8, deep, false),
        (Architecture::Mlp, 8, leaky_tanh.clone(), true),
        (Architecture::Dcgan32, 32, MlpLayout::two_layers(4), true),
    ];
    for (architecture, size, mlp, minibatch_stddev) in cases {
        let s = NetShape {
            mlp,
            minibatch_stddev,
            ..shape(architecture, size, Normalization::None)
        };
        let case = format!("{architecture:?}, {:?}, stddev {minibatch_stddev}", s.mlp);
        let (g, gp) = generator(&s, &Device::Cpu, &mut rng).unwrap();
        let (d, dp) = discriminator(&s, &Device::Cpu, &mut rng).unwrap();
        let z = rng.normal((4, 6), 0.0, 3.0, &Device::Cpu).unwrap();
        let mut step = SeededRng::new(1);
        let images = g.forward(&z, &Mode::Train(&mut step)).unwrap();
        let values: Vec<f32> = images.flatten_all().unwrap().to_vec1().unwrap();
        let low = if s.pixel_range() == PixelRange::ZeroOne {
            0.0
        } else {
            -1.0
        };
        assert!(values.iter().all(|v| (low..=1.0).contains(v)), "{case}");
        assert!(values.iter().any(|&v| v < 0.0) == (low < 0.0), "{case}");
        let logits = d.forward(&images, &Mode::Train(&mut step)).unwrap();
        let loss = AdversarialLoss::NonSaturating
            .generator_loss(&logits, &logits)
            .unwrap();
        check_gradient_flow(&loss, &gp).unwrap_or_else(|e| panic!("{case} G: {e}"));
        let d_loss = AdversarialLoss::NonSaturating
            .discriminator_loss(&logits.detach(), &logits.detach())
            .unwrap();
        // D's own gradients: through a fresh forward pass.
        let real = rng
            .uniform((4, 1, size, size), 0.0, 1.0, &Device::Cpu)
            .unwrap();
        let d_loss = (d_loss
            + AdversarialLoss::NonSaturating
                .discriminator_loss(
                    &d.forward(&real, &Mode::Train(&mut step)).unwrap(),
                    &d.forward(&images.detach(), &Mode::Train(&mut step))
                        .unwrap(),
                )
                .unwrap())
        .unwrap();
        check_gradient_flow(&d_loss, &dp).unwrap_or_else(|e| panic!("{case} D: {e}"));
    }
    assert_eq!(leaky_tanh.output.pixel_range(), PixelRange::MinusOneOne);
}

#[test]
fn a_frozen_discriminator_gives_the_generator_the_same_gradients_and_itself_none() {
    for (architecture, size) in [(Architecture::Mlp, 8), (Architecture::Dcgan32, 32)] {
        for normalization in [
            Normalization::Batch,
            Normalization::Layer,
            Normalization::Spectral,
            Normalization::None,
        ] {
            let s = shape(architecture, size, normalization);
            // Two identical copies: one trained through D, one through D.frozen().
            let run = |frozen: bool| {
                let mut rng = SeededRng::new(2);
                let (g, gp) = generator(&s, &Device::Cpu, &mut rng).unwrap();
                let (d, dp) = discriminator(&s, &Device::Cpu, &mut rng).unwrap();
                let critic = if frozen { d.frozen() } else { d };
                let z = rng.normal((5, 6), 0.0, 1.0, &Device::Cpu).unwrap();
                let mut step = SeededRng::new(3);
                let images = g.forward(&z, &Mode::Train(&mut step)).unwrap();
                let logits = critic.forward(&images, &Mode::Train(&mut step)).unwrap();
                let loss = AdversarialLoss::NonSaturating
                    .generator_loss(&logits, &logits)
                    .unwrap();
                let grads = loss.backward().unwrap();
                let g_grads: Vec<Vec<u32>> = gp
                    .named_vars()
                    .map(|(_, v)| {
                        let values: Vec<f32> = grads
                            .get(v)
                            .expect("every G weight")
                            .flatten_all()
                            .unwrap()
                            .to_vec1()
                            .unwrap();
                        values.iter().map(|x| x.to_bits()).collect()
                    })
                    .collect();
                let d_grads = dp
                    .named_vars()
                    .filter(|(_, v)| grads.get(v).is_some())
                    .count();
                (g_grads, d_grads)
            };
            let (trained, d_grads) = run(false);
            let (through_frozen, frozen_d_grads) = run(true);
            let case = format!("{architecture:?}, {normalization:?}");
            assert_eq!(trained, through_frozen, "{case}");
            assert!(d_grads > 0, "{case}");
            assert_eq!(frozen_d_grads, 0, "{case}");
        }
    }
}

#[test]
fn generators_stay_in_their_pixel_range_and_eval_mode_is_deterministic() {
    let mut rng = SeededRng::new(2);
    for (architecture, size, range) in [
        (Architecture::Mlp, 8, PixelRange::ZeroOne),
        (Architecture::Dcgan32, 32, PixelRange::MinusOneOne),
    ] {
        let s = shape(architecture, size, Normalization::Batch);
        let (g, _) = generator(&s, &Device::Cpu, &mut rng).unwrap();
        let z = rng.normal((5, 6), 0.0, 3.0, &Device::Cpu).unwrap();
        let a = g.forward(&z, &Mode::Eval).unwrap();
        let b = g.forward(&z, &Mode::Eval).unwrap();
        let values: Vec<f32> = a.flatten_all().unwrap().to_vec1().unwrap();
        let (lo, hi) = if range == PixelRange::ZeroOne {
            (0.0, 1.0)
        } else {
            (-1.0, 1.0)
        };
        assert!(values.iter().all(|v| (lo..=hi).contains(v)));
        assert_eq!(values, b.flatten_all().unwrap().to_vec1::<f32>().unwrap());
        let unit = range
            .to_unit(&a)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(unit.iter().all(|v| (0.0..=1.0).contains(v)));
    }
}

/// Two classes of 8x8 images: a bright top or a bright bottom half.
fn halves(n: usize, seed: u64) -> ImageSet {
    let mut rng = SeededRng::new(seed);
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for i in 0..n {
        let class = (i % 2) as u32;
        for y in 0..8 {
            for _ in 0..8 {
                let bright = (y < 4) == (class == 0);
                pixels.push(if bright { 0.8 } else { 0.1 } + 0.1 * rng.uniform_f32());
            }
        }
        labels.push(class);
    }
    ImageSet {
        channels: 1,
        height: 8,
        width: 8,
        pixels,
        labels: Some(labels),
        class_names: vec!["top".into(), "bottom".into()],
    }
}

fn config(loss: AdversarialLoss, steps: u64) -> ImageGanConfig {
    let mut c = <ImageGanConfig as gan_core::RunConfig>::parse(
        "task = \"image_gan\"\nout_dir = \"x\"\nbatch_size = 8\nmodel = { architecture = \"mlp\", normalization = \"batch\", width = 8, noise_dim = 6 }\ndata = { source = \"mnist\" }\n",
        "test",
    )
    .unwrap();
    c.loss = loss;
    c.schedule.steps = steps;
    c.schedule.eval_every = 5;
    c.schedule.checkpoint_every = 4;
    c.schedule.log_every = 1;
    c.evaluation.grid = 4;
    c
}

fn gan(config: &ImageGanConfig) -> ImageGan {
    let train = halves(64, 1);
    let s = config.net_shape(1, 8);
    let g = generator(
        &s,
        &Device::Cpu,
        &mut SeededRng::derive(config.seed, "init", 0),
    )
    .unwrap();
    let d = discriminator(
        &s,
        &Device::Cpu,
        &mut SeededRng::derive(config.seed, "init", 1),
    )
    .unwrap();
    let grid = Tensor::zeros((4, 6), candle_core::DType::F32, &Device::Cpu).unwrap();
    ImageGan::new(g, d, s, config.loss.clone(), train, 8, 1, None, grid)
        .unwrap()
        .with_stabilizers(config.stabilizers.clone(), config.schedule.steps)
}

use gan_core::testing::logged_records as log;

fn options(resume: bool, halt_after: Option<u64>) -> RunOptions {
    RunOptions {
        resume,
        halt_after,
        ..gan_core::testing::quiet_options("image_gan")
    }
}

#[test]
fn training_is_seeded_and_a_halted_run_resumes_to_the_same_log_and_running_statistics() {
    let cfg = config(AdversarialLoss::Rsgan, 13);
    let whole = tempfile::tempdir().unwrap();
    let mut a = gan(&cfg);
    Trainer::new(cfg.trainer_config(), whole.path(), options(false, None))
        .unwrap()
        .run(&mut a)
        .unwrap();
    let again = tempfile::tempdir().unwrap();
    Trainer::new(cfg.trainer_config(), again.path(), options(false, None))
        .unwrap()
        .run(&mut gan(&cfg))
        .unwrap();
    assert_eq!(log(whole.path()), log(again.path()));
    assert!(whole.path().join("samples/step-00000010.png").is_file());

    let split = tempfile::tempdir().unwrap();
    Trainer::new(cfg.trainer_config(), split.path(), options(false, Some(6)))
        .unwrap()
        .run(&mut gan(&cfg))
        .unwrap();
    let mut b = gan(&cfg);
    Trainer::new(cfg.trainer_config(), split.path(), options(true, None))
        .unwrap()
        .run(&mut b)
        .unwrap();
    assert_eq!(log(whole.path()), log(split.path()));
    // Batch norm's running statistics came back from the checkpoint, so evaluation agrees too.
    let running = |g: &ImageGan| -> Vec<Vec<f32>> {
        g.d_params
            .named_buffers()
            .map(|(_, v)| v.flatten_all().unwrap().to_vec1().unwrap())
            .collect()
    };
    assert!(!running(&a).is_empty());
    assert_eq!(running(&a), running(&b));
}

/// Label smoothing, instance noise and the minibatch statistic change the losses, and a run with
/// them is as seeded and as resumable as one without.
#[test]
fn stabilized_training_is_seeded_resumable_and_different() {
    let mut cfg = config(AdversarialLoss::NonSaturating, 9);
    cfg.stabilizers = image_models::stabilizers::Stabilizers {
        real_label: Some(0.9),
        instance_noise: Some(0.1),
        minibatch_stddev: true,
    };
    let whole = tempfile::tempdir().unwrap();
    Trainer::new(cfg.trainer_config(), whole.path(), options(false, None))
        .unwrap()
        .run(&mut gan(&cfg))
        .unwrap();
    let split = tempfile::tempdir().unwrap();
    Trainer::new(cfg.trainer_config(), split.path(), options(false, Some(5)))
        .unwrap()
        .run(&mut gan(&cfg))
        .unwrap();
    Trainer::new(cfg.trainer_config(), split.path(), options(true, None))
        .unwrap()
        .run(&mut gan(&cfg))
        .unwrap();
    assert_eq!(log(whole.path()), log(split.path()));
    let plain_cfg = config(AdversarialLoss::NonSaturating, 9);
    let plain = tempfile::tempdir().unwrap();
    Trainer::new(
        plain_cfg.trainer_config(),
        plain.path(),
        options(false, None),
    )
    .unwrap()
    .run(&mut gan(&plain_cfg))
    .unwrap();
    let d_losses = |dir: &std::path::Path| -> Vec<f64> {
        log(dir)
            .iter()
            .filter_map(|r| r["d_loss"].as_f64())
            .collect()
    };
    assert_ne!(d_losses(whole.path()), d_losses(plain.path()));
    assert!(d_losses(whole.path()).iter().all(|v| v.is_finite()));
}

#[test]
fn every_loss_trains_a_step_without_nan() {
    for loss in [
        AdversarialLoss::Minimax,
        AdversarialLoss::NonSaturating,
        AdversarialLoss::Wasserstein { clip: 0.01 },
        AdversarialLoss::Hinge,
        AdversarialLoss::LeastSquares,
        AdversarialLoss::Rsgan,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(loss.clone(), 3);
        let mut g = gan(&cfg);
        Trainer::new(cfg.trainer_config(), dir.path(), options(false, None))
            .unwrap()
            .run(&mut g)
            .unwrap();
        let d_loss = log(dir.path())
            .iter()
            .filter_map(|r| r["d_loss"].as_f64())
            .next_back()
            .unwrap();
        assert!(d_loss.is_finite(), "{loss:?}");
        if let Some(c) = loss.weight_clip() {
            let max = g
                .d_params
                .named_vars()
                .map(|(_, v)| {
                    v.abs()
                        .unwrap()
                        .flatten_all()
                        .unwrap()
                        .max(0)
                        .unwrap()
                        .to_scalar::<f32>()
                        .unwrap()
                })
                .fold(0f32, f32::max);
            assert!(max <= c as f32 + 1e-6, "{max}");
        }
    }
}
