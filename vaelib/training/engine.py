"""The training engine: a run's epochs, by its protocol (training.protocols), on in-memory data, with
per-epoch evaluation, grids and atomic checkpoints.

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

from ..config.run import RunConfig
from ..core.bounds import mean_loss
from ..core.models import VAE, build_model, load_model, save_weights
from ..data import datasets as data
from ..infra import locks
from ..infra.cpushare import CpuShare
from ..infra.devices import resolve_device
from . import checkpoint, runs
from .plain import DivergenceError
from .protocols import PROTOCOLS

logger = logging.getLogger(__name__)

N_GRID = 16          # fixed images shown in each reconstruction grid (two rows of 8)
# The version of the numbers this engine trains (every protocol's step, the models, the data order, the
# per-epoch test ELBO): bump it in the commit that changes any of them, and re-record the golden numbers
# (python -m tests.test_golden --write). A run is reused only by the version that made it.
TRAINING_VERSION = 1


@dataclass
class Run:
    folder: Path
    config: RunConfig
    history: pd.DataFrame
    model: VAE


def train_epoch(model: VAE, optimizer, step, x: torch.Tensor, config: RunConfig, generators: dict, epoch: int,
                progress: bool = False, each_batch=lambda: None) -> dict:
    """One epoch of the run's protocol (training.protocols) with its optimizer and `step`; the running mean
    losses per image."""
    return PROTOCOLS[config.protocol].epoch(model, optimizer, step, x, config.batch_size, config.beta, generators,
                                            epoch, each_batch, progress)


def save_recon_grid(model: VAE, images: torch.Tensor, path: Path) -> None:
    """Originals above, their reconstructions (decoded posterior means) below."""
    recon = model.reconstruct(images)
    save_grid(torch.cat([images, recon]).cpu(), path, nrow=8, padding=2)


def save_grid(images: torch.Tensor, path: Path, nrow: int, padding: int) -> None:
    """torchvision.utils.save_image's picture of grey images (rows of `nrow`, `padding` black pixels around each,
    an RGB PNG), pixel for pixel (tests/test_engine.py), without importing torchvision: 1.3 s of every step's
    start-up."""
    from PIL import Image
    n, _, h, w = images.shape
    grid = torch.zeros((n + nrow - 1) // nrow * (h + padding) + padding, min(n, nrow) * (w + padding) + padding)
    for i, image in enumerate(images):
        top, left = padding + i // nrow * (h + padding), padding + i % nrow * (w + padding)
        grid[top:top + h, left:left + w] = image[0]
    pixels = grid.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8).numpy()
    Image.fromarray(pixels).convert("RGB").save(path)


def train(config: RunConfig, runs_dir: Path | str = runs.RUNS_DIR, force: bool = False,
          progress: bool = True, keep_stale: bool = False, snapshot_epochs=(), extend: bool = False) -> Run:
    """Train `config` in its run folder, resuming or reusing what is already there.

    The weights after each of `snapshot_epochs` are kept as weights_epoch<N>.pt (for curves by epoch).
    """
    if not isinstance(config, RunConfig):
        config = RunConfig.from_params(**config)
    data.verify(config.dataset)  # fail on bad data before any folder is created
    with locks.exclusive(Path(runs_dir) / config.name):   # one writer per run folder
        folder, state = runs.prepare(config, TRAINING_VERSION, runs_dir, force, keep_stale, extend)
        if state == "finished":
            same = "made by other training code (kept: keep_stale=True)" if runs.is_stale(folder, TRAINING_VERSION) \
                else "of the same config and training version"
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
    model, optimizer, generators, step = start(config, x_train, device)
    history = (checkpoint.restore(folder, model, optimizer, generators) if state == "resume" else None) or []
    if history:
        logger.info(f"{folder}: resuming after epoch {len(history)} of {config.epochs}")
    runs.write_status(folder, "running")
    for epoch in range(len(history) + 1, config.epochs + 1):
        for group in optimizer.param_groups:            # the protocol's rate for this epoch (its stage)
            group["lr"] = PROTOCOLS[config.protocol].learning_rate(config.lr, epoch)
        history.append(_epoch(model, optimizer, step, generators, x_train, x_test, config, folder, epoch,
                              history, share, progress))
        if epoch in snapshot_epochs:     # before the checkpoint: a resumed run never lacks a snapshot
            save_weights(model, config.arch, folder / f"weights_epoch{epoch}.pt")
        checkpoint.save(folder, epoch, model, optimizer, generators, history)
        runs.atomic_write_text(folder / "history.csv", pd.DataFrame(history).to_csv(index=False))
        if progress:
            logger.info(_epoch_line(config, history[-1]))
    save_weights(model, config.arch, folder / "weights.pt")
    runs.write_provenance(folder, TRAINING_VERSION, device=device, **share.record())
    runs.write_status(folder, "finished")
    return Run(folder, config, pd.DataFrame(history), model.eval())


def start(config: RunConfig, x_train: torch.Tensor, device: torch.device):
    """The seeded initial model (RunConfig.weights_seed), its optimizer, the random generators (batch order, noise, and for a
    binarized dataset the binarization) and the protocol's step (None for the plain protocol, whose epoch
    calls training.plain.train_step); the caller's random state is left untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.weights_seed)
        model = build_model(config.arch, config.latent_dim).to(device)
    model.init_from_data(x_train)
    # every draw from a CPU generator, moved where it is used: the same streams, and the same checkpoint,
    # on any device, so that a run resumes anywhere
    generators = {"perm": torch.Generator().manual_seed(config.seed),
                  "noise": torch.Generator().manual_seed(config.seed + 1)}
    if data.DATASETS[config.dataset].binarized:
        generators["binarize"] = torch.Generator().manual_seed(config.seed + 2)
    optimizer, step = PROTOCOLS[config.protocol].start(model, config.lr, config.beta)
    return model, optimizer, generators, step


def _epoch(model, optimizer, step, generators: dict, x_train, x_test, config: RunConfig, folder: Path, epoch: int,
           history: list, share: CpuShare, progress: bool) -> dict:
    """Train one epoch, then evaluate on the test set and draw the two grids: the epoch's history row."""
    start = time.perf_counter()
    try:
        train_metrics = train_epoch(model, optimizer, step, x_train, config, generators, epoch, progress,
                                    share.adjust)
    except DivergenceError as e:
        runs.write_status(folder, "failed", error=str(e), last_good_epoch=len(history))
        raise DivergenceError(f"{folder}: training diverged: {e}. The checkpoint of the last good "
                              f"epoch ({len(history)}) is kept; the run is marked failed.") from None
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    test_metrics = mean_loss(model, x_test, config.beta, seed=config.seed)
    save_recon_grid(model, x_test[:N_GRID], folder / f"test_{epoch}.png")
    save_recon_grid(model, x_train[:N_GRID], folder / f"train_{epoch}.png")
    return {"epoch": epoch, **{f"train_{k}": v for k, v in train_metrics.items()},
            **{f"test_{k}": v for k, v in test_metrics.items()},
            "seconds": seconds, "eval_seconds": time.perf_counter() - start}


def _epoch_line(config: RunConfig, row: dict) -> str:
    return (f"{config.name} epoch {row['epoch']}/{config.epochs}: train {row['train_loss']:.1f} "
            f"test {row['test_loss']:.1f} (recon {row['test_recon']:.1f}, KL {row['test_kl']:.1f}) "
            f"in {row['seconds']:.1f}s")
