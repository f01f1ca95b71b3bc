"""PyTorch peers of socgan's models, written as TextGAN-PyTorch writes them (LSTMGenerator,
RelGAN_G with its LSTM and with its relational memory, CNNDiscriminator, RelGAN_D), for
side-by-side speed ratios.

Sizes: vocabulary 5,000, embedding 32, hidden 32, length 20, batch 64. The discriminators end
in one logit per sequence (per representation for RelGAN), as socgan's do.
"""
import resource, statistics, sys, time

import torch
import torch.nn as nn
import torch.nn.functional as F

from peer_device import synchronize, use_device

V, E, H, L, B, N = 5000, 32, 32, 20, 64, 10000


def threads_from_argv():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    torch.set_num_threads(threads)
    use_device()
    torch.manual_seed(0)
    return threads, repeats


def timed(work, repeats):
    """Runs work(0) once untimed (warm-up), then work(1..repeats); returns the timings."""
    work(0)
    synchronize()
    times = []
    for i in range(1, repeats + 1):
        t = time.time()
        work(i)
        synchronize()
        times.append(time.time() - t)
    return times


def report(name, threads, times):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"torch workload={name} threads={threads} seconds={statistics.median(times):.4f} peak_rss_mb={peak:.1f}")


class LSTMGenerator(nn.Module):
    def __init__(self):
        super().__init__()
        self.embeddings = nn.Embedding(V, E)
        self.lstm = nn.LSTM(E, H, batch_first=True)
        self.lstm2out = nn.Linear(H, V)

    def forward(self, inp, hidden=None, need_hidden=False):
        out, hidden = self.lstm(self.embeddings(inp), hidden)
        pred = F.log_softmax(self.lstm2out(out.contiguous().view(-1, H)), dim=-1)
        return (pred, hidden) if need_hidden else pred

    def sample(self, num_samples, batch_size):
        """Token by token, as TextGAN's LSTMGenerator.sample."""
        samples = torch.zeros(num_samples, L, dtype=torch.long)
        with torch.no_grad():
            for b in range(num_samples // batch_size):
                hidden = None
                inp = torch.zeros(batch_size, 1, dtype=torch.long)
                for i in range(L):
                    out, hidden = self.forward(inp, hidden, need_hidden=True)
                    nxt = torch.multinomial(torch.exp(out), 1)
                    samples[b * batch_size:(b + 1) * batch_size, i] = nxt.view(-1)
                    inp = nxt.view(-1, 1)
        return samples

    def batchPGLoss(self, inp, target, reward):
        pred = self.forward(inp)
        onehot = F.one_hot(target.reshape(-1), V).float()
        per_token = torch.sum(pred * onehot, dim=-1)
        return -torch.sum(per_token * reward.reshape(-1)) / inp.size(0)


class RelGANLSTMGenerator(LSTMGenerator):
    """RelGAN_G with model_type 'vanilla' (an LSTM): Gumbel-max sampling, soft one-hot output."""

    def sample_soft(self, batch_size, temperature):
        hidden = None
        inp = torch.zeros(batch_size, 1, dtype=torch.long)
        preds = []
        for _ in range(L):
            out, hidden = self.lstm(self.embeddings(inp), hidden)
            logits = self.lstm2out(out.squeeze(1))
            u = torch.rand(logits.size())
            gumbel_t = logits + (-torch.log(-torch.log(u + 1e-10) + 1e-10))
            next_token = torch.argmax(gumbel_t, dim=1).detach()
            preds.append(F.softmax(gumbel_t * temperature, dim=-1))
            inp = next_token.view(-1, 1)
        return torch.stack(preds, 1)


class RelationalMemory(nn.Module):
    """TextGAN-PyTorch's RelationalMemory (models/relational_rnn_general.py, after Sonnet's) with
    its defaults as RelGAN_G uses them: one attention block, per-unit gating, an attention MLP of
    two layers that are one nn.Linear listed twice, layer norms over [slots + 1, features]."""

    def __init__(self, mem_slots, head_size, input_size, num_heads):
        super().__init__()
        self.mem_slots, self.head_size, self.num_heads = mem_slots, head_size, num_heads
        self.mem_size = head_size * num_heads
        rows = mem_slots + 1
        self.qkv_projector = nn.Linear(self.mem_size, 3 * self.mem_size)
        self.qkv_layernorm = nn.LayerNorm([rows, 3 * self.mem_size])
        self.attention_mlp = nn.ModuleList([nn.Linear(self.mem_size, self.mem_size)] * 2)
        self.attended_memory_layernorm = nn.LayerNorm([rows, self.mem_size])
        self.attended_memory_layernorm2 = nn.LayerNorm([rows, self.mem_size])
        self.input_projector = nn.Linear(input_size, self.mem_size)
        self.input_gate_projector = nn.Linear(self.mem_size, 2 * self.mem_size)
        self.memory_gate_projector = nn.Linear(self.mem_size, 2 * self.mem_size)
        self.forget_bias = nn.Parameter(torch.tensor(1.0))
        self.input_bias = nn.Parameter(torch.tensor(0.0))

    def initial_state(self, batch_size):
        state = torch.stack([torch.eye(self.mem_slots) for _ in range(batch_size)])
        if self.mem_size > self.mem_slots:
            pad = torch.zeros((batch_size, self.mem_slots, self.mem_size - self.mem_slots))
            state = torch.cat([state, pad], -1)
        return state[:, :, :self.mem_size]

    def multihead_attention(self, memory):
        qkv = self.qkv_layernorm(self.qkv_projector(memory))
        b, n = qkv.shape[0], memory.shape[1]
        qkv = qkv.view(b, n, self.num_heads, 3 * self.head_size).permute(0, 2, 1, 3)
        q, k, v = torch.split(qkv, [self.head_size] * 3, -1)
        q = q * (self.head_size ** -0.5)
        weights = F.softmax(torch.matmul(q, k.permute(0, 1, 3, 2)), dim=-1)
        out = torch.matmul(weights, v).permute(0, 2, 1, 3).contiguous()
        return out.view(b, n, -1)

    def forward_step(self, inputs, memory):
        inputs = self.input_projector(inputs.view(inputs.shape[0], -1)).unsqueeze(1)
        memory_plus_input = torch.cat([memory, inputs], dim=1)
        attended = self.attended_memory_layernorm(memory_plus_input + self.multihead_attention(memory_plus_input))
        mlp = attended
        for layer in self.attention_mlp:
            mlp = F.relu(layer(mlp))
        next_memory = self.attended_memory_layernorm2(attended + mlp)[:, :-1, :]
        gates = self.memory_gate_projector(torch.tanh(memory)) + self.input_gate_projector(inputs.view(inputs.shape[0], -1)).unsqueeze(1)
        input_gate, forget_gate = torch.split(gates, self.mem_size, dim=2)
        input_gate = torch.sigmoid(input_gate + self.input_bias)
        forget_gate = torch.sigmoid(forget_gate + self.forget_bias)
        next_memory = input_gate * torch.tanh(next_memory) + forget_gate * memory
        return next_memory.view(next_memory.shape[0], -1), next_memory

    def forward(self, inputs, memory):
        outputs = []
        for t in range(inputs.shape[1]):
            out, memory = self.forward_step(inputs[:, t], memory)
            outputs.append(out.unsqueeze(1))
        return torch.cat(outputs, dim=1), memory


class RelGANRMCGenerator(nn.Module):
    """RelGAN_G with model_type 'RMC' at the synthetic data's sizes: 1 slot, 2 heads of 256."""

    def __init__(self, mem_slots=1, num_heads=2, head_size=256):
        super().__init__()
        self.embeddings = nn.Embedding(V, E)
        self.lstm = RelationalMemory(mem_slots, head_size, E, num_heads)
        self.hidden_dim = mem_slots * num_heads * head_size
        self.lstm2out = nn.Linear(self.hidden_dim, V)

    def forward(self, inp):
        memory = self.lstm.initial_state(inp.size(0))
        out, _ = self.lstm(self.embeddings(inp), memory)
        return F.log_softmax(self.lstm2out(out.contiguous().view(-1, self.hidden_dim)), dim=-1)

    def sample_soft(self, batch_size, temperature):
        """The gradient flows through the whole sequence, as socgan's does (TextGAN-PyTorch's
        RelationalMemory.forward detaches the memory at every call; the paper's code does not)."""
        memory = self.lstm.initial_state(batch_size)
        inp = torch.zeros(batch_size, dtype=torch.long)
        preds = []
        for _ in range(L):
            out, memory = self.lstm(self.embeddings(inp).unsqueeze(1), memory)
            logits = self.lstm2out(out.squeeze(1))
            u = torch.rand(logits.size())
            gumbel_t = logits + (-torch.log(-torch.log(u + 1e-10) + 1e-10))
            next_token = torch.argmax(gumbel_t, dim=1).detach()
            preds.append(F.softmax(gumbel_t * temperature, dim=-1))
            inp = next_token
        return torch.stack(preds, 1)


class CNNDiscriminator(nn.Module):
    """SeqGAN's CNN discriminator (TextGAN-PyTorch CNNDiscriminator)."""

    def __init__(self, filter_sizes=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20),
                 num_filters=(100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160), embed_dim=64):
        super().__init__()
        self.feature_dim = sum(num_filters)
        self.embeddings = nn.Embedding(V, embed_dim)
        self.convs = nn.ModuleList([nn.Conv2d(1, n, (f, embed_dim)) for n, f in zip(num_filters, filter_sizes)])
        self.highway = nn.Linear(self.feature_dim, self.feature_dim)
        self.out = nn.Linear(self.feature_dim, 1)
        self.dropout = nn.Dropout(0.25)

    def forward(self, inp):
        emb = self.embeddings(inp).unsqueeze(1)
        convs = [F.relu(conv(emb)).squeeze(3) for conv in self.convs]
        pools = [F.max_pool1d(c, c.size(2)).squeeze(2) for c in convs]
        pred = torch.cat(pools, 1)
        highway = self.highway(pred)
        pred = torch.sigmoid(highway) * F.relu(highway) + (1.0 - torch.sigmoid(highway)) * pred
        return self.out(self.dropout(pred)).squeeze(1)


