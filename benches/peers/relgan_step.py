"""One RelGAN adversarial step as TextGAN-PyTorch's RelGANInstructor makes it: 5 discriminator
steps then one generator step, batch 64, RSGAN loss, Gumbel-softmax samples at temperature
beta, Adam lr 1e-4, gradient clipping 5; the generator RelGAN_G with an LSTM (lstm, the default)
or its relational memory (rmc). Usage: relgan_step.py [THREADS] [REPEATS] [lstm|rmc]"""
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from textgan_models import timed, B, L, N, V, RelGAN_D, RelGANLSTMGenerator, RelGANRMCGenerator, optimize, report, threads_from_argv

D_STEPS = 5


def main():
    threads, repeats = threads_from_argv()
    rmc = len(sys.argv) > 3 and sys.argv[3] == "rmc"
    gen, dis = (RelGANRMCGenerator() if rmc else RelGANLSTMGenerator()), RelGAN_D()
    g_opt = torch.optim.Adam(gen.parameters(), lr=1e-4)
    d_opt = torch.optim.Adam(dis.parameters(), lr=1e-4)
    data = torch.randint(0, V, (N, L))
    bce = nn.BCEWithLogitsLoss()

    def step(temperature):
        for _ in range(D_STEPS):
            real = F.one_hot(data[torch.randint(0, N, (B,))], V).float()
            with torch.no_grad():
                fake = gen.sample_soft(B, temperature)
            d_real, d_fake = dis(real), dis(fake)
            optimize(d_opt, bce(d_real - d_fake, torch.ones_like(d_real)), dis)
        real = F.one_hot(data[torch.randint(0, N, (B,))], V).float()
        fake = gen.sample_soft(B, temperature)
        d_real, d_fake = dis(real), dis(fake)
        optimize(g_opt, bce(d_fake - d_real, torch.ones_like(d_fake)), gen)

    # Step i of RelGAN's 3000-step temperature schedule (step 0 is the warm-up).
    report("relgan-rmc-step" if rmc else "relgan-step", threads, timed(lambda i: step(100.0 ** (i / 3000)), repeats))


if __name__ == "__main__":
    main()
