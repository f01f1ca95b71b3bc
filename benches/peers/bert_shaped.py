"""A MiniLM-shaped BERT with random weights, for the GPU check, where the real all-MiniLM-L6-v2
files cannot travel: the same shape (vocabulary 30,522, 6 layers, hidden 384, 12 heads,
feed-forward 1,536, mean pooling, L2 normalisation), so encoding it costs what encoding MiniLM
costs.

  bert_shaped.py make DIR [--texts N]
      writes DIR/config.json, DIR/tokenizer.json (word-level: every word of the texts is one
      token), DIR/model.safetensors (normal(0, 0.02) weights, seed 0) and DIR/texts.txt (N posts
      of 8 to 40 words), the directory socgan's encoder loads (`SOCGAN_MINILM=DIR`).
  bert_shaped.py encode --model-dir DIR --texts FILE [--limit M] [--batch-size 32] [--threads N]
      the PyTorch peer: the same model in plain PyTorch (scaled_dot_product_attention, as
      transformers' BERT runs by default), batched as SentenceTransformer.encode batches (longest
      text first, batches of 32, each padded to its longest) on $PEER_DEVICE; one untimed
      warm-up encode of the first 64 texts, then one timed encode of all M. Prints
      `torch encode_s=... texts=M peak_rss_mb=...`; with --vectors FILE also writes the vectors
      (float32, row-major) so that socgan's can be compared with them.
"""
import argparse
import json
import os
import resource
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F

from peer_device import DEVICE, synchronize, use_device

VOCAB, HIDDEN, LAYERS, HEADS, FFN, POSITIONS = 30522, 384, 6, 12, 1536, 512
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
CLS, SEP = 2, 3


def words():
    return SPECIAL + [f"w{i}" for i in range(len(SPECIAL), VOCAB)]


def shapes():
    """Tensor names and shapes as BERT checkpoints (and candle-transformers) name them."""
    out = {
        "embeddings.word_embeddings.weight": (VOCAB, HIDDEN),
        "embeddings.position_embeddings.weight": (POSITIONS, HIDDEN),
        "embeddings.token_type_embeddings.weight": (2, HIDDEN),
        "embeddings.LayerNorm.weight": (HIDDEN,),
        "embeddings.LayerNorm.bias": (HIDDEN,),
    }
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        for name, (rows, cols) in {
            "attention.self.query": (HIDDEN, HIDDEN),
            "attention.self.key": (HIDDEN, HIDDEN),
            "attention.self.value": (HIDDEN, HIDDEN),
            "attention.output.dense": (HIDDEN, HIDDEN),
            "intermediate.dense": (FFN, HIDDEN),
            "output.dense": (HIDDEN, FFN),
        }.items():
            out[p + name + ".weight"] = (rows, cols)
            out[p + name + ".bias"] = (rows,)
        for norm in ["attention.output.LayerNorm", "output.LayerNorm"]:
            out[p + norm + ".weight"] = (HIDDEN,)
            out[p + norm + ".bias"] = (HIDDEN,)
    return out


def write_safetensors(path, tensors):
    header, offset = {}, 0
    for name, array in tensors.items():
        header[name] = {"dtype": "F32", "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for array in tensors.values():
            f.write(np.ascontiguousarray(array, dtype="<f4").tobytes())


def read_safetensors(path):
    with open(path, "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(size))
        data = f.read()
    return {name: np.frombuffer(data[m["data_offsets"][0]:m["data_offsets"][1]], dtype="<f4")
            .reshape(m["shape"]) for name, m in header.items() if name != "__metadata__"}


def make(directory, texts):
    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(0)
    tensors = {}
    for name, shape in shapes().items():
        if "LayerNorm.weight" in name:
            tensors[name] = np.ones(shape, dtype=np.float32)
        elif "LayerNorm.bias" in name or name.endswith(".bias"):
            tensors[name] = np.zeros(shape, dtype=np.float32)
        else:
            tensors[name] = rng.normal(0.0, 0.02, shape).astype(np.float32)
    write_safetensors(os.path.join(directory, "model.safetensors"), tensors)
    config = {"vocab_size": VOCAB, "hidden_size": HIDDEN, "num_hidden_layers": LAYERS,
              "num_attention_heads": HEADS, "intermediate_size": FFN, "hidden_act": "gelu",
              "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
              "max_position_embeddings": POSITIONS, "type_vocab_size": 2,
              "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0,
              "model_type": "bert"}
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f)
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
        "normalizer": None, "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", SEP], "cls": ["[CLS]", CLS]},
        "decoder": None,
        "model": {"type": "WordLevel", "vocab": {w: i for i, w in enumerate(words())},
                  "unk_token": "[UNK]"},
    }
    with open(os.path.join(directory, "tokenizer.json"), "w") as f:
        json.dump(tokenizer, f)
    vocab = words()
    with open(os.path.join(directory, "texts.txt"), "w") as f:
        for _ in range(texts):
            n = int(rng.integers(8, 41))
            ids = rng.integers(len(SPECIAL), VOCAB, n)
            f.write(" ".join(vocab[i] for i in ids) + "\n")


