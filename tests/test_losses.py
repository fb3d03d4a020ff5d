import math

import torch

from vaelib.core.losses import vae_loss


def test_loss_matches_hand_computation():
    # one image of two "pixels" would not have the 28x28 shape; the loss only sums, so any shape works
    logits = torch.tensor([[0.0, 2.0], [-1.0, 0.5]])
    x = torch.tensor([[1.0, 0.0], [0.25, 1.0]])
    mu = torch.tensor([[1.0], [0.0]])
    logvar = torch.tensor([[0.0], [math.log(2.0)]])

    def bce(l, t):
        p = 1 / (1 + math.exp(-l))
        return -(t * math.log(p) + (1 - t) * math.log(1 - p))

    recon_by_hand = (bce(0.0, 1.0) + bce(2.0, 0.0) + bce(-1.0, 0.25) + bce(0.5, 1.0)) / 2
    # KL per image: 0.5 * (mu^2 + sigma^2 - 1 - log sigma^2)
    kl_by_hand = (0.5 * (1 + 1 - 1 - 0) + 0.5 * (0 + 2 - 1 - math.log(2.0))) / 2
    total, recon, kl = vae_loss(logits, x, mu, logvar)
    assert math.isclose(recon.item(), recon_by_hand, rel_tol=1e-6)
    assert math.isclose(kl.item(), kl_by_hand, rel_tol=1e-6)
    assert math.isclose(total.item(), recon_by_hand + kl_by_hand, rel_tol=1e-6)
    total_beta, _, _ = vae_loss(logits, x, mu, logvar, beta=0.5)
    assert math.isclose(total_beta.item(), recon_by_hand + 0.5 * kl_by_hand, rel_tol=1e-6)


def test_kl_is_zero_at_the_prior():
    mu = torch.zeros(5, 3)
    logvar = torch.zeros(5, 3)
    _, _, kl = vae_loss(torch.zeros(5, 784), torch.rand(5, 784), mu, logvar)
    assert kl.item() == 0.0


def test_recon_is_summed_over_pixels_per_image():
    x = torch.full((4, 1, 28, 28), 0.0)
    _, recon, _ = vae_loss(torch.zeros_like(x), x, torch.zeros(4, 2), torch.zeros(4, 2))
    assert math.isclose(recon.item(), 784 * math.log(2), rel_tol=1e-6)
