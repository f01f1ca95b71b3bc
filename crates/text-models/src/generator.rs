//! The language-model generator of SeqGAN / RelGAN / TextGAN-PyTorch: embedding, a recurrent
//! core (one LSTM layer, or RelGAN's relational memory), vocabulary projection.

use candle_core::{Device, Tensor, D};
use gan_core::{Init, ParamStore, SeededRng};
use serde::{Deserialize, Serialize};
use socgan_data::TokenSequences;

use crate::kernels;
use crate::relational_memory::{RelationalMemory, RelationalMemoryConfig};
use crate::{Error, Result};
use socgan_nn::SamplingConfig;

/// The recurrent core between the embedding and the vocabulary projection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CoreConfig {
    /// One LSTM layer of `hidden_dim` units (SeqGAN's generator, and RelGAN's LSTM variant).
    #[default]
    Lstm,
    /// RelGAN's relational memory (`core = { kind = "relational_memory", slots = 1, heads = 2,
    /// head_size = 256 }`, the paper's sizes for the synthetic data and the defaults).
    RelationalMemory(RelationalMemoryConfig),
}

/// Generator sizes. The defaults are the synthetic-oracle benchmark's (SeqGAN, RelGAN Table 1):
/// vocabulary 5,000, embedding 32, an LSTM of 32 units, length 20, start token 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GeneratorConfig {
    pub vocab_size: usize,
    pub embed_dim: usize,
    /// The LSTM's units (the relational memory's width is its `slots x heads x head_size`).
    pub hidden_dim: usize,
    pub core: CoreConfig,
    pub seq_len: usize,
    /// Token fed before the first position (SeqGAN's oracle uses id 0, also a vocabulary word).
    pub start_token: u32,
    /// 0: unconditional. `K`: conditioned on one of `K` classes (CatGAN); a text run with
    /// `data.label_field` sets it from its label map.
    pub classes: usize,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            vocab_size: 5000,
            embed_dim: 32,
            hidden_dim: 32,
            core: CoreConfig::Lstm,
            seq_len: 20,
            start_token: 0,
            classes: 0,
        }
    }
}

impl GeneratorConfig {
    /// Width of the core's output (the vocabulary projection's input).
    pub fn output_width(&self) -> usize {
        match self.core {
            CoreConfig::Lstm => self.hidden_dim,
            CoreConfig::RelationalMemory(m) => m.output_width(),
        }
    }

    /// Width of the core's input projection (an LSTM's four gates, or the memory's row).
    fn projection_width(&self) -> usize {
        match self.core {
            CoreConfig::Lstm => 4 * self.hidden_dim,
            CoreConfig::RelationalMemory(m) => m.row_width(),
        }
    }

    pub fn validate(&self) -> Result<()> {
        if let CoreConfig::RelationalMemory(m) = self.core {
            m.validate()?;
        }
        if self.vocab_size < 2 || self.embed_dim == 0 || self.hidden_dim == 0 || self.seq_len == 0 {
            return Err(Error::Config(
                "generator needs vocab_size >= 2 and non-zero embed_dim, hidden_dim, seq_len"
                    .into(),
            ));
        }
        if self.classes == 1 {
            return Err(Error::Config(
                "a class-conditional generator needs at least 2 classes (0: unconditional)".into(),
            ));
        }
        if self.start_token as usize >= self.vocab_size {
            return Err(Error::Config(format!(
                "start_token {} outside the vocabulary of {}",
                self.start_token, self.vocab_size
            )));
        }
        Ok(())
    }
}

/// The recurrent state after some inputs.
#[derive(Clone)]
enum State {
    /// LSTM `(h, c)`, each `[B, H]`.
    Lstm(Tensor, Tensor),
    /// Relational memory `[B, slots, M]`.
    Memory(Tensor),
}

impl State {
    /// What the vocabulary projection reads, `[B, output width]`.
    fn output(&self) -> Result<Tensor> {
        Ok(match self {
            State::Lstm(h, _) => h.clone(),
            State::Memory(memory) => memory.flatten_from(1)?,
        })
    }
}

