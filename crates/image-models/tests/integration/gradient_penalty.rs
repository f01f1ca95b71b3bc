//! WGAN-GP through the image critics: the penalty's second-order gradients reach every critic
//! weight, through the fused convolutions. Run in a process of its own with
//! `CANDLE_GRAD_DO_NOT_DETACH` set (`second_order_test!`).

use candle_core::{Device, Tensor};
use gan_core::gradient_flow::check_gradient_flow;
use gan_core::loss::gradient_penalty;
use gan_core::{AdversarialLoss, Mode, SeededRng};
use image_models::nets::discriminator;
use image_models::{Architecture, NetShape, Normalization};

gan_core::second_order_test!(the_penalty_trains_every_critic_weight, {
    {
        let mut rng = SeededRng::new(0);
        // (A layer norm over two features outputs +-1 whatever its input, so the MLP gets four.)
        for (architecture, size, width) in [
            (Architecture::Dcgan32, 32, 2),
            (Architecture::Dcgan, 64, 2),
            (Architecture::Mlp, 8, 4),
        ] {
            for normalization in [
                Normalization::Layer,
                Normalization::Spectral,
                Normalization::None,
            ] {
                let shape = NetShape {
                    architecture,
                    noise_dim: 4,
                    width,
                    channels: 1,
                    size,
                    normalization,
                    mlp: image_models::mlp::MlpLayout::two_layers(width),
                    minibatch_stddev: false,
                    // The penalty differentiates the critic's input gradient.
                    critic_order: socgan_nn::GradientOrder::Second,
                };
                let (d, params) = discriminator(&shape, &Device::Cpu, &mut rng).unwrap();
                let real = rng
                    .uniform((3, 1, size, size), -1.0, 1.0, &Device::Cpu)
                    .unwrap();
                let fake = rng
                    .uniform((3, 1, size, size), -1.0, 1.0, &Device::Cpu)
                    .unwrap();
                let critic = |x: &Tensor| d.forward(x, &Mode::Eval).map_err(gan_core::Error::from);
                let penalty = gradient_penalty(critic, &real, &fake, &mut rng).unwrap();
                // The penalty depends on the critic's input gradient: every weight (convolutions
                // and normalisation scales) shapes it; biases only move activation masks, so their
                // gradient comes from the critic loss.
                let grads = penalty.backward().unwrap();
                for (name, var) in params.named_vars().filter(|(n, _)| n.ends_with("weight")) {
                    let mass = gan_core::testing::gradient_mass(&grads, var).unwrap_or_else(|| {
                        panic!("{architecture:?} {normalization:?}: no gradient for {name}")
                    });
                    assert!(mass > 0.0, "{architecture:?} {normalization:?}: {name}");
                }
                // With a loss whose gradient reaches the output bias (Wasserstein and hinge critics at initialisation do not:
                // the bias cancels between real and fake), every parameter trains.
                let scores = |x: &Tensor| d.forward(x, &Mode::Eval).unwrap();
                let loss = (AdversarialLoss::NonSaturating
                    .discriminator_loss(&scores(&real), &scores(&fake))
                    .unwrap()
                    + (penalty * 10.0).unwrap())
                .unwrap();
                check_gradient_flow(&loss, &params)
                    .unwrap_or_else(|e| panic!("{architecture:?} {normalization:?}: {e}"));
            }
        }
    }
});