class RelGAN_D(nn.Module):
    """RelGAN's multi-representation discriminator (TextGAN-PyTorch RelGAN_D)."""

    def __init__(self, embed_dim=64, num_rep=64, filter_sizes=(2, 3, 4, 5), num_filters=(300, 300, 300, 300)):
        super().__init__()
        self.emb_dim_single = embed_dim // num_rep
        self.feature_dim = sum(num_filters)
        self.embeddings = nn.Linear(V, embed_dim, bias=False)
        self.convs = nn.ModuleList([
            nn.Conv2d(1, n, (f, self.emb_dim_single), stride=(1, self.emb_dim_single))
            for n, f in zip(num_filters, filter_sizes)])
        self.highway = nn.Linear(self.feature_dim, self.feature_dim)
        self.out = nn.Linear(self.feature_dim, 1)
        self.dropout = nn.Dropout(0.25)

    def forward(self, inp):
        emb = self.embeddings(inp).unsqueeze(1)
        cons = [F.relu(conv(emb)) for conv in self.convs]
        pools = [F.max_pool2d(con, (con.size(2), 1)).squeeze(2) for con in cons]
        pred = torch.cat(pools, 1)
        pred = pred.permute(0, 2, 1).contiguous().view(-1, self.feature_dim)
        highway = self.highway(pred)
        pred = torch.sigmoid(highway) * F.relu(highway) + (1.0 - torch.sigmoid(highway)) * pred
        return self.out(self.dropout(pred)).squeeze(1)


def optimize(opt, loss, model, clip=5.0):
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