/// The recurrent core's own parameters.
enum Core {
    /// Gate columns are ordered input, forget, cell, output.
    Lstm {
        w_ih: Tensor,
        w_hh: Tensor,
        bias: Tensor,
    },
    Memory(RelationalMemory),
}

/// A generator over token ids.
pub struct SequenceGenerator {
    config: GeneratorConfig,
    params: ParamStore,
    embedding: Tensor,
    core: Core,
    out_weight: Tensor,
    out_bias: Tensor,
    /// Class-conditional generators (CatGAN): a bias per class on the core's input projection
    /// (`[K, 4H]` for an LSTM, `[K, M]` for a relational memory), added at every step. The same
    /// as CatGAN_G's one-hot class vector concatenated to each input embedding (its class matrix
    /// is the identity), without the wider matmul.
    class_gates: Option<Tensor>,
}

/// Draws next tokens from hidden states: on the CPU (and for top-k / top-p, which need a sort)
/// through the fused host kernel; elsewhere with tensor ops on the model's device, so that a
/// GPU does not send its hidden states to the host at every token.
enum TokenDraw<'a> {
    Host {
        sampling: &'a SamplingConfig,
        weight: Vec<f32>,
        bias: Vec<f32>,
    },
    OnDevice(socgan_nn::DeviceSampler),
}

impl TokenDraw<'_> {
    /// One token per row of `hidden` (`[B, H]`), one uniform per row from `rng`: `[B]` u32 ids
    /// on `hidden`'s device.
    fn draw(&self, hidden: &Tensor, rng: &mut SeededRng) -> Result<Tensor> {
        let (rows, hidden_dim) = hidden.dims2()?;
        let uniforms = rng.uniform_vec(rows, 0.0, 1.0);
        match self {
            TokenDraw::Host {
                sampling,
                weight,
                bias,
            } => {
                let h = hidden.flatten_all()?.to_vec1::<f32>()?;
                let ids = socgan_nn::sample_rows(&h, weight, bias, hidden_dim, sampling, &uniforms);
                Ok(Tensor::from_vec(ids, rows, hidden.device())?)
            }
            TokenDraw::OnDevice(sampler) => Ok(sampler.sample(hidden, &uniforms)?),
        }
    }
}

/// Rows sampled at once: bounds memory when drawing 10,000 sequences.
const SAMPLE_CHUNK: usize = 1024;

/// The parameter name of a conditional generator's class bias (named for the LSTM, where it was
/// first, and kept for either core so that saved checkpoints load).
const CLASS_GATES: &str = "lstm.class_gates";

/// `proj + gates` when conditioned (`gates` `[B, P]`, or `[1, P]` for a whole batch; `P` the core's
/// input projection width).
fn with_gates(proj: Tensor, gates: Option<&Tensor>) -> Result<Tensor> {
    Ok(match gates {
        Some(g) => proj.broadcast_add(g)?,
        None => proj,
    })
}

impl SequenceGenerator {
    /// A generator initialised as TextGAN-PyTorch initialises its LSTM generator: normal with std
    /// `1/sqrt(fan_in)` (the relational memory: see [`RelationalMemory::create`]).
    pub fn new(config: GeneratorConfig, device: &Device, rng: &mut SeededRng) -> Result<Self> {
        Self::with_init(config, device, rng, None)
    }

