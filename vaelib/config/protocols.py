"""Training protocols: every setting of how a model is trained that is not its architecture or data,
named, with its value. "plain" is the sweep's (torch's fused Adam, mean loss, shuffled batches, the
closed-form KL, one learning rate); "burda" is what the authors' code of Burda et al. (2015) does
(github yburda/iwae: experiments.py, optimizers.py, datasets.py, iwae.py), which produced its Table 1.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Protocol:
    optimizer: str                  # "adam": torch.optim.Adam (fused); "burda-adam": training.optim.BurdaAdam
    beta1: float
    beta2: float
    epsilon: float                  # added to sqrt(v) ("burda-adam") or as torch's eps ("adam")
    second_moment_start: float      # v at step 0 (torch: 0; the authors: 1, so the first steps are small)
    update_moments: str             # "current": this step's (torch); "previous": the authors' simultaneous update
    loss_over_batch: str            # "mean" (per image) or "sum" (over the batch: the gradient's scale)
    kl: str                         # "closed form" or "one sample" (log q(z|x) - log p(z) at the drawn z)
    batches: str                    # "shuffled" every epoch, or "in order" (the same minibatches every epoch)
    lr_schedule: str                # "constant" or "burda stages": 8 stages, 3^(i-1) epochs at lr * r_i

    def rows(self) -> list[tuple[str, object]]:
        return [(f.name, getattr(self, f.name)) for f in fields(self)]


PROTOCOLS = {
    "plain": Protocol("adam", 0.9, 0.999, 1e-8, 0.0, "current", "mean", "closed form", "shuffled", "constant"),
    "burda": Protocol("burda-adam", 0.99, 0.999, 1e-4, 1.0, "previous", "sum", "one sample", "in order",
                      "burda stages"),
}
# The authors' stages: stage i = 1..8 trains 3^(i-1) epochs at 1e-4 * round(10^(1 - (i-1)/7), 1), i.e. the
# first rate (1e-3) times these factors; 3,280 epochs in all.
STAGE_EPOCHS = tuple(3 ** i for i in range(8))
STAGE_FACTORS = tuple(round(10 ** (1 - i / 7), 1) / 10 for i in range(8))
STAGE_ENDS = tuple(sum(STAGE_EPOCHS[:i + 1]) for i in range(8))       # 1, 4, 13, 40, 121, 364, 1093, 3280


def stage_of(epoch: int) -> int:
    """The stage (1..8) that epoch `epoch` (1-based) belongs to; 8 beyond the last."""
    return next((i + 1 for i, end in enumerate(STAGE_ENDS) if epoch <= end), len(STAGE_ENDS))


def learning_rate(protocol: Protocol, lr: float, epoch: int) -> float:
    """The learning rate of epoch `epoch`: `lr` throughout, or `lr` times the stage's factor."""
    return lr if protocol.lr_schedule == "constant" else lr * STAGE_FACTORS[stage_of(epoch) - 1]
