"""One training epoch of SASRec (Kang & McAuley, ICDM 2018) on Amazon Video Games, as the PyTorch
port pmixer/SASRec.pytorch trains it, for side-by-side speed ratios with socgan's candle SASRec.

Model: the pmixer model of commits 30c43cf..4297d09 (2020-10 to 2024-06, model.py and utils.py
unchanged over that range; the xavier init of main.py is from 1d8aaa2/72ba89d), which is also the
architecture of Kang's TensorFlow code. Item embedding (23,716 x 50, padding_idx 0) scaled by
sqrt(50); a learned positional embedding of maxlen rows, indexed 0..49 at every position (no
padding_idx; padded slots get one too); embedding dropout; the timeline mask (padded positions
zeroed) after the dropout and after every block; 2 blocks of [Q = attention LayerNorm(x);
torch.nn.MultiheadAttention(50, 1 head, dropout 0.5)(Q, x, x) with a boolean causal mask only
(padded keys are NOT masked: pmixer leaves key_padding_mask commented out); x = Q + mha;
x = forward LayerNorm(x); x = x + dropout(conv1d(relu(dropout(conv1d(x))))) with kernel-1
Conv1d; x *= timeline mask]; last LayerNorm. All LayerNorms eps=1e-8. Init: xavier_normal_ on
every parameter, 1-D ones (biases, LayerNorm) keep PyTorch's default because xavier raises on
them (pmixer catches the error); the padding row is xavier-initialised too (never read after the
timeline mask, and padding_idx keeps its gradient zero). Loss (--loss bce, pmixer's): positive
and negative logits are dot products with the item embedding at every position, then
BCEWithLogits(mean) on the positive + BCEWithLogits(mean) on the negative, over the positions
where pos != 0. Adam lr 1e-3, betas (0.9, 0.98); batch 128, maxlen 50, hidden 50, dropout 0.5,
l2_emb 0.

Data: SASRec's leave-one-out split (users with >= 3 actions lose their last two; the others keep
all), 31,013 users and 23,715 items. A sample is built as WarpSampler does: seq = train[:-1]
right-aligned in maxlen slots, pos = the next items, one negative per filled slot drawn uniformly
from the items not in the user's training sequence (random_neq's rejection rule, vectorised per
user); a user with <= 1 training item is replaced by a uniformly drawn user, as the sampler does.
Epoch = ceil(31,013 / 128) = 243 full batches.

Differences from pmixer, all outside what is timed or without effect on the maths:
- Users come in a seeded permutation (each once per epoch, the last batch topped up from a second
  permutation, as pmixer's current sampler since bcf7fd0 does); pmixer's model-era sampler draws
  users uniformly with replacement, in 3 worker processes. Here every batch of the epoch is built
  up front with numpy (seed 0), outside the timed region.
- pmixer adds l2_emb * ||E|| to the loss even when l2_emb is 0; it is omitted (it adds nothing).
- No per-step loss print; no evaluation.
- pmixer's current HEAD (2025-05 onwards) differs in the model: 1-based positions with
  padding_idx 0 (padded slots get a zero positional vector), no timeline mask, post-LN by
  default (pre-LN with --norm_first), padding rows zeroed after init, users with < 4 actions kept
  whole. This script follows the earlier model described above.

--loss ce: full softmax cross-entropy over all items instead (gSASRec; Klenitskiy & Vasilev,
RecSys 2023): the non-padded rows of the last hidden states are gathered first, projected on
item_emb.weight[1:] (23,715 real items; row 0 is padding and is never a target) and scored with
cross_entropy(mean) against pos - 1. This equals projecting on all 23,716 rows with column 0
masked to -inf (same loss, same gradients), without the extra column and the mask; projecting
on all rows unmasked would wrongly make the padding item a candidate. Negatives are not used.

Measured: torch.set_num_threads(N), interop threads 1, seeds 0. One untimed warm-up of 3 training
steps (batches 0-2), after which model, optimizer and torch RNG are reset to their initial state;
then the timed loop: K batches (default all 243) of forward, loss, backward, Adam step (numpy
batch -> LongTensor conversion included, as pmixer's forward does it). final_loss is the loss of
the last timed batch.
Usage: sasrec_epoch.py --threads N --data PATH [--loss bce|ce] [--batches K]"""
import argparse
import copy
import math
import resource
import time
from collections import defaultdict

import numpy as np

from peer_device import DEVICE, synchronize, use_device
import torch
import torch.nn.functional as F

