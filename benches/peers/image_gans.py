"""PyTorch peers of socgan's image GAN workloads, written as PyTorch's `examples/dcgan` trains:
- `dcgan-step`: one DCGAN training step at 64x64 (3 channels, batch 64, ngf = ndf = 64): a
  discriminator update on a real and a generated batch, then a generator update on the same
  generated batch; BCE on logits, Adam(2e-4, betas (0.5, 0.999));
- `mlp-gan-epoch`: one epoch of the MLP GAN over 10,000 28x28 images (batch 64, 156 steps):
  G 100 -> 128 -> 128 -> 784 (ReLU, sigmoid), D 784 -> 128 -> 128 -> 1 (LeakyReLU 0.2).
Data are uniform random images (speed does not depend on them).
Usage: image_gans.py WORKLOAD [THREADS] [REPEATS]"""
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn

from peer_device import synchronize, use_device

NZ, NGF, NDF, NC, BATCH = 100, 64, 64, 3, 64


class DcganGenerator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(NZ, NGF * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(NGF * 8), nn.ReLU(True),
            nn.ConvTranspose2d(NGF * 8, NGF * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(NGF * 4), nn.ReLU(True),
            nn.ConvTranspose2d(NGF * 4, NGF * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(NGF * 2), nn.ReLU(True),
            nn.ConvTranspose2d(NGF * 2, NGF, 4, 2, 1, bias=False), nn.BatchNorm2d(NGF), nn.ReLU(True),
            nn.ConvTranspose2d(NGF, NC, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, z):
        return self.main(z)


class DcganDiscriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(NC, NDF, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF, NDF * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(NDF * 2), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF * 2, NDF * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(NDF * 4), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF * 4, NDF * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(NDF * 8), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF * 8, 1, 4, 1, 0, bias=False))

    def forward(self, x):
        return self.main(x).view(-1)


def weights_init(m):
    if "Conv" in m.__class__.__name__:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif "BatchNorm" in m.__class__.__name__:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


def gan_step(netG, netD, optG, optD, real, noise_shape):
    """examples/dcgan's iteration: D on real and detached fake, then G on the same fake."""
    bce = nn.BCEWithLogitsLoss()
    ones, zeros = torch.ones(real.size(0)), torch.zeros(real.size(0))
    netD.zero_grad()
    bce(netD(real), ones).backward()
    fake = netG(torch.randn(*noise_shape))
    bce(netD(fake.detach()), zeros).backward()
    optD.step()
    netG.zero_grad()
    bce(netD(fake), ones).backward()
    optG.step()


def adam(model):
    return torch.optim.Adam(model.parameters(), lr=2e-4, betas=(0.5, 0.999))


def dcgan_step():
    netG, netD = DcganGenerator(), DcganDiscriminator()
    netG.apply(weights_init)
    netD.apply(weights_init)
    optG, optD = adam(netG), adam(netD)
    real = torch.rand(BATCH, NC, 64, 64) * 2 - 1
    return lambda: gan_step(netG, netD, optG, optD, real, (BATCH, NZ, 1, 1))


def mlp_gan_epoch():
    netG = nn.Sequential(nn.Linear(NZ, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 784), nn.Sigmoid())
    netD = nn.Sequential(nn.Linear(784, 128), nn.LeakyReLU(0.2), nn.Linear(128, 128), nn.LeakyReLU(0.2), nn.Linear(128, 1), nn.Flatten(0))
    optG, optD = adam(netG), adam(netD)
    data = torch.rand(10_000, 784)

    def epoch():
        order = torch.randperm(data.size(0))
        for b in range(data.size(0) // BATCH):
            real = data[order[b * BATCH:(b + 1) * BATCH]]
            gan_step(netG, netD, optG, optD, real, (BATCH, NZ))
    return epoch


def main():
    workload = sys.argv[1]
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    torch.set_num_threads(threads)
    use_device()
    torch.manual_seed(0)
    work = {"dcgan-step": dcgan_step, "mlp-gan-epoch": mlp_gan_epoch}[workload]()
    work()  # warm-up
    synchronize()
    times = []
    for _ in range(repeats):
        t = time.time()
        work()
        synchronize()
        times.append(time.time() - t)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"torch workload={workload} threads={threads} seconds={statistics.median(times):.4f} peak_rss_mb={peak:.1f}")


if __name__ == "__main__":
    main()
