//! A fully connected layer `act(x W^T + b)` over `[rows, in]` activations as one op with its own
//! backward, rows split over rayon's threads; the activation (identity, ReLU, leaky ReLU) is
//! applied in place after the product, and its derivative, read from the output's sign, scales
//! the incoming gradient before the products of the backward.
//!
//! Composed from candle ops the layer is three graph nodes (the matmul, the bias, their sum);
//! candle's backward fills a zeroed buffer for every node's gradient before adding to it, so on
//! SASRec's `[6,400, 50]` activations the bookkeeping outweighed the products. Here it is one node:
//! forward and the input gradient are row blocks of one `gemm` each, the weight and bias
//! gradients are per-block partial sums added in block order, so the result does not depend on
//! the thread count. The backward is first order only: [`dense`] runs the candle composition
//! (`reference_dense`) instead off the CPU, for other dtypes and when the caller asks for
//! [`GradientOrder::Second`].

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::activation::Activation;
use crate::gemm::{cpu_slice, sgemm, GradientOrder};

/// Rows per block: enough for the gemm kernels to run at speed, small enough that SASRec's 6,400
/// rows make 25 blocks for the threads to share.
const BLOCK_ROWS: usize = 256;

struct Dense(Activation);

impl CustomOp3 for Dense {
    fn name(&self) -> &'static str {
        "dense"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = cpu_slice(s1, l1, "dense input")?;
        let w = cpu_slice(s2, l2, "dense weight")?;
        let b = cpu_slice(s3, l3, "dense bias")?;
        let (rows, inputs) = l1.shape().dims2()?;
        let (outputs, w_inputs) = l2.shape().dims2()?;
        if w_inputs != inputs || b.len() != outputs {
            return Err(candle_core::Error::Msg(format!(
                "dense: input [{rows}, {inputs}], weight [{outputs}, {w_inputs}], bias {}",
                b.len()
            )));
        }
        let mut y = vec![0f32; rows * outputs];
        let block_forward = |(block, y): (usize, &mut [f32])| {
            let m = y.len() / outputs;
            let x = &x[block * BLOCK_ROWS * inputs..];
            for row in y.chunks_exact_mut(outputs) {
                row.copy_from_slice(b);
            }
            // y += x W^T: W^T[k, j] = w[j * inputs + k].
            sgemm(
                m, outputs, inputs, y, outputs, true, x, inputs, 1, w, 1, inputs,
            );
            self.0.apply_in_place(y);
        };
        // One block runs on the calling thread: handing it to the pool costs more than it takes.
        if rows <= BLOCK_ROWS {
            block_forward((0, &mut y));
        } else {
            y.par_chunks_mut(BLOCK_ROWS * outputs)
                .enumerate()
                .for_each(block_forward);
        }
        Ok((CpuStorage::F32(y), Shape::from((rows, outputs))))
    }

    /// Only the gradients the graph asks for are computed (a data batch, or the detached weights
    /// of a frozen network, need none), and the operands are read in place.
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let need = Needed {
            dx: x.track_op(),
            dw: w.track_op(),
            db: b.track_op(),
        };
        if !(need.dx || need.dw || need.db) {
            return Ok((None, None, None));
        }
        let (rows, inputs) = x.dims2()?;
        let outputs = w.dim(0)?;
        let grad = grad.contiguous()?;
        let (x_storage, x_layout) = x.storage_and_layout();
        let (w_storage, w_layout) = w.storage_and_layout();
        let (g_storage, g_layout) = grad.storage_and_layout();
        let x_host = host_slice(&x_storage, x_layout, "dense input")?;
        let w_host = host_slice(&w_storage, w_layout, "dense weight")?;
        let incoming = host_slice(&g_storage, g_layout, "dense gradient")?;
        let scaled;
        let g = if self.0 == Activation::Identity {
            incoming
        } else {
            let mut through = incoming.to_vec();
            let res = res.contiguous()?;
            let (r_storage, r_layout) = res.storage_and_layout();
            self.0.scale_gradient(
                host_slice(&r_storage, r_layout, "dense output")?,
                &mut through,
            );
            scaled = through;
            &scaled[..]
        };
        let sizes = (rows, inputs, outputs);
        let (dx, dw, db) = backward_products(x_host, w_host, g, sizes, need);
        let device = x.device();
        Ok((
            dx.map(|v| Tensor::from_vec(v, (rows, inputs), device))
                .transpose()?,
            dw.map(|v| Tensor::from_vec(v, (outputs, inputs), device))
                .transpose()?,
            db.map(|v| Tensor::from_vec(v, outputs, device))
                .transpose()?,
        ))
    }
}

/// Which gradients a backward pass computes.
#[derive(Clone, Copy)]
struct Needed {
    dx: bool,
    dw: bool,
    db: bool,
}

