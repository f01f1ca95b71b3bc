//! WGAN-GP differentiates a critic's input gradient with respect to its weights. candle keeps the
//! graph of a gradient only with `CANDLE_GRAD_DO_NOT_DETACH` set before a thread's first backward
//! pass, so these tests run in a process of their own (`second_order_test!`). The fused
//! convolutions' second-order gradients, and those of the layers a caller asks for
//! `GradientOrder::Second`, are checked against candle's ops.

use candle_core::{Device, Module, Tensor, Var};
use gan_core::SeededRng;

use crate::equivalence::max_abs_diff;
use crate::{reference, GradientOrder, LayerNorm};

type Conv = fn(&Tensor, &Tensor, usize, usize) -> crate::Result<Tensor>;

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

gan_core::second_order_test!(fused_convolutions_give_candles_second_order_gradients, {
    {
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
        let fused = penalty_grads(crate::conv2d, &x, &w1, &w2, &probe);
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
    }
});

/// `sum((d f / d x)^2)`'s gradient with respect to `w`, for `f = sum(probe * layer(x, w))`.
fn input_gradient_penalty(layer: impl Fn(&Tensor) -> Tensor, x: &Var, w: &Var) -> Tensor {
    let out = layer(x.as_tensor());
    let probe = Tensor::arange(0f32, out.elem_count() as f32, &Device::Cpu)
        .unwrap()
        .reshape(out.shape())
        .unwrap();
    let f = (out.tanh().unwrap() * probe).unwrap().sum_all().unwrap();
    let grad_x = f.backward().unwrap().get(x).unwrap().clone();
    let penalty = grad_x.sqr().unwrap().sum_all().unwrap();
    penalty.backward().unwrap().get(w).unwrap().clone()
}

// Asked for second order, the dense layer and the layer norm run candle's compositions, whose
// second-order gradients match the references'.
gan_core::second_order_test!(second_order_layers_differentiate_their_gradients, {
    let mut rng = SeededRng::new(3);
    let mut var = |shape: &[usize]| {
        Var::from_tensor(&rng.normal(shape, 0.0, 0.5, &Device::Cpu).unwrap()).unwrap()
    };
    let (x, w, b) = (var(&[4, 3]), var(&[5, 3]), var(&[5]));
    let ours = input_gradient_penalty(
        |x| crate::dense(x, w.as_tensor(), b.as_tensor(), GradientOrder::Second).unwrap(),
        &x,
        &w,
    );
    let theirs = input_gradient_penalty(
        |x| crate::dense::reference_dense(x, w.as_tensor(), b.as_tensor()).unwrap(),
        &x,
        &w,
    );
    assert!(max_abs_diff(&ours, &theirs) < 1e-4);
    let (gamma, beta) = (var(&[3]), var(&[3]));
    let norm = LayerNorm::from_tensors(
        gamma.as_tensor().clone(),
        Some(beta.as_tensor().clone()),
        1e-5,
    )
    .with_gradient_order(GradientOrder::Second);
    let g = input_gradient_penalty(|x| norm.forward(x).unwrap(), &x, &gamma);
    assert!(
        g.abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
            > 0.0
    );
});
