//! CPU/CUDA agreement of every op of this crate: on the CPU the fused kernels run, on CUDA
//! candle's compositions; values and gradients must match. Skipped, with a line saying so,
//! without a `--features cuda` build and a GPU.

use candle_core::{DType, Device, Tensor, Var};

use crate::equivalence::{cuda_or_skip, max_abs_diff};
use crate::{
    conv2d, conv_transpose2d, dense, linear_cross_entropy, row_nll, GradientOrder, LayerNorm,
};

const TOLERANCE: f32 = 1e-4;

/// Deterministic values in [-1, 1] of `shape` (no RNG: the same on every device).
fn values(shape: &[usize], salt: f32) -> Vec<f32> {
    let n: usize = shape.iter().product();
    (0..n).map(|i| ((i as f32 + salt) * 0.7371).sin()).collect()
}

fn var(shape: &[usize], salt: f32, device: &Device) -> Var {
    Var::from_tensor(&Tensor::from_vec(values(shape, salt), shape, device).unwrap()).unwrap()
}

/// `op` on the CPU and on CUDA with the same inputs: the output and every input's gradient
/// (through the output projected on fixed weights) agree.
fn agree(what: &str, shapes: &[&[usize]], op: impl Fn(&[Var]) -> Tensor) {
    let Some(cuda) = cuda_or_skip(&format!("socgan-nn {what}")) else {
        return;
    };
    let run = |device: &Device| {
        let inputs: Vec<Var> = shapes
            .iter()
            .enumerate()
            .map(|(i, s)| var(s, i as f32 * 10.0, device))
            .collect();
        let out = op(&inputs);
        let probe = Tensor::from_vec(values(out.dims(), 99.0), out.dims(), device).unwrap();
        let grads = (&out * &probe)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let on_cpu = |t: &Tensor| {
            t.to_device(&Device::Cpu)
                .unwrap()
                .to_dtype(DType::F32)
                .unwrap()
        };
        let grads: Vec<Tensor> = inputs
            .iter()
            .map(|v| on_cpu(grads.get(v).unwrap()))
            .collect();
        (on_cpu(&out), grads)
    };
    let (cpu_out, cpu_grads) = run(&Device::Cpu);
    let (cuda_out, cuda_grads) = run(&cuda);
    let diff = max_abs_diff(&cpu_out, &cuda_out);
    assert!(diff < TOLERANCE, "{what}: outputs differ by {diff}");
    for (i, (a, b)) in cpu_grads.iter().zip(&cuda_grads).enumerate() {
        let diff = max_abs_diff(a, b);
        assert!(
            diff < TOLERANCE,
            "{what}: gradients of input {i} differ by {diff}"
        );
    }
}

#[test]
fn dense_agrees() {
    agree("dense", &[&[6, 5], &[4, 5], &[4]], |v| {
        dense(
            v[0].as_tensor(),
            v[1].as_tensor(),
            v[2].as_tensor(),
            GradientOrder::First,
        )
        .unwrap()
    });
}

#[test]
fn linear_cross_entropy_and_row_nll_agree() {
    let targets = [0u32, 3, 6, 2, 5];
    let weights = [0.2f32, -0.5, 1.0, 0.3, 0.7];
    agree("linear_cross_entropy", &[&[5, 4], &[4, 7], &[7]], |v| {
        linear_cross_entropy(
            v[0].as_tensor(),
            v[1].as_tensor(),
            v[2].as_tensor(),
            &targets,
            &weights,
        )
        .unwrap()
    });
    let Some(cuda) = cuda_or_skip("socgan-nn row_nll") else {
        return;
    };
    let nll = |device: &Device| {
        let (h, w, b) = (
            var(&[5, 4], 0.0, device),
            var(&[4, 7], 10.0, device),
            var(&[7], 20.0, device),
        );
        row_nll(h.as_tensor(), w.as_tensor(), b.as_tensor(), &targets).unwrap()
    };
    for (a, b) in nll(&Device::Cpu).iter().zip(nll(&cuda)) {
        assert!((a - b).abs() < TOLERANCE, "row_nll: {a} against {b}");
    }
}

#[test]
fn convolutions_agree() {
    agree("conv2d", &[&[2, 3, 8, 8], &[4, 3, 4, 4]], |v| {
        conv2d(v[0].as_tensor(), v[1].as_tensor(), 2, 1).unwrap()
    });
    agree("conv_transpose2d", &[&[2, 4, 4, 4], &[4, 3, 4, 4]], |v| {
        conv_transpose2d(v[0].as_tensor(), v[1].as_tensor(), 2, 1).unwrap()
    });
}

#[test]
fn layer_norm_agrees() {
    agree("layer_norm", &[&[6, 8], &[8], &[8]], |v| {
        let norm = LayerNorm::from_tensors(
            v[1].as_tensor().clone(),
            Some(v[2].as_tensor().clone()),
            1e-5,
        );
        candle_core::Module::forward(&norm, v[0].as_tensor()).unwrap()
    });
}

#[test]
fn device_sampling_agrees() {
    let Some(cuda) = cuda_or_skip("socgan-nn DeviceSampler") else {
        return;
    };
    // More than one block of the prefix sum and many rows: the layouts cuBLAS is strict about.
    let (rows, hidden_dim, vocab) = (300, 8, 1000);
    let uniforms: Vec<f32> = values(&[rows], 5.0).iter().map(|v| v.abs()).collect();
    let draw = |device: &Device| {
        let hidden = var(&[rows, hidden_dim], 0.0, device);
        let weight = var(&[hidden_dim, vocab], 10.0, device);
        let bias = var(&[vocab], 20.0, device);
        let sampler = crate::DeviceSampler::new(weight.as_tensor(), bias.as_tensor(), 0.8).unwrap();
        sampler
            .sample(hidden.as_tensor(), &uniforms)
            .unwrap()
            .to_vec1::<u32>()
            .unwrap()
    };
    let (cpu, gpu) = (draw(&Device::Cpu), draw(&cuda));
    let differ = cpu.iter().zip(&gpu).filter(|(a, b)| a != b).count();
    assert!(differ <= 2, "{differ} of {rows} draws differ");
}
