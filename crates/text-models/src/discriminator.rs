//! CNN discriminators over token sequences.
//!
//! One implementation covers both published designs:
//! - SeqGAN (Yu et al. 2017): embedding 64, filter widths 1-10, 15, 20 with 100-200 filters each,
//!   max-over-time pooling, a highway layer, dropout 0.25, one logit per sequence;
//! - RelGAN (Nie et al. 2019): "multiple representations": a 64-dim embedding read as 64
//!   one-dimensional representations, each convolved by the same 4 x 300 filters (widths 2-5) and
//!   scored separately, so a sequence gets 64 logits.
//!
//! Inputs are token ids or soft one-hot rows `[B, T, V]` (RelGAN's Gumbel-softmax output); a
//! one-hot row times the embedding matrix equals the embedding lookup, so both paths agree.

use candle_core::{Device, Tensor, D};
use gan_core::{Init, Mode, ParamStore, SeededRng};
use serde::{Deserialize, Serialize};
use socgan_nn::GradientOrder;

use crate::{Error, Result};

/// Discriminator architecture. `Default` is SeqGAN's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscriminatorConfig {
    /// Total embedding width, split evenly over `num_rep` representations.
    pub embed_dim: usize,
    pub num_rep: usize,
    pub filter_sizes: Vec<usize>,
    pub num_filters: Vec<usize>,
    pub dropout: f32,
    /// Weight `lambda` of an L2 penalty `lambda * (|W|^2 + |b|^2) / 2` on the output layer, added to
    /// every discriminator loss (SeqGAN's `l2_reg_lambda`). SeqGAN's 0.2 sits on a two-column
    /// softmax layer, whose logit difference is this layer's one logit; the penalty on that
    /// difference is 0.1 here. 0 (the default) turns it off.
    pub output_l2: f32,
}

impl Default for DiscriminatorConfig {
    fn default() -> Self {
        Self::seqgan()
    }
}

impl DiscriminatorConfig {
    /// SeqGAN's discriminator (`discriminator.py` of LantaoYu/SeqGAN).
    pub fn seqgan() -> Self {
        Self {
            embed_dim: 64,
            num_rep: 1,
            filter_sizes: vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20],
            num_filters: vec![100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160],
            dropout: 0.25,
            output_l2: 0.0,
        }
    }

    /// RelGAN's discriminator (TextGAN-PyTorch `RelGAN_D`; RelGAN paper Sec. 2.3).
    pub fn relgan() -> Self {
        Self {
            embed_dim: 64,
            num_rep: 64,
            filter_sizes: vec![2, 3, 4, 5],
            num_filters: vec![300; 4],
            dropout: 0.25,
            output_l2: 0.0,
        }
    }

    pub fn validate(&self, seq_len: usize) -> Result<()> {
        if self.num_rep == 0 || !self.embed_dim.is_multiple_of(self.num_rep) {
            return Err(Error::Config(format!(
                "discriminator embed_dim {} must be a multiple of num_rep {}",
                self.embed_dim, self.num_rep
            )));
        }
        if self.filter_sizes.is_empty() || self.filter_sizes.len() != self.num_filters.len() {
            return Err(Error::Config(
                "discriminator needs as many num_filters as filter_sizes, at least one".into(),
            ));
        }
        if self.num_filters.contains(&0) {
            return Err(Error::Config(
                "discriminator num_filters must be at least 1 for every width".into(),
            ));
        }
        if let Some(&f) = self.filter_sizes.iter().find(|&&f| f == 0 || f > seq_len) {
            return Err(Error::Config(format!(
                "filter width {f} does not fit sequences of length {seq_len}"
            )));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::Config(format!(
                "dropout {} must be in [0, 1)",
                self.dropout
            )));
        }
        if !(self.output_l2.is_finite() && self.output_l2 >= 0.0) {
            return Err(Error::Config(format!(
                "discriminator output_l2 {} must be a finite weight of at least 0",
                self.output_l2
            )));
        }
        Ok(())
    }

    pub fn feature_dim(&self) -> usize {
        self.num_filters.iter().sum()
    }
}

