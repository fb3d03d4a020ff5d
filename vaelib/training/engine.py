"""The training engine: in-memory batches, per-epoch evaluation, grids and atomic checkpoints.

Every finished epoch is checkpointed (weights, optimizer, RNG states, history), so an interrupted
run resumes where it stopped and ends with the same history as an uninterrupted one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torchvision.utils import save_image
from tqdm.auto import tqdm

from ..config.run import RunConfig
from ..core.bounds import evaluate
from ..config.protocols import PROTOCOLS, learning_rate
from ..core.models import VAE, build_model, load_model, save_weights
from ..data import datasets as data
from ..infra import locks
from ..infra.faults import StepFailed
from ..infra.cpushare import CpuShare
from . import checkpoint, optim, runs
from .step import AutogradStep, make_step

logger = logging.getLogger(__name__)

N_GRID = 16          # fixed images shown in each reconstruction grid (two rows of 8)


class DivergenceError(StepFailed, FloatingPointError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class Run:
    folder: Path
    config: RunConfig
    history: pd.DataFrame
    model: VAE


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def train_epoch(model, optimizer, x, config: RunConfig, perm_gen, noise_gen, epoch: int, progress=True,
                each_batch=lambda: None, binarize_gen=None, step=None) -> dict:
    """One pass over `x` in in-memory batches (shuffled, or in order, as the protocol says); returns the
    running mean losses.

    `step` computes a batch's losses and gradients (training.step; autograd's over `model` by default,
    and then `optimizer` steps the model's parameters); `each_batch` runs before every batch (the trainer
    re-balances CPU threads there); with `binarize_gen` each batch is a fresh Bernoulli draw of its grey
    levels (dynamic binarization).
    """
    protocol = PROTOCOLS[config.protocol]
    step = step or AutogradStep(model, config)
    model.train()
    if protocol.batches == "shuffled":
        batches = torch.randperm(len(x), generator=perm_gen).to(x.device).split(config.batch_size)
    else:                                               # the same minibatches every epoch, as slices (no copy)
        batches = [slice(i, i + config.batch_size) for i in range(0, len(x), config.batch_size)]
    sums = torch.zeros(3, device=x.device)
    bar = tqdm(batches, desc=f"{config.name} epoch {epoch}/{config.epochs}", disable=not progress,
               leave=False, mininterval=0.5)
    for batch, idx in enumerate(bar, start=1):
        each_batch()
        xb = x[idx] if binarize_gen is None else data.binarize(x[idx], binarize_gen)
        losses = step(xb, noise_gen)
        if not torch.isfinite(losses[0]):
            raise DivergenceError(f"loss is {losses[0].item()} at epoch {epoch}, batch {batch}")
        optimizer.step()
        sums += losses * len(xb)
        if batch % 100 == 0:
            bar.set_postfix(loss=f"{sums[0].item() / (batch * config.batch_size):.1f}", refresh=False)
    loss, recon, kl = (sums / len(x)).tolist()
    return {"loss": loss, "recon": recon, "kl": kl}


def save_recon_grid(model: VAE, images: torch.Tensor, path: Path) -> None:
    """Originals above, their reconstructions (decoded posterior means) below."""
    recon = model.reconstruct(images)
    save_image(torch.cat([images, recon]).cpu(), path, nrow=8, padding=2)


def make_optimizer(model: VAE, lr: float, protocol: str = "plain") -> torch.optim.Optimizer:
    """The protocol's optimizer over the model's parameters (autograd's step; plain: torch's fused Adam)."""
    return optim.make_optimizer(model.parameters(), lr, PROTOCOLS[protocol])


def train(config: RunConfig, runs_dir: Path | str = runs.RUNS_DIR, force: bool = False,
          progress: bool = True, keep_stale: bool = False, snapshot_epochs=(), extend: bool = False) -> Run:
    """Train `config` in its run folder, resuming or reusing what is already there.

    The weights after each of `snapshot_epochs` are kept as weights_epoch<N>.pt (for curves by epoch).
    """
    if not isinstance(config, RunConfig):
        config = RunConfig.from_params(**config)
    data.verify(config.dataset)  # fail on bad data before any folder is created
    with locks.exclusive(Path(runs_dir) / config.name):   # one writer per run folder
        folder, state = runs.prepare(config, runs_dir, force, keep_stale, extend)
        if state == "finished":
            same = "made by other training code (kept: keep_stale=True)" if runs.is_stale(folder) \
                else "of the same config and code"
            logger.info(f"{folder}: finished run {same} found, reused (force=True retrains)")
            return Run(folder, config, runs.load_history(folder), load_model(folder))
        with CpuShare(config.num_threads, report=progress) as share:
            return _train(config, folder, state, share, progress, set(snapshot_epochs))


def _train(config: RunConfig, folder: Path, state: str, share: CpuShare, progress: bool,
           snapshot_epochs: set) -> Run:
    device = resolve_device(config.device)
    logger.info(f"{config.name}: {device}, {share.threads} thread(s) ({share.reason})")
    # A binarized dataset trains on grey levels binarized afresh at each draw (generators["binarize"]).
    x_train, _ = data.load(config.dataset, train=True, limit=config.train_limit, grey=True)
    x_test, _ = data.load(config.dataset, train=False, limit=config.test_limit)
    x_train, x_test = x_train.to(device), x_test.to(device)
    model, optimizer, generators, step = _start(config, x_train, device)
    history = (checkpoint.restore(folder, model, optimizer, generators) if state == "resume" else None) or []
    if history:
        logger.info(f"{folder}: resuming after epoch {len(history)} of {config.epochs}")
    runs.write_status(folder, "running")
    for epoch in range(len(history) + 1, config.epochs + 1):
        for group in optimizer.param_groups:            # the protocol's rate for this epoch (its stage)
            group["lr"] = learning_rate(PROTOCOLS[config.protocol], config.lr, epoch)
        history.append(_epoch(model, optimizer, step, generators, x_train, x_test, config, folder, epoch,
                              history, share, progress))
        if epoch in snapshot_epochs:     # before the checkpoint: a resumed run never lacks a snapshot
            save_weights(model, config.arch, folder / f"weights_epoch{epoch}.pt")
        checkpoint.save(folder, epoch, model, optimizer, generators, history)
        runs.atomic_write_text(folder / "history.csv", pd.DataFrame(history).to_csv(index=False))
        if progress:
            logger.info(_epoch_line(config, history[-1]))
    save_weights(model, config.arch, folder / "weights.pt")
    runs.write_provenance(folder, device=device, **share.record())
    runs.write_status(folder, "finished")
    return Run(folder, config, pd.DataFrame(history), model.eval())


def _start(config: RunConfig, x_train: torch.Tensor, device: torch.device):
    """The seeded initial model, its optimizer, the random generators of the batches, the noise and
    (binarized datasets) the binarization, and the training step; the caller's random state is left
    untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = build_model(config.arch, config.latent_dim).to(device)
    model.init_from_data(x_train)
    generators = {"perm": torch.Generator().manual_seed(config.seed),
                  "noise": torch.Generator(device=device).manual_seed(config.seed + 1)}
    if data.DATASETS[config.dataset].binarized:
        generators["binarize"] = torch.Generator(device=device).manual_seed(config.seed + 2)
    step = make_step(model, config)                     # before the optimizer: it may re-lay the parameters
    optimizer = optim.make_optimizer(step.parameters(), config.lr, PROTOCOLS[config.protocol])
    return model, optimizer, generators, step


