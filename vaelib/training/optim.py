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
    lr * sqrt(1 - beta2^t) / (1 - beta1^t) with t starting at 1. The whole group in a few _foreach calls."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.99, 0.999), eps: float = 1e-4, v0: float = 1.0):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "v0": v0})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            for p in params:
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(1.0)
                    state["m"] = torch.zeros_like(p)
                    state["v"] = torch.full_like(p, group["v0"])
                    state["denominator"] = torch.empty_like(p)
            states = [self.state[p] for p in params]
            beta1, beta2 = group["betas"]
            t = states[0]["step"].item()
            alpha = group["lr"] * math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
            m, v, grads = [s["m"] for s in states], [s["v"] for s in states], [p.grad for p in params]
            denominator = [s["denominator"] for s in states]      # kept: no new tensor (and page faults) per step
            torch._foreach_copy_(denominator, v)
            torch._foreach_sqrt_(denominator)
            torch._foreach_add_(denominator, group["eps"])
            torch._foreach_addcdiv_(params, m, denominator, value=-alpha)        # the previous moments
            torch._foreach_lerp_(m, grads, 1 - beta1)                            # beta1 m + (1 - beta1) g
            torch._foreach_mul_(v, beta2)
            torch._foreach_addcmul_(v, grads, grads, value=1 - beta2)
            for s in states:
                s["step"] += 1
        return None


def make_optimizer(model, lr: float, protocol: Protocol) -> torch.optim.Optimizer:
    if protocol.optimizer == "burda-adam":
        return BurdaAdam(model.parameters(), lr=lr, betas=(protocol.beta1, protocol.beta2), eps=protocol.epsilon,
                         v0=protocol.second_moment_start)
    # torch's Adam with its fused kernel: one pass over the parameters per step
    return torch.optim.Adam(model.parameters(), lr=lr, betas=(protocol.beta1, protocol.beta2),
                            eps=protocol.epsilon, fused=True)
