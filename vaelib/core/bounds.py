"""The ELBO of a trained VAE over a dataset, as training reports it every epoch (the importance-weighted
bound is in core.iwae)."""

from __future__ import annotations

import torch

from .losses import vae_loss
from .models import VAE


EVAL_BATCH = 2500    # evaluation needs no gradients, so large batches are cheap


@torch.inference_mode()
def mean_loss(model: VAE, x: torch.Tensor, beta: float = 1.0, seed: int = 0,
              batch_size: int = EVAL_BATCH) -> dict:
    """Mean per-image loss, recon and KL over `x`, with a fixed noise seed for comparable epochs (drawn on
    the CPU, as every vaelib draw: the same noise on any device)."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    sums = torch.zeros(3, device=x.device)
    for xb in x.split(batch_size):
        logits, mu, logvar = model(xb, generator=gen)
        sums += torch.stack(vae_loss(logits, xb, mu, logvar, beta)) * len(xb)
    loss, recon, kl = (sums / len(x)).tolist()
    return {"loss": loss, "recon": recon, "kl": kl}