    /// Like [`SequenceGenerator::new`], with every parameter drawn from `N(0, std^2)` instead (the
    /// random oracle of TextGAN-PyTorch uses std 1).
    pub fn with_init(
        config: GeneratorConfig,
        device: &Device,
        rng: &mut SeededRng,
        std: Option<f32>,
    ) -> Result<Self> {
        config.validate()?;
        let (v, e, h) = (config.vocab_size, config.embed_dim, config.hidden_dim);
        let out = config.output_width();
        let mut params = ParamStore::new(device);
        let normal = |fan: usize| Init::Normal {
            mean: 0.0,
            std: std.unwrap_or(1.0 / (fan as f32).sqrt()),
        };
        params.create("embedding", (v, e), normal(e), rng)?;
        match config.core {
            CoreConfig::Lstm => {
                params.create("lstm.w_ih", (e, 4 * h), normal(e), rng)?;
                params.create("lstm.w_hh", (h, 4 * h), normal(h), rng)?;
                params.create("lstm.bias", 4 * h, normal(h), rng)?;
            }
            CoreConfig::RelationalMemory(m) => {
                RelationalMemory::create(m, e, &mut params, rng, std)?;
            }
        }
        params.create("output.weight", (out, v), normal(out), rng)?;
        params.create("output.bias", v, normal(out), rng)?;
        // Drawn last, so a conditional generator's other weights equal an unconditional one's
        // of the same seed.
        if config.classes > 0 {
            let width = config.projection_width();
            params.create(CLASS_GATES, (config.classes, width), normal(out), rng)?;
        }
        Self::from_params(config, params)
    }

    /// Wraps an existing store holding the parameters above.
    pub fn from_params(config: GeneratorConfig, params: ParamStore) -> Result<Self> {
        config.validate()?;
        let get = |name: &str| parameter(&params, name);
        let core = match config.core {
            CoreConfig::Lstm => Core::Lstm {
                w_ih: get("lstm.w_ih")?,
                w_hh: get("lstm.w_hh")?,
                bias: get("lstm.bias")?,
            },
            CoreConfig::RelationalMemory(m) => {
                Core::Memory(RelationalMemory::from_params(m, &params)?)
            }
        };
        Ok(Self {
            embedding: get("embedding")?,
            core,
            out_weight: get("output.weight")?,
            out_bias: get("output.bias")?,
            class_gates: match config.classes {
                0 => None,
                _ => Some(get(CLASS_GATES)?),
            },
            config,
            params,
        })
    }

    /// The number of classes of a conditional generator (0 for an unconditional one).
    pub fn classes(&self) -> usize {
        self.config.classes
    }