BATCH, MAXLEN, HIDDEN, BLOCKS, HEADS, DROPOUT, LR = 128, 50, 50, 2, 1, 0.5, 0.001
WARMUP = 3
SEED = 0


def data_partition(path):
    """utils.data_partition: per-user item lists in file order; last two held out if >= 3."""
    users = defaultdict(list)
    usernum = itemnum = 0
    with open(path) as f:
        for line in f:
            u, i = line.split()
            u, i = int(u), int(i)
            usernum, itemnum = max(u, usernum), max(i, itemnum)
            users[u].append(i)
    train = {u: (v if len(v) < 3 else v[:-2]) for u, v in users.items()}
    return train, usernum, itemnum


def sample(train, uid, usernum, itemnum, rng):
    """sample_function.sample: (seq, pos, neg) of one user, right-aligned in MAXLEN slots."""
    while len(train.get(uid, ())) <= 1:
        uid = int(rng.integers(1, usernum + 1))
    items = np.asarray(train[uid], dtype=np.int32)
    n = min(len(items) - 1, MAXLEN)
    seq = np.zeros(MAXLEN, dtype=np.int32)
    pos = np.zeros(MAXLEN, dtype=np.int32)
    neg = np.zeros(MAXLEN, dtype=np.int32)
    seq[MAXLEN - n:] = items[-1 - n:-1]
    pos[MAXLEN - n:] = items[-n:]
    # random_neq(1, itemnum + 1, set(train)) for each filled slot: uniform, rejecting seen items.
    draws = rng.integers(1, itemnum + 1, size=n)
    bad = np.isin(draws, items)
    while bad.any():
        draws[bad] = rng.integers(1, itemnum + 1, size=int(bad.sum()))
        bad = np.isin(draws, items)
    neg[MAXLEN - n:] = draws
    return seq, pos, neg


def build_epoch(train, usernum, itemnum):
    """All batches of one epoch: users in seeded permutations, full batches of BATCH."""
    rng = np.random.default_rng(SEED)
    num_batch = math.ceil(len(train) / BATCH)
    order = np.concatenate([rng.permutation(np.arange(1, usernum + 1)),
                            rng.permutation(np.arange(1, usernum + 1))])
    batches = []
    for b in range(num_batch):
        rows = [sample(train, int(u), usernum, itemnum, rng) for u in order[b * BATCH:(b + 1) * BATCH]]
        seq, pos, neg = (np.stack(x) for x in zip(*rows))
        batches.append((seq, pos, neg))
    return batches


class PointWiseFeedForward(torch.nn.Module):
    def __init__(self, hidden_units, dropout_rate):
        super().__init__()
        self.conv1 = torch.nn.Conv1d(hidden_units, hidden_units, kernel_size=1)
        self.dropout1 = torch.nn.Dropout(p=dropout_rate)
        self.relu = torch.nn.ReLU()
        self.conv2 = torch.nn.Conv1d(hidden_units, hidden_units, kernel_size=1)
        self.dropout2 = torch.nn.Dropout(p=dropout_rate)

    def forward(self, inputs):
        outputs = self.dropout2(self.conv2(self.relu(self.dropout1(self.conv1(inputs.transpose(-1, -2))))))
        outputs = outputs.transpose(-1, -2)  # as Conv1D requires (N, C, Length)
        outputs += inputs
        return outputs