/// The contiguous `f32` values of a CPU storage.
fn host_slice<'a>(
    storage: &'a candle_core::Storage,
    layout: &Layout,
    what: &str,
) -> candle_core::Result<&'a [f32]> {
    match storage {
        candle_core::Storage::Cpu(cpu) => cpu_slice(cpu, layout, what),
        _ => Err(candle_core::Error::Msg(format!(
            "{what} must be on the CPU"
        ))),
    }
}

/// `(dx, dW, db)` on the host, each only when asked for.
type Gradients = (Option<Vec<f32>>, Option<Vec<f32>>, Option<Vec<f32>>);

/// `dx = g W`, `dW = g^T x`, `db` = column sums of `g` (those `need` asks for), per row block in
/// parallel; weight and bias partials are added in block order, so the result does not depend on
/// the thread count.
fn backward_products(
    x: &[f32],
    w: &[f32],
    g: &[f32],
    (rows, inputs, outputs): (usize, usize, usize),
    need: Needed,
) -> Gradients {
    let block_gradients = |block: usize| {
        let first = block * BLOCK_ROWS;
        let m = BLOCK_ROWS.min(rows - first);
        let g = &g[first * outputs..(first + m) * outputs];
        let x = &x[first * inputs..(first + m) * inputs];
        let dx = need.dx.then(|| {
            let mut dx = vec![0f32; m * inputs];
            sgemm(
                m, inputs, outputs, &mut dx, inputs, false, g, outputs, 1, w, inputs, 1,
            );
            dx
        });
        let dw = need.dw.then(|| {
            let mut dw = vec![0f32; outputs * inputs];
            sgemm(
                outputs, inputs, m, &mut dw, inputs, false, g, 1, outputs, x, inputs, 1,
            );
            dw
        });
        let db = need.db.then(|| {
            let mut db = vec![0f32; outputs];
            for row in g.chunks_exact(outputs) {
                db.iter_mut().zip(row).for_each(|(acc, v)| *acc += v);
            }
            db
        });
        (dx, dw, db)
    };
    let blocks = rows.div_ceil(BLOCK_ROWS);
    let partials: Vec<Gradients> = if blocks == 1 {
        vec![block_gradients(0)]
    } else {
        (0..blocks).into_par_iter().map(block_gradients).collect()
    };
    let mut dx = need.dx.then(|| Vec::with_capacity(rows * inputs));
    let mut dw: Option<Vec<f32>> = None;
    let mut db: Option<Vec<f32>> = None;
    let add = |sum: &mut Option<Vec<f32>>, part: Vec<f32>| match sum {
        Some(acc) => acc.iter_mut().zip(&part).for_each(|(a, v)| *a += v),
        None => *sum = Some(part),
    };
    for (px, pw, pb) in partials {
        if let (Some(all), Some(part)) = (dx.as_mut(), px) {
            all.extend_from_slice(&part);
        }
        if let Some(part) = pw {
            add(&mut dw, part);
        }
        if let Some(part) = pb {
            add(&mut db, part);
        }
    }
    (dx, dw, db)
}

/// `x W^T + b` for `x` `[rows, in]`, `weight` `[out, in]` (PyTorch's layout), `bias` `[out]`.
/// Differentiable with respect to all three, to the `order` asked for.
pub fn dense(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    order: GradientOrder,
) -> crate::Result<Tensor> {
    dense_activation(x, weight, bias, Activation::Identity, order)
}

/// `activation(x W^T + b)` as one op (see [`dense`]); the candle composition for the second
/// order, other devices and dtypes.
pub fn dense_activation(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    activation: Activation,
    order: GradientOrder,
) -> crate::Result<Tensor> {
    let empty = x.elem_count() == 0 || weight.elem_count() == 0;
    if order.allows_fused(x, weight) && bias.dtype() == x.dtype() && !empty {
        let bias = bias.flatten_all()?;
        return Ok(x.contiguous()?.apply_op3(
            &weight.contiguous()?,
            &bias.contiguous()?,
            Dense(activation),
        )?);
    }
    Ok(activation.reference(&reference_dense(x, weight, bias)?)?)
}