/// What the discriminator reads.
pub enum DiscriminatorInput<'a> {
    /// `[B, T]` u32 token ids.
    Tokens(&'a Tensor),
    /// `[B, T, V]` (soft) one-hot rows.
    OneHot(&'a Tensor),
}

/// CNN discriminator; `forward` returns `[B * num_rep]` logits (`num_rep` per sequence,
/// sequence-major), or `[B * num_rep, K]` for a multi-class one (CatGAN: a logit per class).
pub struct CnnDiscriminator {
    config: DiscriminatorConfig,
    params: ParamStore,
    embedding: Tensor,
    convs: Vec<(usize, Tensor, Tensor)>,
    highway_w: Tensor,
    highway_b: Tensor,
    out_w: Tensor,
    out_b: Tensor,
}

impl CnnDiscriminator {
    pub fn new(
        config: DiscriminatorConfig,
        vocab_size: usize,
        seq_len: usize,
        device: &Device,
        rng: &mut SeededRng,
    ) -> Result<Self> {
        Self::with_outputs(config, vocab_size, seq_len, 1, device, rng)
    }

    /// A discriminator with `outputs` logits per representation (CatGAN's multi-class one).
    pub fn with_outputs(
        config: DiscriminatorConfig,
        vocab_size: usize,
        seq_len: usize,
        outputs: usize,
        device: &Device,
        rng: &mut SeededRng,
    ) -> Result<Self> {
        config.validate(seq_len)?;
        if outputs == 0 {
            return Err(Error::Config(
                "a discriminator needs at least one output".into(),
            ));
        }
        let mut params = ParamStore::new(device);
        let es = config.embed_dim / config.num_rep;
        let normal = |fan: usize| Init::Normal {
            mean: 0.0,
            std: 1.0 / (fan as f32).sqrt(),
        };
        let embedding = params.create(
            "embedding",
            (vocab_size, config.embed_dim),
            normal(config.embed_dim),
            rng,
        )?;
        let mut convs = Vec::new();
        for (&f, &n) in config.filter_sizes.iter().zip(&config.num_filters) {
            let w = params.create(&format!("conv{f}.weight"), (f * es, n), normal(f * es), rng)?;
            let b = params.create(&format!("conv{f}.bias"), n, Init::Const(0.1), rng)?;
            convs.push((f, w, b));
        }
        let feat = config.feature_dim();
        let highway_w = params.create("highway.weight", (feat, feat), normal(feat), rng)?;
        let highway_b = params.create("highway.bias", feat, Init::Const(0.0), rng)?;
        let out_w = params.create("output.weight", (feat, outputs), normal(feat), rng)?;
        let out_b = params.create("output.bias", outputs, Init::Const(0.0), rng)?;
        Ok(Self {
            config,
            params,
            embedding,
            convs,
            highway_w,
            highway_b,
            out_w,
            out_b,
        })
    }

    pub fn config(&self) -> &DiscriminatorConfig {
        &self.config
    }
    /// Logits per representation: 1, or one per class (CatGAN).
    pub fn outputs(&self) -> usize {
        self.out_b.dim(0).unwrap_or(1)
    }
    pub fn params(&self) -> &ParamStore {
        &self.params
    }

    /// Logits `[B * num_rep]` (`[B * num_rep, K]` with `K` outputs); dropout is applied in
    /// training mode only.
    pub fn forward(&self, input: DiscriminatorInput, mode: Mode) -> Result<Tensor> {
        self.forward_to_order(input, mode, GradientOrder::First)
    }

    /// The critic of WGAN-GP's penalty: evaluation-mode logits of soft one-hot sequences
    /// `[B, T, V]`, differentiable twice (the penalty's gradient reaches the filters through the
    /// input gradient).
    pub fn critic(&self, one_hot: &Tensor) -> Result<Tensor> {
        self.forward_to_order(
            DiscriminatorInput::OneHot(one_hot),
            Mode::Eval,
            GradientOrder::Second,
        )
    }

    fn forward_to_order(
        &self,
        input: DiscriminatorInput,
        mut mode: Mode,
        order: GradientOrder,
    ) -> Result<Tensor> {
        let emb = match input {
            DiscriminatorInput::Tokens(ids) => {
                let (b, t) = ids.dims2()?;
                self.embedding
                    .index_select(&ids.flatten_all()?, 0)?
                    .reshape((b, t, self.config.embed_dim))?
            }
            DiscriminatorInput::OneHot(x) => {
                let (b, t, v) = x.dims3()?;
                x.reshape((b * t, v))?.matmul(&self.embedding)?.reshape((
                    b,
                    t,
                    self.config.embed_dim,
                ))?
            }
        };
        let (b, t, _) = emb.dims3()?;
        let (r, es) = (
            self.config.num_rep,
            self.config.embed_dim / self.config.num_rep,
        );
        // [B, T, R, Es] -> [B, R, T, Es] -> [B*R, T, Es]: each representation is a sequence.
        let x = if r == 1 {
            emb
        } else {
            emb.reshape((b, t, r, es))?
                .transpose(1, 2)?
                .contiguous()?
                .reshape((b * r, t, es))?
        };
        let mut pooled = Vec::with_capacity(self.convs.len());
        for (f, w, bias) in &self.convs {
            pooled.push(crate::kernels::conv_max_pool(&x, w, bias, *f, order)?);
        }
        let features = Tensor::cat(&pooled, 1)?;
        let highway = socgan_nn::highway(&features, &self.highway_w, &self.highway_b, order)?;
        let highway = mode.dropout(&highway, self.config.dropout)?;
        Ok(highway
            .matmul(&self.out_w)?
            .broadcast_add(&self.out_b)?
            .squeeze(D::Minus1)?)
    }

    /// `output_l2 * (|W|^2 + |b|^2) / 2` over the output layer, to add to a discriminator loss;
    /// `None` when the penalty is off.
    pub fn output_penalty(&self) -> Result<Option<Tensor>> {
        if self.config.output_l2 == 0.0 {
            return Ok(None);
        }
        let squares = (self.out_w.sqr()?.sum_all()? + self.out_b.sqr()?.sum_all()?)?;
        Ok(Some((squares * (0.5 * self.config.output_l2 as f64))?))
    }

    /// The same discriminator with its weights detached: a generator update differentiates
    /// through it to its input without computing (and discarding) gradients of its parameters,
    /// which for RelGAN's highway layer are half the cost of the step.
    pub fn frozen(&self) -> CnnDiscriminator {
        let detach = |t: &Tensor| t.detach();
        CnnDiscriminator {
            config: self.config.clone(),
            params: self.params.clone(),
            embedding: detach(&self.embedding),
            convs: self
                .convs
                .iter()
                .map(|(f, w, b)| (*f, detach(w), detach(b)))
                .collect(),
            highway_w: detach(&self.highway_w),
            highway_b: detach(&self.highway_b),
            out_w: detach(&self.out_w),
            out_b: detach(&self.out_b),
        }
    }

    /// Probability that each sequence is real, averaged over its representations: `[B]`.
    pub fn real_probability(&self, input: DiscriminatorInput) -> Result<Vec<f32>> {
        let logits = self.frozen().forward(input, Mode::Eval)?;
        let r = self.config.num_rep;
        let probs = candle_nn::ops::sigmoid(&logits)?;
        let b = probs.dim(0)? / r;
        Ok(probs.reshape((b, r))?.mean(1)?.to_vec1()?)
    }
}