class SASRec(torch.nn.Module):
    def __init__(self, item_num):
        super().__init__()
        self.item_emb = torch.nn.Embedding(item_num + 1, HIDDEN, padding_idx=0)
        self.pos_emb = torch.nn.Embedding(MAXLEN, HIDDEN)
        self.emb_dropout = torch.nn.Dropout(p=DROPOUT)
        self.attention_layernorms = torch.nn.ModuleList()
        self.attention_layers = torch.nn.ModuleList()
        self.forward_layernorms = torch.nn.ModuleList()
        self.forward_layers = torch.nn.ModuleList()
        self.last_layernorm = torch.nn.LayerNorm(HIDDEN, eps=1e-8)
        for _ in range(BLOCKS):
            self.attention_layernorms.append(torch.nn.LayerNorm(HIDDEN, eps=1e-8))
            self.attention_layers.append(torch.nn.MultiheadAttention(HIDDEN, HEADS, DROPOUT))
            self.forward_layernorms.append(torch.nn.LayerNorm(HIDDEN, eps=1e-8))
            self.forward_layers.append(PointWiseFeedForward(HIDDEN, DROPOUT))

    def log2feats(self, log_seqs):
        seqs = self.item_emb(log_seqs)
        seqs *= self.item_emb.embedding_dim ** 0.5
        positions = torch.arange(log_seqs.shape[1]).expand(log_seqs.shape[0], -1)
        seqs += self.pos_emb(positions)
        seqs = self.emb_dropout(seqs)

        timeline_mask = log_seqs == 0
        seqs *= ~timeline_mask.unsqueeze(-1)  # broadcast in last dim

        tl = seqs.shape[1]  # time dim len for enforce causality
        attention_mask = ~torch.tril(torch.ones((tl, tl), dtype=torch.bool))

        for i in range(len(self.attention_layers)):
            seqs = torch.transpose(seqs, 0, 1)
            Q = self.attention_layernorms[i](seqs)
            mha_outputs, _ = self.attention_layers[i](Q, seqs, seqs, attn_mask=attention_mask)
            seqs = Q + mha_outputs
            seqs = torch.transpose(seqs, 0, 1)

            seqs = self.forward_layernorms[i](seqs)
            seqs = self.forward_layers[i](seqs)
            seqs *= ~timeline_mask.unsqueeze(-1)

        return self.last_layernorm(seqs)

    def forward(self, log_seqs, pos_seqs, neg_seqs):
        log_feats = self.log2feats(log_seqs)
        pos_embs = self.item_emb(pos_seqs)
        neg_embs = self.item_emb(neg_seqs)
        pos_logits = (log_feats * pos_embs).sum(dim=-1)
        neg_logits = (log_feats * neg_embs).sum(dim=-1)
        return pos_logits, neg_logits


def ids(batch):
    """A numpy batch as int64 ids on the peer's device (pmixer: LongTensor(...).to(dev))."""
    return torch.from_numpy(batch).long().to(DEVICE)


def bce_step(model, opt, bce, batch):
    seq, pos, neg = batch
    pos_logits, neg_logits = model(ids(seq), ids(pos),
                                   ids(neg))
    pos_labels, neg_labels = torch.ones(pos_logits.shape), torch.zeros(neg_logits.shape)
    opt.zero_grad()
    indices = np.where(pos != 0)
    loss = bce(pos_logits[indices], pos_labels[indices])
    loss += bce(neg_logits[indices], neg_labels[indices])
    loss.backward()
    opt.step()
    return loss


def ce_step(model, opt, batch):
    seq, pos, _ = batch
    pos = ids(pos)
    log_feats = model.log2feats(ids(seq))
    opt.zero_grad()
    mask = pos != 0
    hidden = log_feats[mask]                          # (valid, HIDDEN): non-padded rows only
    logits = hidden @ model.item_emb.weight[1:].T     # (valid, items): real items 1..itemnum
    loss = F.cross_entropy(logits, pos[mask] - 1)
    loss.backward()
    opt.step()
    return loss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", required=True)
    ap.add_argument("--loss", choices=["bce", "ce"], default="bce")
    ap.add_argument("--batches", type=int, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    use_device()
    torch.manual_seed(SEED)

    train, usernum, itemnum = data_partition(args.data)
    batches = build_epoch(train, usernum, itemnum)
    k = len(batches) if args.batches is None else min(args.batches, len(batches))

    model = SASRec(itemnum)
    for _, param in model.named_parameters():
        try:
            torch.nn.init.xavier_normal_(param.data)
        except ValueError:
            pass  # 1-D parameters keep their default init, as in pmixer
    model.train()
    initial = copy.deepcopy(model.state_dict())
    bce = torch.nn.BCEWithLogitsLoss()

    def new_optimizer():
        return torch.optim.Adam(model.parameters(), lr=LR, betas=(0.9, 0.98))

    def step(opt, batch):
        return bce_step(model, opt, bce, batch) if args.loss == "bce" else ce_step(model, opt, batch)

    opt = new_optimizer()
    for batch in batches[:WARMUP]:
        step(opt, batch)
    model.load_state_dict(initial)
    opt = new_optimizer()
    torch.manual_seed(SEED)

    t = time.perf_counter()
    for batch in batches[:k]:
        loss = step(opt, batch)
    synchronize()
    seconds = time.perf_counter() - t
    final_loss = loss.item()

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"torch threads={args.threads} loss={args.loss} batches={k} epoch_s={seconds:.4f} "
          f"batches_per_s={k / seconds:.2f} final_loss={final_loss:.4f} peak_rss_mb={peak:.1f}")


if __name__ == "__main__":
    main()
