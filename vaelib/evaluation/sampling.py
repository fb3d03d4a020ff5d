"""Pictures drawn from a trained model: samples from the prior and latent interpolations."""

from __future__ import annotations

import torch
from torchvision.utils import make_grid

from ..core.models import VAE


@torch.inference_mode()
def prior_samples(model: VAE, n: int = 32, seed: int = 0) -> torch.Tensor:
    """n images decoded from z ~ N(0, I), as one grid (8 per row)."""
    z = torch.randn(n, model.latent_dim, generator=torch.Generator().manual_seed(seed))
    return make_grid(torch.sigmoid(model.decode(z)), nrow=8, padding=1, pad_value=1.0)


@torch.inference_mode()
def interpolations(model: VAE, starts: torch.Tensor, ends: torch.Tensor, steps: int = 10) -> torch.Tensor:
    """One row per pair: decoded points on the straight line between the two posterior means."""
    mu_a, _ = model.encode(starts)
    mu_b, _ = model.encode(ends)
    t = torch.linspace(0, 1, steps).view(1, steps, 1)
    z = (1 - t) * mu_a.unsqueeze(1) + t * mu_b.unsqueeze(1)                     # [pairs, steps, d]
    images = torch.sigmoid(model.decode(z.flatten(0, 1)))
    return make_grid(images, nrow=steps, padding=1, pad_value=1.0)
