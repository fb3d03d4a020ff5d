"""The optimizers a protocol names: torch's fused Adam, and Adam as the authors of Burda et al. (2015)
wrote it (their optimizers.py), which torch's Adam cannot express."""

from __future__ import annotations

import math

import torch

from ..config.protocols import Protocol


class BurdaAdam(torch.optim.Optimizer):
    """Adam of github yburda/iwae, optimizers.py: the second moments start at `v0` (1 there, not 0), the
    step uses the moments and the timestep of the *previous* step (Theano's simultaneous updates: the first
    step moves nothing), epsilon is added to sqrt(v), and the step size is
    lr * sqrt(1 - beta2^t) / (1 - beta1^t) with t starting at 1.

    A batch of 20 makes a step cheap and the per-call overhead dear, so the work is done by torch's
    fused Adam kernel (one pass over each parameter, without torch.optim.Adam's wrapper), fed one step late: the authors' step t moves the parameters by the
    moments that hold the gradients up to t-1, which is what torch's Adam does when step t hands it gradient
    t-1 (and an epsilon of eps / sqrt(1 - beta2^t), as torch divides sqrt(v) by that before adding it). The
    optimizer takes each gradient (.grad is None after a step) and keeps it as `pending` until the next.
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
            # float32's steps count exactly up to 2^24, 6,700 literature epochs: the host's count is the same
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


def make_optimizer(params, lr: float, protocol: Protocol) -> torch.optim.Optimizer:
    """The protocol's optimizer over `params` (a model's parameters, or the lean step's one flat vector)."""
    if protocol.optimizer == "burda-adam":
        return BurdaAdam(params, lr=lr, betas=(protocol.beta1, protocol.beta2), eps=protocol.epsilon,
                         v0=protocol.second_moment_start)
    # torch's Adam with its fused kernel: one pass over the parameters per step
    return torch.optim.Adam(params, lr=lr, betas=(protocol.beta1, protocol.beta2),
                            eps=protocol.epsilon, fused=True)
