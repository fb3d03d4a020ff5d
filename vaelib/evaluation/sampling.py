"""Pictures drawn from a trained model: samples from the prior and latent interpolations.

Each picture is made from its images (`prior_images`, `interpolation_images`), so that what the report
says of a figure (evaluation.reading) is computed on the very images the figure shows.
"""

from __future__ import annotations

import torch

from ..core.models import VAE

# The test images the interpolations join (indices into the test set): start -> end, one row each.
INTERPOLATION_PAIRS = ((0, 11), (1, 7), (2, 18), (3, 9), (4, 13))
PRIOR_SAMPLES = 32
STEPS = 10


@torch.inference_mode()
def prior_images(model: VAE, n: int = PRIOR_SAMPLES, seed: int = 0) -> torch.Tensor:
    """n images (pixel probabilities) decoded from z ~ N(0, I) drawn with `seed`."""
    z = torch.randn(n, model.latent_dim, generator=torch.Generator().manual_seed(seed))
    return torch.sigmoid(model.decode(z))


def prior_samples(model: VAE, n: int = PRIOR_SAMPLES, seed: int = 0) -> torch.Tensor:
    """prior_images as one grid (8 per row)."""
    from torchvision.utils import make_grid      # here: torchvision takes 1.3 s to import, and a step needs none
    return make_grid(prior_images(model, n, seed), nrow=8, padding=1, pad_value=1.0)


@torch.inference_mode()
def interpolation_images(model: VAE, starts: torch.Tensor, ends: torch.Tensor, steps: int = STEPS) -> torch.Tensor:
    """[pairs, steps, 1, 28, 28]: decoded points on the straight line between the two posterior means."""
    mu_a, _ = model.encode(starts)
    mu_b, _ = model.encode(ends)
    t = torch.linspace(0, 1, steps).view(1, steps, 1)
    z = (1 - t) * mu_a.unsqueeze(1) + t * mu_b.unsqueeze(1)                     # [pairs, steps, d]
    return torch.sigmoid(model.decode(z.flatten(0, 1))).unflatten(0, (len(starts), steps))


def interpolations(model: VAE, starts: torch.Tensor, ends: torch.Tensor, steps: int = STEPS) -> torch.Tensor:
    """interpolation_images as one grid, one row per pair."""
    from torchvision.utils import make_grid
    return make_grid(interpolation_images(model, starts, ends, steps).flatten(0, 1), nrow=steps, padding=1,
                     pad_value=1.0)


def interpolation_ends(x_test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The start and end images of INTERPOLATION_PAIRS."""
    starts, ends = zip(*INTERPOLATION_PAIRS)
    return x_test[list(starts)], x_test[list(ends)]
