//! WGAN-GP differentiates a critic's input gradient with respect to its weights. candle keeps the
//! graph of a gradient only with `CANDLE_GRAD_DO_NOT_DETACH` set before a thread's first backward
//! pass, so this file is a process of its own. The fused convolutions' second-order gradients are
//! checked against candle's ops.

use candle_core::{Device, Tensor, Var};
use gan_core::SeededRng;
use socgan_nn::equivalence::max_abs_diff;
use socgan_nn::reference;

type Conv = fn(&Tensor, &Tensor, usize, usize) -> socgan_nn::Result<Tensor>;

/// The weight gradients of `sum((d critic / d x)^2)` for a two-layer convolutional critic.
fn penalty_grads(conv: Conv, x: &Var, w1: &Var, w2: &Var, probe: &Tensor) -> Vec<Tensor> {
    let h = conv(x.as_tensor(), w1.as_tensor(), 2, 1).unwrap();
    // Leaky ReLU as DCGAN's critic has it, written with ops that have a second derivative.
    let h = (h.relu().unwrap() - (h.neg().unwrap().relu().unwrap() * 0.2).unwrap()).unwrap();
    let out = conv(&h, w2.as_tensor(), 1, 0).unwrap();
    let critic = (out * probe).unwrap().sum_all().unwrap();
    let grad_x = critic.backward().unwrap().get(x).unwrap().clone();
    let penalty = grad_x.sqr().unwrap().sum_all().unwrap();
    let grads = penalty.backward().unwrap();
    vec![
        grads.get(w1).unwrap().clone(),
        grads.get(w2).unwrap().clone(),
    ]
}

#[test]
fn fused_convolutions_give_candles_second_order_gradients() {
    std::env::set_var("CANDLE_GRAD_DO_NOT_DETACH", "1");
    std::thread::spawn(|| {
        let mut rng = SeededRng::new(1);
        let mut var = |shape: &[usize]| {
            Var::from_tensor(&rng.normal(shape, 0.0, 0.5, &Device::Cpu).unwrap()).unwrap()
        };
        let x = var(&[3, 2, 8, 8]);
        let w1 = var(&[4, 2, 4, 4]);
        let w2 = var(&[1, 4, 4, 4]);
        let probe = Tensor::new(&[1f32, -2.0, 0.5], &Device::Cpu)
            .unwrap()
            .reshape((3, 1, 1, 1))
            .unwrap();
        let fused = penalty_grads(socgan_nn::conv2d, &x, &w1, &w2, &probe);
        let plain = penalty_grads(reference::conv2d, &x, &w1, &w2, &probe);
        for (f, p) in fused.iter().zip(&plain) {
            let d = max_abs_diff(f, p);
            assert!(d < 1e-3, "second-order gradients differ by {d}");
            assert!(
                p.abs()
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap()
                    > 0.0
            );
        }
    })
    .join()
    .unwrap();
}
