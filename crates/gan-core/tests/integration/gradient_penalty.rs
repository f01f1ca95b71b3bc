//! WGAN-GP's penalty needs second-order gradients, which candle only keeps when
//! `CANDLE_GRAD_DO_NOT_DETACH` is set before a thread's first backward pass: the test runs in a
//! process of its own (`second_order_test!`).

use candle_core::{Device, Tensor, Var};
use gan_core::loss::gradient_penalty;
use gan_core::SeededRng;

gan_core::second_order_test!(penalty_matches_closed_form_and_reaches_critic_weights, {
    {
        // Linear critic x -> x . w has input gradient w everywhere: penalty (|w| - 1)^2.
        let w = Var::new(&[[3f32], [4.0]], &Device::Cpu).unwrap();
        let real = Tensor::new(&[[1f32, 2.0], [0.5, -1.0], [2.0, 2.0]], &Device::Cpu).unwrap();
        let fake = Tensor::new(&[[0f32, 0.0], [1.0, 1.0], [-1.0, 3.0]], &Device::Cpu).unwrap();
        let critic = |x: &Tensor| Ok(x.matmul(w.as_tensor())?.squeeze(1)?);
        let penalty = gradient_penalty(critic, &real, &fake, &mut SeededRng::new(1)).unwrap();
        assert!((penalty.to_scalar::<f32>().unwrap() - 16.0).abs() < 1e-4);
        // d/dw (|w| - 1)^2 = 2 (|w| - 1) w / |w| = (4.8, 6.4).
        let grads = penalty.backward().unwrap();
        let g: Vec<f32> = grads
            .get(&w)
            .expect("critic weights get a gradient")
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert!(
            (g[0] - 4.8).abs() < 1e-3 && (g[1] - 6.4).abs() < 1e-3,
            "{g:?}"
        );
    }
});
