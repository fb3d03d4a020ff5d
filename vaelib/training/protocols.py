"""How a run is trained, beside its architecture and data: its protocol, one object per name a RunConfig
carries (`config.protocol`), which the engine (training.engine) calls the same way for each:

- `start(model, lr, beta)`: a fresh run's optimizer and step;
- `epoch(...)`: one pass over the training images;
- `learning_rate(lr, epoch)`: the rate of an epoch.

What describes a protocol (the rows of the report's protocol table, results/reference.json's
"protocol_settings") is its `description`: data, which no code branches on (the optimizers take their numbers
from it, so that the table says what runs).

"plain" is the sweep's: training.plain's step and epoch, the ones every VAE tutorial writes. "burda" is the
reference run's (`make reference`): what the authors' code of Burda et al. (2015) does (github yburda/iwae:
experiments.py, optimizers.py, datasets.py, iwae.py), which produced its Table 1. That name is stored in every
run's config.json (checkpoints/reference's too), so it stays: "burda" names the authors' own things (their
model core.models.BurdaVAE, their Adam, their protocol), "reference" our run of them (vaelib.reference,
config.reference, results/reference.json).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from ..config.reference import STAGE_FACTORS, stage_of
from ..core.losses import one_sample_loss
from ..core.models import VAE
from ..data import datasets as data
from . import lean, plain
from .plain import DivergenceError, check_every, check_sums


@dataclass(frozen=True)
class Description:
    """A protocol setting by setting, in the order of the report's table (`dataclasses.asdict` gives its rows;
    the values say what the protocol's methods do)."""
    optimizer: str                  # "adam": torch.optim.Adam (fused); "burda-adam": BurdaAdam below
    beta1: float
    beta2: float
    epsilon: float                  # added to sqrt(v) ("burda-adam") or as torch's eps ("adam")
    second_moment_start: float      # v at step 0 (torch: 0; the authors: 1, so the first steps are small)
    update_moments: str             # "current": this step's (torch); "previous": the authors' simultaneous update
    loss_over_batch: str            # "mean" (per image) or "sum" (over the batch: the gradient's scale)
    kl: str                         # "closed form" or "one sample" (log q(z|x) - log p(z) at the drawn z)
    batches: str                    # "shuffled" every epoch, or "in order" (the same minibatches every epoch)
    lr_schedule: str                # "constant" or "burda stages": 8 stages, 3^(i-1) epochs at lr * r_i


class Plain:
    """The sweep's protocol: training.plain's shuffled epoch and its step (mean loss per image, closed-form
    KL), torch's fused Adam, one learning rate throughout."""
    name = "plain"
    description = Description("adam", 0.9, 0.999, 1e-8, 0.0, "current", "mean", "closed form", "shuffled",
                              "constant")

    def optimizer(self, params, lr: float) -> torch.optim.Optimizer:
        d = self.description
        return torch.optim.Adam(params, lr=lr, betas=(d.beta1, d.beta2), eps=d.epsilon, fused=True)

    def start(self, model: VAE, lr: float, beta: float):
        """Adam over the model's parameters, and no step object: the epoch calls training.plain.train_step."""
        return self.optimizer(model.parameters(), lr), None

    def epoch(self, model: VAE, optimizer, step, x: torch.Tensor, batch_size: int, beta: float, generators: dict,
              epoch: int, each_batch=lambda: None, progress: bool = False) -> dict:
        return plain.train_epoch(model, optimizer, x, batch_size, beta, generators, epoch, each_batch, progress)

    def learning_rate(self, lr: float, epoch: int) -> float:
        return lr