/// The same layer from candle ops (differentiable to any order).
pub fn reference_dense(x: &Tensor, weight: &Tensor, bias: &Tensor) -> crate::Result<Tensor> {
    Ok(x.matmul(&weight.t()?)?
        .broadcast_add(&bias.flatten_all()?)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};
    use gan_core::SeededRng;

    /// Row blocks and the order partial gradients are summed in are fixed, so one thread and
    /// three give the same bits.
    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let d = &Device::Cpu;
        let mut rng = SeededRng::new(5);
        let x = Var::from_tensor(&rng.normal((700, 12), 0.0, 1.0, d).unwrap()).unwrap();
        let w = Var::from_tensor(&rng.normal((9, 12), 0.0, 0.4, d).unwrap()).unwrap();
        let b = Var::from_tensor(&rng.normal(9, 0.0, 0.4, d).unwrap()).unwrap();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let y = dense(&x, &w, &b, GradientOrder::First).unwrap();
                let grads = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
                [
                    y,
                    grads.get(&x).unwrap().clone(),
                    grads.get(&w).unwrap().clone(),
                ]
                .map(|t| t.flatten_all().unwrap().to_vec1::<f32>().unwrap())
            })
        };
        assert_eq!(run(1), run(3));
    }

    /// A data batch and detached weights get no gradient, and the others are unchanged.
    #[test]
    fn only_tracked_operands_get_gradients() {
        let d = &Device::Cpu;
        let mut rng = SeededRng::new(12);
        let x = rng.normal((40, 7), 0.0, 1.0, d).unwrap();
        let w = Var::from_tensor(&rng.normal((5, 7), 0.0, 0.5, d).unwrap()).unwrap();
        let b = Var::from_tensor(&rng.normal(5, 0.0, 0.5, d).unwrap()).unwrap();
        let act = Activation::LeakyRelu(0.2);
        let loss = |x: &Tensor, w: &Tensor, b: &Tensor| {
            let y = dense_activation(x, w, b, act, GradientOrder::First).unwrap();
            y.sqr().unwrap().sum_all().unwrap().backward().unwrap()
        };
        let grads = loss(&x, &w, &b);
        assert!(grads.get(&x).is_none());
        let tracked_x = Var::from_tensor(&x).unwrap();
        let all = loss(&tracked_x, &w, &b);
        let values = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(values(grads.get(&w).unwrap()), values(all.get(&w).unwrap()));
        assert_eq!(values(grads.get(&b).unwrap()), values(all.get(&b).unwrap()));
        // A frozen layer (detached weights) passes the gradient on to its input only.
        let frozen = loss(&tracked_x, &w.detach(), &b.detach());
        assert_eq!(
            values(frozen.get(&tracked_x).unwrap()),
            values(all.get(&tracked_x).unwrap())
        );
        assert!(frozen.get(&w).is_none() && frozen.get(&b).is_none());
    }

    #[test]
    fn fused_activations_match_their_composition() {
        let d = &Device::Cpu;
        for activation in [Activation::Relu, Activation::LeakyRelu(0.2)] {
            let mut rng = SeededRng::new(11);
            let x = Var::from_tensor(&rng.normal((70, 9), 0.0, 1.0, d).unwrap()).unwrap();
            let w = Var::from_tensor(&rng.normal((13, 9), 0.0, 0.5, d).unwrap()).unwrap();
            let b = Var::from_tensor(&rng.normal(13, 0.0, 0.5, d).unwrap()).unwrap();
            let fused = dense_activation(&x, &w, &b, activation, GradientOrder::First).unwrap();
            let plain = activation
                .reference(&reference_dense(&x, &w, &b).unwrap())
                .unwrap();
            assert!(crate::equivalence::max_abs_diff(&fused, &plain) < 1e-5);
            let probe = rng.normal((70, 13), 0.0, 1.0, d).unwrap();
            let vars = [&x, &w, &b];
            let diffs = crate::equivalence::max_gradient_diffs(&fused, &plain, &probe, &vars);
            for (v, diff) in vars.iter().zip(diffs) {
                assert!(
                    diff < 1e-3,
                    "{activation:?}: gradient of {:?} differs by {diff}",
                    v.dims()
                );
            }
        }
    }

    #[test]
    fn fused_dense_matches_reference_values_and_gradients() {
        // Row counts below, at and across a block boundary.
        for (rows, inputs, outputs) in [(3, 5, 4), (256, 8, 6), (600, 50, 50)] {
            let mut rng = SeededRng::new((rows + inputs) as u64);
            let d = &Device::Cpu;
            let x = Var::from_tensor(&rng.normal((rows, inputs), 0.0, 1.0, d).unwrap()).unwrap();
            let w = Var::from_tensor(&rng.normal((outputs, inputs), 0.0, 0.4, d).unwrap()).unwrap();
            let b = Var::from_tensor(&rng.normal(outputs, 0.0, 0.4, d).unwrap()).unwrap();
            let fused = dense(&x, &w, &b, GradientOrder::First).unwrap();
            let plain = reference_dense(&x, &w, &b).unwrap();
            let probe = rng.normal((rows, outputs), 0.0, 1.0, d).unwrap();
            crate::equivalence::assert_same_values_and_gradients(
                &fused,
                &plain,
                &probe,
                &[&x, &w, &b],
                (1e-5, 1e-3),
            );
        }
    }
}
