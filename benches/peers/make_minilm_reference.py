"""Writes crates/text-classifier/tests/fixtures/minilm_reference.json: all-MiniLM-L6-v2
embeddings of 48 real tweets from SentenceTransformer.encode (batch 32, CPU).

Usage: make_minilm_reference.py MODEL_DIR  (the unzipped all-MiniLM-L6-v2 files; needs
sentence-transformers in the peers venv). `cargo xtask check-minilm` compares socgan against the
file this writes."""
import hashlib, json, os, sys
import numpy as np, torch, transformers, sentence_transformers
from sentence_transformers import SentenceTransformer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
MODEL = sys.argv[1]
DATA = os.path.join(ROOT, "..", "shared", "data", "tweeteval")
OUT = os.path.join(ROOT, "crates", "text-classifier", "tests", "fixtures", "minilm_reference.json")
torch.set_num_threads(2)

def lines(rel):
    with open(os.path.join(DATA, rel), encoding="utf-8", newline="") as f:
        for i, raw in enumerate(f, 1):
            yield i, (raw[:-1] if raw.endswith("\n") else raw)

picked = [("sentiment/test_text.txt", i, t) for i, t in lines("sentiment/test_text.txt") if i <= 32]
emo = [("emotion/test_text.txt", i, t) for i, t in lines("emotion/test_text.txt") if any(ord(c) > 127 for c in t)]
picked += emo[:16]
assert len(picked) == 48
texts = [t for _, _, t in picked]

m = SentenceTransformer(MODEL, device="cpu")
assert m.max_seq_length == 256
emb = m.encode(texts, batch_size=32, convert_to_numpy=True, normalize_embeddings=False)
norms = np.linalg.norm(emb, axis=1)
print("norms min/max", norms.min(), norms.max())
single = np.stack([m.encode([t], batch_size=1, convert_to_numpy=True, normalize_embeddings=False)[0] for t in texts])
print("batch vs one-at-a-time max abs diff", float(np.abs(single - emb).max()))
rounded = np.round(emb.astype(np.float64), 7)
print("rounding max abs err", float(np.abs(rounded - emb).max()))
ntok = [len(m.tokenizer(t)["input_ids"]) for t in texts]
print("token counts min/max", min(ntok), max(ntok))

sha = hashlib.sha256(open(os.path.join(MODEL, "model.safetensors"), "rb").read()).hexdigest()
doc = {
    "model": "sentence-transformers/all-MiniLM-L6-v2",
    "model_safetensors_sha256": sha,
    "produced_by": f"sentence-transformers {sentence_transformers.__version__}, transformers {transformers.__version__}, "
                   f"torch {torch.__version__}, SentenceTransformer.encode batch_size 32, CPU",
    "max_seq_length": m.max_seq_length,
    "items": [{"file": f, "line": i, "text_sha256": hashlib.sha256(t.encode("utf-8")).hexdigest(),
               "embedding": [float(x) for x in r]} for (f, i, t), r in zip(picked, rounded)],
}
os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "w") as f:
    json.dump(doc, f, separators=(",", ":"))
    f.write("\n")
print("wrote", OUT, os.path.getsize(OUT), "bytes;", [(f, i) for f, i, _ in picked[32:]])
