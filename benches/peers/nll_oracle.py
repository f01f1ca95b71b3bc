"""NLL_oracle of 10,000 sequences as TextGAN-PyTorch's NLL metric computes it: the oracle LSTM
scores batches of 64 under no_grad, mean cross-entropy. Usage: nll_oracle.py [THREADS] [REPEATS]"""
import torch
import torch.nn as nn

from textgan_models import timed, B, L, N, V, LSTMGenerator, report, threads_from_argv


def main():
    threads, repeats = threads_from_argv()
    oracle = LSTMGenerator()
    samples = torch.randint(0, V, (N, L))
    inputs = torch.cat([torch.zeros(N, 1, dtype=torch.long), samples[:, :-1]], 1)
    criterion = nn.NLLLoss()

    def nll():
        total = 0.0
        with torch.no_grad():
            for i in range(0, N, B):
                pred = oracle.forward(inputs[i:i + B])
                total += criterion(pred, samples[i:i + B].reshape(-1)).item()
        return total / ((N + B - 1) // B)

    report("nll-oracle-10k", threads, timed(lambda _: nll(), repeats))


if __name__ == "__main__":
    main()
