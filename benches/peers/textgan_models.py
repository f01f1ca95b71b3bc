"""PyTorch peers of socgan's models, written as TextGAN-PyTorch writes them (LSTMGenerator,
RelGAN_G's LSTM variant, CNNDiscriminator, RelGAN_D), for side-by-side speed ratios.

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
