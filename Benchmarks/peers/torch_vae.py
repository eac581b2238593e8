"""The PyTorch-examples VAE training step in PyTorch (eager, fused Adam), for a side-by-side with Variational's VAE
benchmark and with jax_vae.py.

784-400-20-400-784, ReLU, Bernoulli likelihood from logits, analytic Gaussian KL, Adam (lr 1e-3, fused), batch 128,
float32, 2 threads; the same data shape and step as Benchmarks/Sources/VariationalBenchmarks/VAEStepBenchmark.swift.
Prints the median step time over repeated blocks of steps. With --epoch, also the time of one epoch of 60,000
images (469 steps of 128, the last one short) on random binary images, data already in memory.
"""
import sys
import time

import torch
import torch.nn.functional as F

BATCH, STEPS, REPEATS = 128, 20, 15
torch.set_num_threads(2)


class VAE(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = torch.nn.Linear(784, 400)
        self.mu = torch.nn.Linear(400, 20)
        self.logvar = torch.nn.Linear(400, 20)
        self.dec = torch.nn.Linear(20, 400)
        self.out = torch.nn.Linear(400, 784)

    def forward(self, x):
        h = F.relu(self.enc(x))
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        logits = self.out(F.relu(self.dec(z)))
        reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kl = 0.5 * torch.sum(mu.pow(2) + logvar.exp() - logvar - 1)
        return (reconstruction + kl) / x.shape[0]


def step(model, optimizer, x):
    optimizer.zero_grad(set_to_none=True)
    loss = model(x)
    loss.backward()
    optimizer.step()
    return loss


def main():
    torch.manual_seed(2)
    model = VAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    x = (torch.rand(BATCH, 784) < 0.2).float()
    for _ in range(STEPS):
        step(model, optimizer, x)
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(STEPS):
            step(model, optimizer, x)
        times.append((time.perf_counter() - start) / STEPS)
    times.sort()
    print(f"PyTorch {torch.__version__} VAE step (eager, fused Adam, {torch.get_num_threads()} threads), batch {BATCH}: "
          f"{times[len(times) // 2] * 1e3:.3f} ms")
    if "--epoch" in sys.argv:
        images = (torch.rand(60_000, 784) < 0.2).float()
        start = time.perf_counter()
        order = torch.randperm(images.shape[0])
        for first in range(0, images.shape[0], BATCH):
            step(model, optimizer, images[order[first:first + BATCH]])
        print(f"PyTorch epoch of 60000 images, batch {BATCH}: {time.perf_counter() - start:.3f} s")


if __name__ == "__main__":
    main()