def _epoch(model, optimizer, step, generators: dict, x_train, x_test, config: RunConfig, folder: Path, epoch: int,
           history: list, share: CpuShare, progress: bool) -> dict:
    """Train one epoch, then evaluate on the test set and draw the two grids: the epoch's history row."""
    start = time.perf_counter()
    try:
        train_metrics = train_epoch(model, optimizer, x_train, config, generators["perm"], generators["noise"],
                                    epoch, progress, share.adjust, generators.get("binarize"), step)
    except DivergenceError as e:
        runs.write_status(folder, "failed", error=str(e), last_good_epoch=len(history))
        raise DivergenceError(f"{folder}: training diverged: {e}. The checkpoint of the last good "
                              f"epoch ({len(history)}) is kept; the run is marked failed.") from None
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    test_metrics = evaluate(model, x_test, config.beta, seed=config.seed)
    save_recon_grid(model, x_test[:N_GRID], folder / f"test_{epoch}.png")
    save_recon_grid(model, x_train[:N_GRID], folder / f"train_{epoch}.png")
    return {"epoch": epoch, **{f"train_{k}": v for k, v in train_metrics.items()},
            **{f"test_{k}": v for k, v in test_metrics.items()},
            "seconds": seconds, "eval_seconds": time.perf_counter() - start}


def _epoch_line(config: RunConfig, row: dict) -> str:
    return (f"{config.name} epoch {row['epoch']}/{config.epochs}: train {row['train_loss']:.1f} "
            f"test {row['test_loss']:.1f} (recon {row['test_recon']:.1f}, KL {row['test_kl']:.1f}) "
            f"in {row['seconds']:.1f}s")
