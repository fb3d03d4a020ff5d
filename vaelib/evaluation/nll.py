"""The test NLL of a kept snapshot, estimated by the IWAE bound: one bound per test image, cached in the
run folder with the code that made it.

    python -m vaelib.evaluation.nll runs/mnist-binarized_burda_50_s0 --epoch 64 --k 5000 --images 0-500
"""

from __future__ import annotations

import logging
import argparse
import json
import sys
import time
from pathlib import Path

import torch

from ..core import iwae
from ..core.iwae import iwae_bound
from ..core.models import load_model
from ..data import datasets as data
from ..infra import locks, provenance
from ..infra.atomic import atomic_write_text
from ..infra.cpushare import CpuShare
from ..training import runs
from ..infra import logs
from ..config.run import RunConfig, check_device
from ..infra.faults import Refused, guard
from ..infra.devices import resolve_device

logger = logging.getLogger(__name__)


def estimate_nll(folder: Path | str, epoch: int, k: int, start: int, stop: int, num_threads: int = 0,
                    device: str = "cpu", split: str = "test", draw: int | None = None) -> dict:
    """The IWAE bound (K=k) of the weights after `epoch` on images [start, stop) of `split` ("test", or
    "train": its fixed binarization, for the overfitting check), one per image, cached in the run folder with
    the code that made it (recomputed when anything differs). With `draw` (a binarized dataset only), the
    split binarized afresh by draw number `draw` (images_of) and the estimator's own draws offset with it."""
    folder = Path(folder)
    cfg = runs.read_config(folder)
    if not runs.is_finished(folder):
        raise Refused(f"{folder} holds no finished run to evaluate")
    name = cache_name(epoch, k, start, stop, split, draw)
    settings = settings_of(epoch, k, start, stop, split, draw)
    run_code = (runs.read_provenance(folder) or {}).get("code")
    weights = runs.weights_of(folder, epoch, cfg.epochs)
    with locks.exclusive(folder / name):
        if (saved := cached(folder, epoch, k, start, stop, split, draw)) is not None:
            return saved
        device = resolve_device(device)
        model = load_model(weights, device=device)
        x_test = images_of(cfg, split, draw)[start:stop].to(device)
        begin = time.perf_counter()
        with CpuShare(num_threads) as share:
            bounds = iwae_bound(model, x_test, k=k, seed=settings["seed"], each_chunk=share.adjust)
            out = {"settings": settings, "bounds": bounds.cpu().tolist(), "seconds": time.perf_counter() - begin,
                   "run_code": run_code, "weights_sha256": runs.file_sha256(weights),
                   "provenance": provenance.record({"nll": iwae.version(cfg.arch)}, device=device, **share.record())}
        atomic_write_text(folder / f"{name}.json", json.dumps(out))
        logger.info(f"{folder.name} epoch {epoch}: NLL {-bounds.mean().item():.2f} (K={k}, {split} images {start}-{stop}"
                    f"{'' if draw is None else f', binarization draw {draw}'}, {out['seconds']:.0f}s)")
        return out


DRAW_SEED = 1000    # binarization draw n of a split uses generator seed DRAW_SEED + n (the fixed ones: 0 and 1)
DRAW_STRIDE = 100_003   # and the estimator's draws start + n * DRAW_STRIDE, apart from every other estimate's


def images_of(cfg: RunConfig, split: str, draw: int | None = None) -> torch.Tensor:
    """The images an estimate scores: the split's own (its fixed binarization for a binarized dataset), or,
    with `draw`, its grey levels binarized by draw `draw` over the whole split before any limit (as the fixed
    one is); draw 0 is the fixed binarization itself."""
    limit = cfg.test_limit if split == "test" else cfg.train_limit
    if not draw:
        return data.load(cfg.dataset, train=split == "train", limit=limit)[0]
    if not data.DATASETS[cfg.dataset].binarized:
        raise Refused(f"draw={draw} is only for a binarized dataset, not {cfg.dataset}")
    grey = data.load(cfg.dataset, train=split == "train", grey=True)[0]
    images = data.binarize(grey, torch.Generator().manual_seed(DRAW_SEED + draw))
    return images if limit is None else images[:limit]


def cache_name(epoch: int, k: int, start: int, stop: int, split: str = "test", draw: int | None = None) -> str:
    return (f"nll_epoch{epoch}_k{k}_{'' if split == 'test' else split + '_'}images{start}-{stop}"
            + ("" if draw is None else f"_draw{draw}"))


def cached(folder: Path, epoch: int, k: int, start: int, stop: int, split: str = "test",
           draw: int | None = None) -> dict | None:
    """The saved bounds of these images when today's bound (core.iwae.version) made them, with these
    settings, from the run's weights of today's training version (weights_sha256; made before versions:
    the run's code), else None."""
    path = Path(folder) / f"{cache_name(epoch, k, start, stop, split, draw)}.json"
    if not path.is_file():
        return None
    saved = json.loads(path.read_text())
    weights = runs.weights_of(Path(folder), epoch, runs.read_config(folder).epochs)
    same_run = (saved.get("weights_sha256") == runs.file_sha256(weights) if "weights_sha256" in saved
                else saved.get("run_code") == (runs.read_provenance(folder) or {}).get("code"))
    fresh = same_run and provenance.is_fresh(saved, {"nll": iwae.version(runs.read_config(folder).arch)},
                                             settings=settings_of(epoch, k, start, stop, split, draw))
    return saved if fresh else None


def settings_of(epoch: int, k: int, start: int, stop: int, split: str = "test", draw: int | None = None) -> dict:
    if draw is None:      # the estimates made before draws existed keep their settings (and so stay fresh)
        return {"epoch": epoch, "k": k, "start": start, "stop": stop, "seed": start, "split": split}
    return {"epoch": epoch, "k": k, "start": start, "stop": stop, "seed": start + draw * DRAW_STRIDE, "split": split,
            "draw": draw}


@guard
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vaelib.evaluation.nll", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="a finished run folder")
    parser.add_argument("--epoch", type=int, required=True, help="the kept weights after this epoch")
    parser.add_argument("--k", type=int, default=5000, help="importance samples")
    parser.add_argument("--images", required=True, help="images START-STOP of --split")
    parser.add_argument("--split", default="test", choices=["test", "train"],
                        help="test images, or training images (their fixed binarization)")
    parser.add_argument("--draw", type=int, default=None,
                        help="score the split binarized afresh by this draw (a binarized dataset; 0: its fixed one)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: share with other jobs)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda[:N]")
    args = parser.parse_args(argv)
    check_device(args.device)
    if args.draw is not None and args.draw < 0:
        raise Refused(f"--draw={args.draw} is not allowed; expected an integer >= 0")
    logs.show()
    start, stop = (int(i) for i in args.images.split("-"))
    estimate_nll(args.run, args.epoch, args.k, start, stop, args.threads, args.device, args.split, args.draw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
