"""The IWAE estimator against an exact log-likelihood: a 1-D latent model integrated on a fine grid.

With d = 1 and a linear decoder, log p(x) = log of the integral over z of p(x|z) N(z; 0, 1) can be
computed to high accuracy by quadrature. vaelib's iwae_bound (the one the report uses) must rise with K
towards that value and stay below it (up to Monte-Carlo noise): this checks the estimator, the
proposal density and the prior terms, not just that the numbers look plausible.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from vaelib.core.iwae import iwae_bound
from vaelib.core.models import VAE

REPEATS = 100


class OneDimVAE(VAE):
    """d = 1: a fixed Gaussian proposal N(m, s^2) (the encoder ignores x) and a linear decoder."""

    def __init__(self, decoder: nn.Linear, m: float, s: float):
        super().__init__(latent_dim=1)
        linear = nn.Linear(784, 2)
        nn.init.zeros_(linear.weight)
        linear.bias.data = torch.tensor([m, 2 * math.log(s)])
        self.encoder = nn.Sequential(nn.Flatten(), linear)
        self.decoder = nn.Sequential(decoder)


def exact_log_px(decoder: nn.Linear, x: torch.Tensor, lo=-12.0, hi=12.0, n=20_001) -> tuple[float, float, float]:
    """log p(x) by the trapezoid rule in log space; also the posterior's mean and std on the grid."""
    z = torch.linspace(lo, hi, n, dtype=torch.float64)
    logits = z[:, None] * decoder.weight.double().T + decoder.bias.double()          # [n, 784]
    log_px_z = -F.binary_cross_entropy_with_logits(logits, x.double().flatten().expand(n, -1), reduction="none").sum(1)
    log_joint = log_px_z - 0.5 * (z ** 2 + math.log(2 * math.pi))
    weights = torch.full((n,), (hi - lo) / (n - 1), dtype=torch.float64)
    weights[[0, -1]] /= 2
    log_px = torch.logsumexp(log_joint + weights.log(), 0).item()
    post = torch.softmax(log_joint, 0)
    mean = (post * z).sum().item()
    return log_px, mean, math.sqrt((post * (z - mean) ** 2).sum().item())


def test_the_iwae_bound_rises_to_the_exact_log_likelihood(mnist_slice):
    torch.manual_seed(0)
    decoder = nn.Linear(1, 784)
    nn.init.normal_(decoder.weight, std=0.05)
    nn.init.normal_(decoder.bias, std=1.0)
    rows = []
    for x in mnist_slice[2][:2]:                                  # two real test digits
        exact, mean, std = exact_log_px(decoder, x)
        assert 0.01 < std < 2, "the posterior should be neither a spike nor the prior"
        model = OneDimVAE(decoder, m=mean + 1.0 * std, s=1.5 * std)    # a deliberately imperfect proposal
        copies = x.expand(REPEATS, *x.shape)                      # independent estimates, averaged
        bounds = {k: iwae_bound(model, copies, k=k, seed=1).mean().item() for k in (1, 10, 100, 1000, 5000)}
        rows.append((exact, bounds))
        print(f"exact log p(x) {exact:.4f}; IWAE bound " + ", ".join(f"K={k}: {b:.4f}" for k, b in bounds.items()))
        values = list(bounds.values())
        assert all(a < b + 0.01 for a, b in zip(values, values[1:])), bounds     # rises with K (up to noise)
        assert bounds[5000] <= exact + 0.005, (bounds, exact)                   # a lower bound (up to noise)
        assert exact - bounds[5000] < 0.01, (bounds, exact)                     # and it gets there
        assert exact - bounds[1] > 10 * (exact - bounds[5000]), (bounds, exact)  # K matters
