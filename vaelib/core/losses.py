"""The negative ELBO of a Bernoulli-decoder VAE, split into its two parts (nats per image)."""

import torch
import torch.nn.functional as F


def vae_loss(logits, x, mu, logvar, beta: float = 1.0):
    """(total, recon, kl), each averaged over the batch of images.

    recon: binary cross-entropy with logits, summed over the 784 pixels.
    kl: KL(N(mu, diag(exp(logvar))) || N(0, I)) in closed form, summed over latent dimensions.
    """
    n = x.shape[0]
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / n
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / n
    return recon + beta * kl, recon, kl