class Reference:
    """The authors' protocol, what the reference run trains by. What differs from the plain one: the
    one-sample objective (the pixel BCE plus log q(z|x) - log p(z) at the drawn z, core.losses.one_sample_loss)
    summed over the batch, the same minibatches in order every epoch, each batch a fresh Bernoulli draw of its
    grey levels (dynamic binarization), the authors' Adam (BurdaAdam), for their model the lean step
    (training.lean, autograd's gradient over buffers made once), and the rate falling by the authors' stages
    (config.reference.STAGE_FACTORS)."""
    name = "burda"
    description = Description("burda-adam", 0.99, 0.999, 1e-4, 1.0, "previous", "sum", "one sample", "in order",
                              "burda stages")

    def optimizer(self, params, lr: float) -> torch.optim.Optimizer:
        d = self.description
        return BurdaAdam(params, lr=lr, betas=(d.beta1, d.beta2), eps=d.epsilon, v0=d.second_moment_start)

    def step(self, model: VAE, beta: float = 1.0):
        """The lean step where it is written (the model's parameters become views of one flat vector), else
        autograd's; either one's parameters() is what the optimizer steps."""
        return lean.LeanStep(model, beta) if lean.applies(model) else OneSampleStep(model, beta)

    def start(self, model: VAE, lr: float, beta: float):
        step = self.step(model, beta)       # before the optimizer: the lean step re-lays the parameters
        return self.optimizer(step.parameters(), lr), step

    def epoch(self, model: VAE, optimizer, step, x: torch.Tensor, batch_size: int, beta: float, generators: dict,
              epoch: int, each_batch=lambda: None, progress: bool = False) -> dict:
        """One pass over the grey levels `x` in the same minibatches every epoch, each binarized afresh
        (generators["binarize"]; a dataset already binary stays as it is); the running mean losses per image.
        `beta` is the step's own."""
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

    def learning_rate(self, lr: float, epoch: int) -> float:
        """`lr` times the factor of the authors' stage that `epoch` (1-based) falls in."""
        return lr * STAGE_FACTORS[stage_of(epoch) - 1]


PROTOCOLS = {p.name: p for p in (Plain(), Reference())}     # config.run.PROTOCOL_NAMES lists these names


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


class BurdaAdam(torch.optim.Optimizer):
    """Adam of github yburda/iwae, optimizers.py, which torch's Adam cannot express: the second moments start
    at `v0` (1 there, not 0), the step uses the moments and the timestep of the *previous* step (Theano's
    simultaneous updates: the first step moves nothing), epsilon is added to sqrt(v), and the step size is
    lr * sqrt(1 - beta2^t) / (1 - beta1^t) with t starting at 1.

    A batch of 20 makes a step cheap and the per-call overhead dear, so the work is done by torch's
    fused Adam kernel (one pass over each parameter, without torch.optim.Adam's wrapper), fed one step late:
    the authors' step t moves the parameters by the moments that hold the gradients up to t-1, which is what
    torch's Adam does when step t hands it gradient t-1 (and an epsilon of eps / sqrt(1 - beta2^t), as torch
    divides sqrt(v) by that before adding it). The optimizer takes each gradient (.grad is None after a step)
    and keeps it as `pending` until the next.
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.99, 0.999), eps: float = 1e-4, v0: float = 1.0):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "v0": v0})
        if len(self.param_groups) != 1:
            raise ValueError("BurdaAdam takes one parameter group")
        self._t = None      # state["step"], mirrored on the host after its first read: no wait on a GPU per step

    def load_state_dict(self, state_dict) -> None:
        super().load_state_dict(state_dict)
        self._t = None
        for p, state in self.state.items():            # the fused kernel wants its step beside the parameter
            state["step"] = state["step"].to(p.device, torch.float32)

    @torch.no_grad()
    def step(self, closure=None):
        group = self.param_groups[0]
        params = [p for p in group["params"] if p.grad is not None]
        if not params:
            return None
        for p in params:
            if not self.state[p]:                       # step 1 moves nothing (the moments are the initial ones)
                self.state[p].update(step=torch.tensor(1.0, device=p.device), exp_avg=torch.zeros_like(p),
                                     exp_avg_sq=torch.full_like(p, group["v0"]))
        late = [p for p in params if "pending" in self.state[p]]
        if late:
            beta1, beta2 = group["betas"]
            states = [self.state[p] for p in late]
            if self._t is None:
                self._t = states[0]["step"].item()
            # float32's steps count exactly up to 2^24, 6,700 reference epochs: the host's count is the same
            t = self._t = self._t + 1
            # what torch.optim.Adam(fused=True) runs for tensors of one device and dtype, without its wrapper
            # and its per-step grouping (torch.optim.adam._fused_adam): the steps counted, then one kernel
            steps = [s["step"] for s in states]
            torch._foreach_add_(steps, 1)
            torch._fused_adam_(late, [s.pop("pending") for s in states], [s["exp_avg"] for s in states],
                               [s["exp_avg_sq"] for s in states], [], steps, amsgrad=False, lr=group["lr"],
                               beta1=beta1, beta2=beta2, weight_decay=0.0,
                               eps=group["eps"] / math.sqrt(1 - beta2 ** t), maximize=False)
        for p in params:
            self.state[p]["pending"], p.grad = p.grad, None
        return None
