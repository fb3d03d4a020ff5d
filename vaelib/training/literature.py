"""The literature protocol: how the authors' code of Burda et al. (2015) trains (config.protocols "burda"),
beside the plain one (training.plain) and plugged into the same engine.

What differs from the plain step and epoch: the one-sample objective (the pixel BCE plus log q(z|x) - log p(z)
at the drawn z, core.losses.one_sample_loss) summed over the batch, the same minibatches in order every
epoch, each batch a fresh Bernoulli draw of its grey levels (dynamic binarization), the authors' Adam
(training.optim.BurdaAdam), and for their model the lean step (training.lean), which computes autograd's
gradient over buffers made once.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from ..config.protocols import Protocol
from ..core.losses import one_sample_loss
from ..core.models import VAE
from ..data import datasets as data
from . import lean
from .plain import DivergenceError, check_every, check_sums


class OneSampleStep:
    """Autograd's step under the one-sample objective (any model): call it on a batch; it leaves the
    gradient of the objective summed over the batch in the model's `.grad` and returns the batch's
    (loss, recon, kl) per image."""

    def __init__(self, model: VAE, beta: float = 1.0):
        self.model, self.beta = model, beta

    def parameters(self):
        return self.model.parameters()

    def __call__(self, xb: torch.Tensor, noise_gen: torch.Generator | None = None) -> torch.Tensor:
        model = self.model
        mu, logvar = model.encode(xb)                      # the draws of model(...), z kept for log q(z|x)
        z = model.reparameterize(mu, logvar, noise_gen)
        loss, recon, kl = one_sample_loss(model.decode(z), xb, z, mu, logvar, self.beta)
        model.zero_grad(set_to_none=True)
        (loss * float(len(xb))).backward()                 # summed over the batch: the authors' gradient scale
        return torch.stack((loss, recon, kl)).detach()


def make_step(model: VAE, protocol: Protocol, beta: float = 1.0):
    """The lean step where it is written (the model's parameters become views of one flat vector), else
    autograd's; either one's parameters() is what the optimizer steps."""
    return lean.LeanStep(model, protocol, beta) if lean.applies(model, protocol) else OneSampleStep(model, beta)


def train_epoch(model: VAE, optimizer: torch.optim.Optimizer, step, x: torch.Tensor, batch_size: int, generators: dict,
                epoch: int, each_batch=lambda: None, progress: bool = False) -> dict:
    """One pass over the grey levels `x` in the same minibatches every epoch, each binarized afresh
    (generators["binarize"]; a dataset already binary stays as it is); the running mean losses per image."""
    model.train()
    sums = torch.zeros(3, device=x.device)
    batches = [slice(i, i + batch_size) for i in range(0, len(x), batch_size)]     # views, no copy
    binarize, every = generators.get("binarize"), check_every(x.device)
    for batch, idx in enumerate(tqdm(batches, desc=f"epoch {epoch}", disable=not progress, leave=False,
                                     mininterval=0.5), start=1):
        each_batch()
        xb = x[idx] if binarize is None else data.binarize(x[idx], binarize)
        losses = step(xb, generators["noise"])
        if every == 1 and not torch.isfinite(losses[0]):    # before the diverged step's update
            raise DivergenceError(f"loss is {losses[0].item()} at epoch {epoch}, batch {batch}")
        sums += losses * len(xb)
        check_sums(sums, epoch, batch, len(batches), every)
        optimizer.step()
    loss, recon, kl = (sums / len(x)).tolist()
    return {"loss": loss, "recon": recon, "kl": kl}
