"""One training step's forward and backward: autograd's for every model, the lean one (training.lean) where
it is written (the literature reference). Either is called on a batch, returns the batch's (loss, recon,
kl) per image, and leaves the gradient of the protocol's objective in the `.grad` of `parameters()`,
which is what the optimizer steps."""

from __future__ import annotations

import torch

from ..config.protocols import PROTOCOLS
from ..config.run import RunConfig
from ..core.losses import one_sample_loss, vae_loss
from ..core.models import VAE
from . import lean


class AutogradStep:
    """The model's forward, the protocol's loss, and autograd's backward."""

    def __init__(self, model: VAE, config: RunConfig):
        self.model, self.beta = model, config.beta
        self.protocol = PROTOCOLS[config.protocol]

    def parameters(self):
        return self.model.parameters()

    def __call__(self, xb: torch.Tensor, noise_gen: torch.Generator | None = None) -> torch.Tensor:
        model = self.model
        if self.protocol.kl == "closed form":
            logits, mu, logvar = model(xb, generator=noise_gen)
            loss, recon, kl = vae_loss(logits, xb, mu, logvar, self.beta)
        else:                                           # the same draws as model(...), z kept for log q(z|x)
            mu, logvar = model.encode(xb)
            z = model.reparameterize(mu, logvar, noise_gen)
            loss, recon, kl = one_sample_loss(model.decode(z), xb, z, mu, logvar, self.beta)
        model.zero_grad(set_to_none=True)
        scale = float(len(xb)) if self.protocol.loss_over_batch == "sum" else 1.0
        (loss * scale if scale != 1.0 else loss).backward()
        return torch.stack((loss, recon, kl)).detach()


def make_step(model: VAE, config: RunConfig):
    """The lean step where it applies (its parameters become views of one flat vector), else autograd's."""
    protocol = PROTOCOLS[config.protocol]
    return lean.LeanStep(model, protocol, config.beta) if lean.applies(model, protocol) else AutogradStep(model, config)
