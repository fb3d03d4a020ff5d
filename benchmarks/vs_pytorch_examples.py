"""vaelib's engine against a loop in the style of pytorch/examples `vae/main.py`.

Both train the same 784-400-20 VAE (batch 128, Adam lr 1e-3, summed BCE + KL) on the full MNIST
training set, on the same machine, epochs interleaved (pytorch/examples, vaelib, pytorch/examples, ...):

  (a) pytorch/examples: datasets.MNIST(transform=ToTensor()) through DataLoader(shuffle=True), a plain loop
      with a sigmoid decoder and F.binary_cross_entropy, as that example does (written here from its
      description, no code copied);
  (b) vaelib: the whole split as one in-memory tensor, batches drawn by index, vaelib.training.engine's epoch.

    python -m benchmarks.vs_pytorch_examples --epochs 3

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from vaelib.data import datasets as data
from vaelib.config import RunConfig
from vaelib.core.models import LinearVAE
from vaelib.core.bounds import mean_loss
from vaelib.training import plain
from vaelib.training.protocols import PROTOCOLS


class ExamplesVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def forward(self, x):
        h = F.relu(self.fc1(x.view(-1, 784)))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar


def examples_loss_fn(recon, x, mu, logvar):
    bce = F.binary_cross_entropy(recon, x.view(-1, 784), reduction="sum")
    return bce - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


def examples_epoch(model, optimizer, loader):
    model.train()
    for x, _ in loader:
        optimizer.zero_grad()
        recon, mu, logvar = model(x)
        loss = examples_loss_fn(recon, x, mu, logvar)
        loss.backward()
        optimizer.step()


@torch.no_grad()
def examples_test(model, loader):
    model.eval()
    total = 0.0
    for x, _ in loader:
        recon, mu, logvar = model(x)
        total += examples_loss_fn(recon, x, mu, logvar).item()
    return total / len(loader.dataset)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads for both (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    data.verify("mnist")
    root = data.DATA_DIR
    train_set = datasets.MNIST(root, train=True, download=False, transform=transforms.ToTensor())
    test_set = datasets.MNIST(root, train=False, download=False, transform=transforms.ToTensor())
    loader = DataLoader(train_set, batch_size=128, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=128, shuffle=False)

    x_train, _ = data.load("mnist", train=True)
    x_test, _ = data.load("mnist", train=False)
    config = RunConfig(arch="linear", latent_dim=20, epochs=args.epochs, batch_size=128, lr=1e-3)

    torch.manual_seed(0)
    examples_model = ExamplesVAE()
    examples_opt = torch.optim.Adam(examples_model.parameters(), lr=1e-3)
    torch.manual_seed(0)
    ours = LinearVAE(20, hidden=400)
    ours_opt = PROTOCOLS["plain"].optimizer(ours.parameters(), 1e-3)
    perm_gen, noise_gen = torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)
    assert sum(p.numel() for p in examples_model.parameters()) == sum(p.numel() for p in ours.parameters())

    print(f"784-400-20 VAE, batch 128, {torch.get_num_threads()} torch thread(s), {args.epochs} epochs each")
    # warm up both paths (allocator, thread pool, kernels) on throwaway models, untimed
    warm_examples, warm_ours = ExamplesVAE(), LinearVAE(20, hidden=400)
    examples_epoch(warm_examples, torch.optim.Adam(warm_examples.parameters()), [next(iter(loader))] * 20)
    plain.train_epoch(warm_ours, PROTOCOLS["plain"].optimizer(warm_ours.parameters(), 1e-3),
                      x_train[:2560], config.batch_size, config.beta,
                      {"perm": torch.Generator(), "noise": torch.Generator()}, 0)

    # an epoch is what the example's loop does per epoch: train, then evaluate the test set
    examples_train, examples_total, our_train, our_total = [], [], [], []
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        examples_epoch(examples_model, examples_opt, loader)
        examples_train.append(time.perf_counter() - start)
        examples_loss = examples_test(examples_model, test_loader)
        examples_total.append(time.perf_counter() - start)
        start = time.perf_counter()
        plain.train_epoch(ours, ours_opt, x_train, config.batch_size, config.beta,
                          {"perm": perm_gen, "noise": noise_gen}, epoch)
        our_train.append(time.perf_counter() - start)
        our_loss = mean_loss(ours, x_test)["loss"]
        our_total.append(time.perf_counter() - start)
        print(f"epoch {epoch}: pytorch/examples {examples_total[-1]:.2f}s (train {examples_train[-1]:.2f}s)  "
              f"vaelib {our_total[-1]:.2f}s (train {our_train[-1]:.2f}s)  "
              f"ratio {examples_total[-1] / our_total[-1]:.2f}x (train only {examples_train[-1] / our_train[-1]:.2f}x)", flush=True)

    mean = lambda values: round(sum(values) / len(values), 3)  # noqa: E731
    result = {"epochs": args.epochs, "threads": torch.get_num_threads(),
              "examples_s_per_epoch": mean(examples_total), "vaelib_s_per_epoch": mean(our_total),
              "speedup": round(sum(examples_total) / sum(our_total), 2),
              "examples_train_s_per_epoch": mean(examples_train), "vaelib_train_s_per_epoch": mean(our_train),
              "train_only_speedup": round(sum(examples_train) / sum(our_train), 2),
              "examples_test_loss": round(examples_loss, 3), "vaelib_test_loss": round(our_loss, 3)}
    print(f"test loss after {args.epochs} epochs (nats per image): pytorch/examples {examples_loss:.2f}, vaelib {our_loss:.2f}")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
