//! Building blocks every model crate needs, each beside the reference it is tested against:
//! - [`linear_cross_entropy`] / [`row_nll`]: a fused projection + softmax + cross-entropy over any
//!   vocabulary (words, items, classes), with its own backward (`reference::linear_cross_entropy`
//!   is the candle composition);
//! - [`sample_rows`]: batched sampling from the same projection, with temperature, top-k, top-p;
//!   [`DeviceSampler`] draws the same way with tensor ops, where the model is (a GPU);
//! - [`dense`]: a fully connected layer as one op (one graph node, rows over threads;
//!   `dense::reference_dense` is the composition);
//! - [`highway`]: a highway layer as one op (the text discriminators'; `highway::reference_highway`
//!   is the composition);
//! - [`LayerNorm`]: a layer norm whose gradients reach its parameters (candle's does not;
//!   `reference::layer_norm` is candle's op);
//! - [`conv2d`] / [`conv_transpose2d`]: im2col + gemm convolutions whose backward passes are
//!   differentiable again (WGAN-GP through a convolutional critic; candle's ops are the twins);
//! - [`normalization`]: batch norm with train and eval modes and running statistics in
//!   checkpointed buffers, a per-sample layer norm for conv features, spectral normalisation;
//! - [`gemm`], [`fast_math`], [`equivalence`]: what fused CPU kernels in model crates build on and
//!   are tested with.
//!
//! Parameters and buffers come from `gan_core::ParamStore` (seeded); nothing here draws random
//! numbers except from a caller's `gan_core::SeededRng`; layers whose behaviour differs in
//! training take a `gan_core::Mode`.

pub mod activation;
pub mod batch_norm;
pub mod conv2d;
pub mod cross_entropy;
#[cfg(test)]
mod cuda_agreement;
pub mod dense;
pub mod device_sampling;
pub mod equivalence;
pub mod error;
pub mod fast_math;
pub mod gemm;
pub mod highway;
pub mod layer_norm;
mod layer_norm_kernel;
pub mod normalization;
pub mod reference;
pub mod sampling;
#[cfg(test)]
mod second_order;

pub use activation::{activate, Activation};
pub use conv2d::{conv2d, conv_transpose2d};
pub use cross_entropy::{linear_cross_entropy, row_nll};
pub use dense::{dense, dense_activation};
pub use device_sampling::DeviceSampler;
pub use error::{Error, Result};
pub use gemm::GradientOrder;
pub use highway::highway;
pub use layer_norm::LayerNorm;
pub use layer_norm_kernel::layer_norm_rows_in_place;
pub use normalization::{BatchNorm, GroupLayerNorm, SpectralNorm};
pub use sampling::{sample_rows, SamplingConfig};
