"""One MLE epoch of RelGAN's relational-memory generator (RelGAN_G, model_type 'RMC': 1 slot,
2 heads of 256) as TextGAN-PyTorch pretrains it: 156 batches of 64 sequences of 20 tokens over a
5,000-word vocabulary, NLL loss, Adam 1e-2, gradient clipping 5.
Usage: rmc_mle_epoch.py [THREADS] [REPEATS]"""
import torch
import torch.nn as nn

from textgan_models import B, L, N, V, RelGANRMCGenerator, optimize, report, threads_from_argv, timed


def main():
    threads, repeats = threads_from_argv()
    gen = RelGANRMCGenerator()
    opt = torch.optim.Adam(gen.parameters(), lr=1e-2)
    data = torch.randint(0, V, (N, L))
    inp = torch.cat([torch.zeros(N, 1, dtype=torch.long), data[:, :-1]], 1)
    nll = nn.NLLLoss()

    def epoch(_):
        for i in range(0, N - B + 1, B):
            pred = gen(inp[i:i + B])
            optimize(opt, nll(pred, data[i:i + B].reshape(-1)), gen)

    report("rmc-mle-epoch", threads, timed(epoch, repeats))


if __name__ == "__main__":
    main()
