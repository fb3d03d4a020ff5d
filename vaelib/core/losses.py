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


LOG_2PI = 1.8378770664093453     # log(2 pi)


def one_sample_loss(logits, x, z, mu, logvar, beta: float = 1.0):
    """(total, recon, kl) as the authors of Burda et al. (2015) train a VAE: minus the log-weight
    log p(x|z) + log p(z) - log q(z|x) at the drawn z, the KL term estimated by that one sample, not in
    closed form; each averaged over the batch of images."""
    n = x.shape[0]
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / n
    log_q = -0.5 * ((z - mu).pow(2) / logvar.exp() + logvar + LOG_2PI).sum() / n
    log_p = -0.5 * (z.pow(2) + LOG_2PI).sum() / n
    kl = log_q - log_p
    return recon + beta * kl, recon, kl
