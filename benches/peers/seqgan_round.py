"""One SeqGAN adversarial round as TextGAN-PyTorch's SeqGANInstructor makes it: one generator
step (64 samples, rewards from 16 Monte-Carlo rollouts per prefix scored by the CNN
discriminator, policy-gradient loss), then 15 discriminator minibatch steps (64 real, 64 fake).
Usage: seqgan_round.py [THREADS] [REPEATS]"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from textgan_models import timed, B, L, N, V, CNNDiscriminator, LSTMGenerator, optimize, report, threads_from_argv

ROLLOUTS, D_STEPS = 16, 15


def rollout_mc_search(gen, sentences, given_num):
    batch_size = sentences.size(0)
    out, hidden = gen.forward(sentences[:, :given_num], None, need_hidden=True)
    out = out.view(batch_size, -1, V)[:, -1]
    samples = torch.zeros(batch_size, L, dtype=torch.long)
    samples[:, :given_num] = sentences[:, :given_num]
    for i in range(given_num, L):
        out = torch.multinomial(torch.exp(out), 1)
        samples[:, i] = out.view(-1)
        out, hidden = gen.forward(out.view(-1, 1), hidden, need_hidden=True)
    return samples


def get_reward(gen, dis, sentences):
    with torch.no_grad():
        rewards = torch.zeros(ROLLOUTS * L, sentences.size(0))
        idx = 0
        for _ in range(ROLLOUTS):
            for given_num in range(1, L + 1):
                rewards[idx] = torch.sigmoid(dis(rollout_mc_search(gen, sentences, given_num)))
                idx += 1
        return rewards.view(ROLLOUTS, L, -1).mean(0).t()


def main():
    threads, repeats = threads_from_argv()
    gen, dis = LSTMGenerator(), CNNDiscriminator()
    g_opt = torch.optim.Adam(gen.parameters(), lr=0.01)
    d_opt = torch.optim.Adam(dis.parameters(), lr=1e-4)
    data = torch.randint(0, V, (N, L))
    bce = nn.BCEWithLogitsLoss()

    def round_():
        samples = gen.sample(B, B)
        rewards = get_reward(gen, dis, samples)
        inp = torch.cat([torch.zeros(B, 1, dtype=torch.long), samples[:, :-1]], 1)
        optimize(g_opt, gen.batchPGLoss(inp, samples, rewards), gen)
        for _ in range(D_STEPS):
            real = data[torch.randint(0, N, (B,))]
            fake = gen.sample(B, B)
            d_real, d_fake = dis(real), dis(fake)
            loss = bce(d_real, torch.ones_like(d_real)) + bce(d_fake, torch.zeros_like(d_fake))
            optimize(d_opt, loss, dis)

    report("seqgan-round", threads, timed(lambda _: round_(), repeats))


if __name__ == "__main__":
    main()
