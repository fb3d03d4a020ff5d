"""What the digit classifier reads in the report's pictures: every cell of a decoded latent grid, every
prior sample, every step of an interpolation, so that a sentence about a figure is computed, not typed.

An image counts as a digit when the classifier's top class has probability >= CONFIDENT; otherwise it
is "unclear" (a proxy: the classifier was trained on real digits only, and a confident reading of a
shapeless image is possible, if rare).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..core.models import VAE
from . import latent, sampling
from .classifier import predict_proba

CONFIDENT = 0.9


def read(clf, images: torch.Tensor) -> pd.DataFrame:
    """digit (argmax) and probability per image, and whether it is a confident reading."""
    probs = predict_proba(clf, images.reshape(-1, 1, 28, 28))
    best = probs.max(1)
    return pd.DataFrame({"digit": best.indices.numpy(), "probability": best.values.numpy(),
                         "confident": (best.values >= CONFIDENT).numpy()})


@torch.inference_mode()
def read_grid(model: VAE, clf, values) -> pd.DataFrame:
    """Every cell of latent.decode_grid(model, values): its (z1, z2), row and column as drawn, and reading."""
    z = latent.grid_codes(model.latent_dim, values)
    row, column = divmod(np.arange(len(z)), len(values))
    cells = pd.DataFrame({"row": row, "column": column, "z1": z[:, 0].numpy(), "z2": z[:, 1].numpy()})
    return pd.concat([cells, read(clf, torch.sigmoid(model.decode(z.float())))], axis=1)


def read_prior(model: VAE, clf, n: int = sampling.PRIOR_SAMPLES, seed: int = 0) -> pd.DataFrame:
    """Every sample of sampling.prior_samples(model, n, seed), in the order drawn."""
    return read(clf, sampling.prior_images(model, n, seed)).rename_axis("sample").reset_index()


def read_interpolations(model: VAE, clf, x_test: torch.Tensor, y_test: torch.Tensor) -> pd.DataFrame:
    """Every step of every path of sampling.interpolations (sampling.INTERPOLATION_PAIRS), with the true
    digits of its two ends."""
    starts, ends = sampling.interpolation_ends(x_test)
    images = sampling.interpolation_images(model, starts, ends)
    reading = read(clf, images)
    pairs, steps = images.shape[:2]
    pair = np.repeat(np.arange(pairs), steps)           # every path's steps, path after path
    first, last = (y_test[list(images_at)].numpy()[pair] for images_at in zip(*sampling.INTERPOLATION_PAIRS))
    return reading.assign(pair=pair, step=np.tile(np.arange(steps), pairs), start_digit=first, end_digit=last)