class Bert:
    def __init__(self, weights):
        self.w = {k: torch.tensor(v) for k, v in weights.items()}

    def linear(self, x, name):
        return F.linear(x, self.w[name + ".weight"], self.w[name + ".bias"])

    def norm(self, x, name):
        return F.layer_norm(x, (HIDDEN,), self.w[name + ".weight"], self.w[name + ".bias"], 1e-12)

    def __call__(self, ids, mask):
        b, t = ids.shape
        x = (self.w["embeddings.word_embeddings.weight"][ids]
             + self.w["embeddings.position_embeddings.weight"][:t]
             + self.w["embeddings.token_type_embeddings.weight"][0])
        x = self.norm(x, "embeddings.LayerNorm")
        keep = mask.bool()[:, None, None, :]
        for i in range(LAYERS):
            p = f"encoder.layer.{i}."
            heads = [self.linear(x, p + f"attention.self.{n}").view(b, t, HEADS, -1).transpose(1, 2)
                     for n in ("query", "key", "value")]
            context = F.scaled_dot_product_attention(*heads, attn_mask=keep)
            context = context.transpose(1, 2).reshape(b, t, HIDDEN)
            x = self.norm(x + self.linear(context, p + "attention.output.dense"),
                          p + "attention.output.LayerNorm")
            inner = F.gelu(self.linear(x, p + "intermediate.dense"))
            x = self.norm(x + self.linear(inner, p + "output.dense"), p + "output.LayerNorm")
        m = mask.unsqueeze(-1).to(x.dtype)
        pooled = (x * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return F.normalize(pooled, p=2, dim=1)


def encode(model, vocab, texts, batch_size):
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    out = [None] * len(texts)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            rows = [[CLS] + [vocab.get(w, 1) for w in texts[i].split()][:254] + [SEP] for i in chunk]
            longest = max(len(r) for r in rows)
            ids = torch.tensor([r + [0] * (longest - len(r)) for r in rows])
            mask = torch.tensor([[1] * len(r) + [0] * (longest - len(r)) for r in rows])
            vectors = model(ids, mask)
            for row, i in enumerate(chunk):
                out[i] = vectors[row]
    return torch.stack(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["make", "encode"])
    ap.add_argument("directory", nargs="?")
    ap.add_argument("--texts")
    ap.add_argument("--model-dir")
    ap.add_argument("--limit", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--vectors")
    args = ap.parse_args()
    if args.command == "make":
        make(args.directory, int(args.texts or 512))
        return
    torch.set_num_threads(args.threads)
    use_device()
    model = Bert(read_safetensors(os.path.join(args.model_dir, "model.safetensors")))
    vocab = {w: i for i, w in enumerate(words())}
    with open(args.texts, encoding="utf-8") as f:
        texts = [line.rstrip("\n") for line in f][:args.limit]
    encode(model, vocab, texts[:64], args.batch_size)
    synchronize()
    start = time.perf_counter()
    vectors = encode(model, vocab, texts, args.batch_size)
    synchronize()
    seconds = time.perf_counter() - start
    if args.vectors:
        vectors.cpu().numpy().astype("<f4").tofile(args.vectors)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"torch device={DEVICE} encode_s={seconds:.4f} texts={len(texts)} peak_rss_mb={peak:.1f}")


if __name__ == "__main__":
    main()
