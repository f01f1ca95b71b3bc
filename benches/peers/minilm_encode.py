"""Sentence embeddings of real tweets with sentence-transformers/all-MiniLM-L6-v2, as
`SentenceTransformer.encode` computes them on CPU: WordPiece tokenisation (lowercased, accents
stripped, truncated at 256 tokens), texts sorted by character length (longest first) and cut
into batches of 32, each padded to its longest text; the 6-layer BERT (hidden 384) under
inference mode, mean pooling over the attention mask, L2 normalisation. This is the workload of
socgan's candle MiniLM encoder: the same model files, the same texts (the first M lines of a
tweeteval file, only the newline stripped), the same batch size. One untimed warm-up encode of
the first 64 texts, then one timed encode of all M.
Usage: minilm_encode.py --threads N --model-dir DIR --texts FILE [--limit M] [--batch-size 32]"""
import argparse
import resource
import time

import torch
from sentence_transformers import SentenceTransformer


def read_texts(path, limit):
    texts = []
    with open(path, encoding="utf-8", newline="") as f:
        for line in f:
            if len(texts) == limit:
                break
            texts.append(line[:-1] if line.endswith("\n") else line)
    return texts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--texts", required=True)
    ap.add_argument("--limit", type=int, default=1024)
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)

    model = SentenceTransformer(args.model_dir, device="cpu")
    texts = read_texts(args.texts, args.limit)
    model.encode(texts[:64], batch_size=args.batch_size, show_progress_bar=False)

    t = time.perf_counter()
    model.encode(texts, batch_size=args.batch_size, show_progress_bar=False)
    seconds = time.perf_counter() - t

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"torch threads={args.threads} tweets={len(texts)} encode_s={seconds:.4f} "
          f"tweets_per_s={len(texts) / seconds:.1f} peak_rss_mb={peak:.1f}")


if __name__ == "__main__":
    main()