    /// The input bias of `classes` (one per row, `[B, P]`), or `None` unconditionally. A class
    /// outside the generator's is an error, as is conditioning an unconditional generator.
    fn gates_of(&self, classes: Option<&[u32]>) -> Result<Option<Tensor>> {
        match (classes, &self.class_gates) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err(Error::Config(
                "this generator is class-conditional: name the class of every sequence".into(),
            )),
            (Some(ids), Some(table)) => {
                let k = self.classes() as u32;
                if let Some(&bad) = ids.iter().find(|&&c| c >= k) {
                    return Err(Error::Config(format!(
                        "class {bad} outside the generator's {k} classes"
                    )));
                }
                let idx = Tensor::from_slice(ids, ids.len(), self.device())?;
                Ok(Some(table.index_select(&idx, 0)?))
            }
            (Some(_), None) => Err(Error::Config(
                "this generator is not class-conditional".into(),
            )),
        }
    }

    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }
    pub fn params(&self) -> &ParamStore {
        &self.params
    }
    pub fn device(&self) -> &Device {
        self.params.device()
    }

    /// One step of the core from the projected input `[B, P]`.
    fn cell(&self, input_proj: &Tensor, state: &State) -> Result<State> {
        match (&self.core, state) {
            (Core::Lstm { w_hh, .. }, State::Lstm(h, c)) => {
                let hd = self.config.hidden_dim;
                let gates = (input_proj + h.matmul(w_hh)?)?;
                let sig = candle_nn::ops::sigmoid(&gates)?;
                let i = sig.narrow(1, 0, hd)?;
                let f = sig.narrow(1, hd, hd)?;
                let o = sig.narrow(1, 3 * hd, hd)?;
                let g = gates.narrow(1, 2 * hd, hd)?.tanh()?;
                let c = ((f * c)? + (i * g)?)?;
                let h = (o * c.tanh()?)?;
                Ok(State::Lstm(h, c))
            }
            (Core::Memory(rmc), State::Memory(memory)) => {
                Ok(State::Memory(rmc.step(input_proj, memory)?))
            }
            _ => unreachable!("a generator's state comes from its own core"),
        }
    }

    /// The state before any input: zero for an LSTM, the identity rows for a memory.
    fn zero_state(&self, batch: usize) -> Result<State> {
        Ok(match &self.core {
            Core::Lstm { .. } => {
                let z = Tensor::zeros(
                    (batch, self.config.hidden_dim),
                    candle_core::DType::F32,
                    self.device(),
                )?;
                State::Lstm(z.clone(), z)
            }
            Core::Memory(rmc) => State::Memory(rmc.initial_memory(batch, self.device())?),
        })
    }

    /// Input projection of token ids `[N]`: `embedding[ids] @ W_ih + b` (`[N, 4H]`) for an LSTM,
    /// the memory's input layer (`[N, M]`) for a relational memory.
    fn project_tokens(&self, ids: &Tensor) -> Result<Tensor> {
        let embedded = self.embedding.index_select(ids, 0)?;
        match &self.core {
            // One fused op: candle's backward of a broadcast bias sums `[N, 4H]` along its
            // strided first axis, a tenth of the serial part of an MLE epoch at two threads.
            Core::Lstm { w_ih, bias, .. } => Ok(socgan_nn::dense(
                &embedded,
                &w_ih.t()?,
                bias,
                socgan_nn::GradientOrder::First,
            )?),
            Core::Memory(rmc) => rmc.project(&embedded),
        }
    }

    /// Teacher-forced inputs: the start token, then each sequence without its last token.
    fn shifted_inputs(&self, seqs: &TokenSequences) -> Vec<u32> {
        let t = seqs.seq_len();
        let mut inputs = Vec::with_capacity(seqs.tokens().len());
        for row in seqs.rows() {
            inputs.push(self.config.start_token);
            inputs.extend_from_slice(&row[..t - 1]);
        }
        inputs
    }

    /// Hidden states `[B*T, output width]` (row `b*T + t` predicts token `t` of sequence `b`), each
    /// sequence conditioned on its class in `classes` if given.
    fn hidden_states(&self, seqs: &TokenSequences, classes: Option<&[u32]>) -> Result<Tensor> {
        let (b, t) = (seqs.len(), seqs.seq_len());
        if t != self.config.seq_len {
            return Err(Error::Shape(format!(
                "sequences of length {t}, generator expects {}",
                self.config.seq_len
            )));
        }
        let inputs = Tensor::from_vec(self.shifted_inputs(seqs), b * t, self.device())?;
        // The input projection is hoisted out of the time loop: one [B*T, E] x [E, P] matmul.
        let proj = self
            .project_tokens(&inputs)?
            .reshape((b, t, self.config.projection_width()))?;
        let gates = self
            .gates_of(classes)?
            .map(|g| g.unsqueeze(1))
            .transpose()?;
        let proj = with_gates(proj, gates.as_ref())?;
        let hs = match &self.core {
            // The whole recurrence, forward and backward, as one fused op on CPU.
            Core::Lstm { w_hh, .. } => kernels::lstm_sequence(&proj, w_hh)?,
            Core::Memory(rmc) => rmc.sequence(&proj)?,
        };
        Ok(hs.reshape((b * t, self.config.output_width()))?)
    }

    /// Mean per-token negative log-likelihood of `seqs` (the MLE loss), differentiable.
    pub fn nll_loss(&self, seqs: &TokenSequences) -> Result<Tensor> {
        let n = seqs.tokens().len();
        self.weighted_nll(seqs, &vec![1.0 / n as f32; n])
    }

    /// `sum_i weights[i] * -log p(token_i)` over all positions, differentiable. With SeqGAN's
    /// rewards as weights this is the REINFORCE loss.
    pub fn weighted_nll(&self, seqs: &TokenSequences, weights: &[f32]) -> Result<Tensor> {
        self.weighted_nll_given(seqs, None, weights)
    }

    /// The MLE loss of a conditional generator, each sequence given its class.
    pub fn nll_loss_given(&self, seqs: &TokenSequences, classes: &[u32]) -> Result<Tensor> {
        if classes.len() != seqs.len() {
            return Err(Error::Shape(format!(
                "{} classes for {} sequences",
                classes.len(),
                seqs.len()
            )));
        }
        let n = seqs.tokens().len();
        self.weighted_nll_given(seqs, Some(classes), &vec![1.0 / n as f32; n])
    }

    fn weighted_nll_given(
        &self,
        seqs: &TokenSequences,
        classes: Option<&[u32]>,
        weights: &[f32],
    ) -> Result<Tensor> {
        let hidden = self.hidden_states(seqs, classes)?;
        Ok(socgan_nn::linear_cross_entropy(
            &hidden,
            &self.out_weight,
            &self.out_bias,
            seqs.tokens(),
            weights,
        )?)
    }

    /// Per-token negative log-likelihood, no gradient.
    pub fn token_nll(&self, seqs: &TokenSequences) -> Result<Vec<f32>> {
        self.token_nll_given(seqs, None)
    }

    fn token_nll_given(&self, seqs: &TokenSequences, class: Option<u32>) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(seqs.tokens().len());
        for start in (0..seqs.len()).step_by(SAMPLE_CHUNK) {
            let chunk = seqs.slice(start, (start + SAMPLE_CHUNK).min(seqs.len()));
            let classes = class.map(|c| vec![c; chunk.len()]);
            let hidden = self.hidden_states(&chunk, classes.as_deref())?.detach();
            out.extend(socgan_nn::row_nll(
                &hidden,
                &self.out_weight.detach(),
                &self.out_bias.detach(),
                chunk.tokens(),
            )?);
        }
        Ok(out)
    }

    /// The rank of each target token among the model's predictions at its position (1: its most
    /// likely token; ties rank with the target), in `seqs`' order: GLTR's statistic (Gehrmann et
    /// al., 2019; machine text keeps to the top ranks).
    pub fn token_ranks(&self, seqs: &TokenSequences) -> Result<Vec<u32>> {
        // A chunk's logits are rows x T x V floats: 64 tweets of 40 tokens over a 10,000-word
        // vocabulary are 100 MB.
        const RANK_CHUNK: usize = 64;
        let (weight, bias) = (self.out_weight.detach(), self.out_bias.detach());
        let mut out = Vec::with_capacity(seqs.tokens().len());
        for start in (0..seqs.len()).step_by(RANK_CHUNK) {
            let chunk = seqs.slice(start, (start + RANK_CHUNK).min(seqs.len()));
            let hidden = self.hidden_states(&chunk, None)?.detach();
            let logits = hidden.matmul(&weight)?.broadcast_add(&bias)?;
            let v = logits.dim(1)?;
            let logits = logits.flatten_all()?.to_vec1::<f32>()?;
            for (row, &target) in logits.chunks_exact(v).zip(chunk.tokens()) {
                let at = row[target as usize];
                out.push(1 + row.iter().filter(|&&l| l > at).count() as u32);
            }
        }
        Ok(out)
    }

    /// Mean per-token negative log-likelihood of `seqs` (NLL_gen on held-out data; the oracle's
    /// NLL_oracle of generated samples).
    pub fn mean_nll(&self, seqs: &TokenSequences) -> Result<f64> {
        self.mean_nll_given(seqs, None)
    }

    /// [`SequenceGenerator::mean_nll`] of a conditional generator given `class` for every sequence.
    pub fn mean_nll_given(&self, seqs: &TokenSequences, class: Option<u32>) -> Result<f64> {
        let nll = self.token_nll_given(seqs, class)?;
        Ok(nll.iter().map(|&x| x as f64).sum::<f64>() / nll.len().max(1) as f64)
    }

    /// Draws `steps` tokens per row from `state` (which has read every row's input so far),
    /// each fed back as the next input; the ids stay on the device until all are drawn and come
    /// back once, `[rows][steps]`.
    fn draw_continuations(
        &self,
        mut state: State,
        steps: usize,
        draw: &TokenDraw,
        rng: &mut SeededRng,
        gates: Option<&Tensor>,
    ) -> Result<Vec<Vec<u32>>> {
        let mut drawn = Vec::with_capacity(steps);
        let rows = state.output()?.dim(0)?;
        for step in 0..steps {
            let ids = draw.draw(&state.output()?, rng)?;
            if step + 1 < steps {
                state = self.cell(&with_gates(self.project_tokens(&ids)?, gates)?, &state)?;
            }
            drawn.push(ids);
        }
        if drawn.is_empty() {
            return Ok(vec![Vec::new(); rows]);
        }
        Ok(Tensor::stack(&drawn, 1)?.to_vec2::<u32>()?)
    }

    /// The state of `rows` sequences that have read the start token.
    fn started_state(&self, rows: usize, gates: Option<&Tensor>) -> Result<State> {
        let start = Tensor::from_vec(vec![self.config.start_token; rows], rows, self.device())?;
        self.cell(
            &with_gates(self.project_tokens(&start)?, gates)?,
            &self.zero_state(rows)?,
        )
    }

    fn token_draw<'a>(&self, sampling: &'a SamplingConfig) -> Result<TokenDraw<'a>> {
        let truncated = sampling.top_k.is_some() || sampling.top_p.is_some();
        if self.device().is_cpu() || truncated {
            return Ok(TokenDraw::Host {
                sampling,
                weight: self.out_weight.flatten_all()?.to_vec1::<f32>()?,
                bias: self.out_bias.to_vec1::<f32>()?,
            });
        }
        Ok(TokenDraw::OnDevice(socgan_nn::DeviceSampler::new(
            &self.out_weight,
            &self.out_bias,
            sampling.temperature,
        )?))
    }

    /// Draws `n` sequences, batched, every token from `rng` (one uniform per row and position).
    pub fn sample(
        &self,
        n: usize,
        sampling: &SamplingConfig,
        rng: &mut SeededRng,
    ) -> Result<TokenSequences> {
        self.sample_given(n, None, sampling, rng)
    }

    /// [`SequenceGenerator::sample`] of a conditional generator, every sequence of `class` (or
    /// unconditional with `None`).
    pub fn sample_given(
        &self,
        n: usize,
        class: Option<u32>,
        sampling: &SamplingConfig,
        rng: &mut SeededRng,
    ) -> Result<TokenSequences> {
        sampling.validate()?;
        let gates = self.gates_of(class.as_ref().map(std::slice::from_ref))?;
        let draw = self.token_draw(sampling)?;
        let mut tokens = Vec::with_capacity(n * self.config.seq_len);
        for start in (0..n).step_by(SAMPLE_CHUNK) {
            let rows = SAMPLE_CHUNK.min(n - start);
            let state = self.started_state(rows, gates.as_ref())?;
            let out =
                self.draw_continuations(state, self.config.seq_len, &draw, rng, gates.as_ref())?;
            tokens.extend(out.into_iter().flatten());
        }
        Ok(TokenSequences::new(self.config.seq_len, tokens)?)
    }

    /// SeqGAN's Monte-Carlo rollouts. For each prefix length `g` in `1..T`, every sequence of
    /// `seqs` is completed `rollouts` times by sampling from the generator after its first `g`
    /// tokens. Returns, for each `g`, the `rollouts * B` completed sequences (rollout-major).
    pub fn rollouts(
        &self,
        seqs: &TokenSequences,
        rollouts: usize,
        rng: &mut SeededRng,
    ) -> Result<Vec<TokenSequences>> {
        let (b, t) = (seqs.len(), seqs.seq_len());
        let rows = rollouts * b;
        let tiled: Vec<usize> = (0..rollouts).flat_map(|_| 0..b).collect();
        let tiled = seqs.select(&tiled);
        let sampling = SamplingConfig::default();
        let draw = self.token_draw(&sampling)?;
        // State after the start token; each iteration then consumes one more real token.
        let mut state = self.started_state(rows, None)?;
        let mut completed = Vec::with_capacity(t - 1);
        for given in 1..t {
            let prefix: Vec<u32> = tiled.rows().map(|r| r[given - 1]).collect();
            let ids = Tensor::from_slice(&prefix, rows, self.device())?;
            state = self.cell(&self.project_tokens(&ids)?, &state)?;
            // Branch: sample positions given..T from the state that has read tokens 0..given.
            let drawn = self.draw_continuations(state.clone(), t - given, &draw, rng, None)?;
            let out = tiled
                .rows()
                .zip(drawn)
                .flat_map(|(r, tail)| r[..given].iter().copied().chain(tail));
            completed.push(TokenSequences::new(t, out.collect())?);
        }
        Ok(completed)
    }

    /// RelGAN's generator output: `B` sequences sampled with the Gumbel-max trick, returned as the
    /// differentiable relaxation `softmax(beta * (logits + gumbel))`, `[B, T, V]`, and the sampled
    /// ids. The next input is the sampled token's embedding, as in RelGAN. With
    /// `straight_through`, the forward value is the hard one-hot and the gradient the soft one's.
    pub fn gumbel_sample(
        &self,
        batch: usize,
        beta: f64,
        straight_through: bool,
        rng: &mut SeededRng,
    ) -> Result<(Tensor, TokenSequences)> {
        self.gumbel_sample_given(batch, None, beta, straight_through, rng)
    }

    /// [`SequenceGenerator::gumbel_sample`] of a conditional generator, row `b` of class
    /// `classes[b]` (`batch` must equal their number).
    pub fn gumbel_sample_given(
        &self,
        batch: usize,
        classes: Option<&[u32]>,
        beta: f64,
        straight_through: bool,
        rng: &mut SeededRng,
    ) -> Result<(Tensor, TokenSequences)> {
        if classes.is_some_and(|c| c.len() != batch) {
            return Err(Error::Shape(format!("{batch} rows need as many classes")));
        }
        let gates = self.gates_of(classes)?;
        let (t, v) = (self.config.seq_len, self.config.vocab_size);
        let mut state = self.zero_state(batch)?;
        // The sampled ids stay on the device (each the next input) and come back once.
        let mut ids = Tensor::from_vec(vec![self.config.start_token; batch], batch, self.device())?;
        let mut soft = Vec::with_capacity(t);
        let mut drawn = Vec::with_capacity(t);
        let vocab_ids = Tensor::arange(0u32, v as u32, self.device())?;
        for _ in 0..t {
            state = self.cell(
                &with_gates(self.project_tokens(&ids)?, gates.as_ref())?,
                &state,
            )?;
            let logits = state
                .output()?
                .matmul(&self.out_weight)?
                .broadcast_add(&self.out_bias)?;
            let perturbed = (logits + rng.gumbel((batch, v), self.device())?)?;
            ids = perturbed.argmax(D::Minus1)?;
            let relaxed = candle_nn::ops::softmax(&(perturbed * beta)?, D::Minus1)?;
            let out = if straight_through {
                let hard = ids
                    .unsqueeze(1)?
                    .broadcast_eq(&vocab_ids.unsqueeze(0)?)?
                    .to_dtype(relaxed.dtype())?;
                ((hard - relaxed.detach())? + &relaxed)?
            } else {
                relaxed
            };
            soft.push(out);
            drawn.push(ids.clone());
        }
        let tokens = Tensor::stack(&drawn, 1)?.flatten_all()?.to_vec1::<u32>()?;
        Ok((Tensor::stack(&soft, 1)?, TokenSequences::new(t, tokens)?))
    }
}

/// The generator parameter `name` of `params`, or an error naming it.
pub(crate) fn parameter(params: &ParamStore, name: &str) -> Result<Tensor> {
    params
        .get(name)
        .map(|v| v.as_tensor().clone())
        .ok_or_else(|| Error::Config(format!("generator parameter `{name}` missing")))
}

/// `[N, V]` one-hot rows of `ids`.
pub fn one_hot(ids: &[u32], vocab: usize, device: &Device) -> Result<Tensor> {
    let mut data = vec![0f32; ids.len() * vocab];
    for (row, &id) in ids.iter().enumerate() {
        data[row * vocab + id as usize] = 1.0;
    }
    Ok(Tensor::from_vec(data, (ids.len(), vocab), device)?)
}
