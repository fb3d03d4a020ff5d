"""The sweep's training, read top to bottom: one step and one epoch of the plain protocol.

A step is what every VAE tutorial writes: encode the batch to (mu, logvar), draw z = mu + eps * exp(logvar / 2)
(the reparameterization, inside `model(x)`), decode z to one logit per pixel, take the loss (summed pixel BCE
plus the closed-form KL to N(0, I), per image: core.losses.vae_loss), backpropagate, let Adam update the
weights. An epoch is one pass over the training images in shuffled batches. The engine (training.engine)
runs epochs with evaluation, grids and checkpoints; it calls this protocol and the reference run's through
training.protocols.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from ..core.losses import vae_loss
from ..core.models import VAE
from ..infra.faults import StepFailed


class DivergenceError(StepFailed, FloatingPointError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def train_step(model: VAE, optimizer: torch.optim.Optimizer, x: torch.Tensor, beta: float = 1.0,
               noise: torch.Generator | None = None, check: bool = True) -> torch.Tensor:
    """One update on the batch `x`; its (loss, recon, kl), each the mean per image. With `check` (train_epoch
    turns it off on a GPU, where it would make the host wait every step), a diverged step raises before it
    reaches the weights."""
    logits, mu, logvar = model(x, generator=noise)        # z = mu + eps * exp(logvar / 2), decoded
    loss, recon, kl = vae_loss(logits, x, mu, logvar, beta)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if check and not torch.isfinite(loss):
        raise DivergenceError(f"loss is {loss.item()}")
    optimizer.step()
    return torch.stack((loss, recon, kl)).detach()


def check_every(device: torch.device) -> int:
    """How many batches between two looks at the losses: every batch on the CPU, where a look is free (each
    step's own loss, before its update); every 100 on a GPU, where a look makes the host wait for the queued
    work (`python -m benchmarks.gpu --waits`): the running sums, after the updates."""
    return 1 if device.type == "cpu" else 100


def check_sums(sums: torch.Tensor, epoch: int, batch: int, batches: int, every: int) -> None:
    """Where steps are not checked one by one (every > 1): after every `every`-th batch and the last, raise
    when the running loss sums are no longer finite (a NaN or an infinity stays in a sum), naming the batches
    since the last look. The run then stops before its next checkpoint."""
    if every == 1 or (batch % every and batch != batches) or torch.isfinite(sums).all():
        return
    first = batch - (batch - 1) % every
    where = f"batch {batch}" if first == batch else f"batches {first}-{batch}"
    raise DivergenceError(f"loss is not finite at epoch {epoch}, {where}")


def train_epoch(model: VAE, optimizer: torch.optim.Optimizer, x: torch.Tensor, batch_size: int, beta: float,
                generators: dict, epoch: int, each_batch=lambda: None, progress: bool = False) -> dict:
    """One pass over `x` in shuffled batches (generators["perm"] orders them, generators["noise"] draws eps);
    the running mean losses per image. `each_batch` runs before every batch (the engine shares the CPU
    threads there)."""
    model.train()
    order = torch.randperm(len(x), generator=generators["perm"]).to(x.device)
    sums = torch.zeros(3, device=x.device)
    batches, every = order.split(batch_size), check_every(x.device)
    bar = tqdm(batches, desc=f"epoch {epoch}", disable=not progress, leave=False, mininterval=0.5)
    for batch, idx in enumerate(bar, start=1):
        each_batch()
        xb = x[idx]
        try:
            losses = train_step(model, optimizer, xb, beta, generators["noise"], check=every == 1)
        except DivergenceError as e:
            raise DivergenceError(f"{e} at epoch {epoch}, batch {batch}") from None
        sums += losses * len(xb)
        check_sums(sums, epoch, batch, len(batches), every)
    loss, recon, kl = (sums / len(x)).tolist()
    return {"loss": loss, "recon": recon, "kl": kl}
