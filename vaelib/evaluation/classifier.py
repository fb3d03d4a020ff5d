"""A small CNN digit classifier, trained once and cached, to judge reconstructions by their class.

    python -m vaelib.classifier runs/classifier_mnist.pt    # trains it unless a fresh one is there
"""

from __future__ import annotations

import logging
import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..config.run import check_device
from ..data import datasets as data
from ..infra import locks, provenance
from ..infra.atomic import atomic_torch_save, torch_load
from ..infra.faults import EXIT_CODES, DamagedFile, guard
from ..infra.cpushare import CpuShare
from ..infra import logs

logger = logging.getLogger(__name__)

# The version of the classifier's numbers (its net, data, training): bump it in the commit that changes them.
VERSION = 1


class DigitCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # 14x14
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 7x7
            nn.Flatten(), nn.Dropout(0.25), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.25),
            nn.Linear(128, 10))

    def forward(self, x):
        return self.net(x)


@torch.inference_mode()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 2500) -> torch.Tensor:
    model.eval()
    device = next(model.parameters()).device
    return torch.cat([model(xb.to(device)).argmax(1).cpu() for xb in x.split(batch_size)])


@torch.inference_mode()
def predict_proba(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    model.eval()
    return torch.softmax(model(x), dim=1)


def fit(x, y, epochs: int = 5, batch_size: int = 128, lr: float = 1e-3, seed: int = 0,
        progress: bool = True, each_batch=lambda: None) -> DigitCNN:
    """Adam, the learning rate x0.7 after each epoch; 5 epochs on the full training set.

    Seeded through its own generators (and a forked global RNG for the weight init), so that fitting
    leaves the caller's random state as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DigitCNN().to(x.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):   # dropout draws from the global RNG
        torch.manual_seed(seed + 1)
        for epoch in range(1, epochs + 1):
            model.train()
            batches = torch.randperm(len(x), generator=gen).split(batch_size)
            for idx in tqdm(batches, desc=f"classifier epoch {epoch}/{epochs}", disable=not progress, leave=False):
                each_batch()     # the trainer re-balances CPU threads with other running jobs here
                loss = F.cross_entropy(model(x[idx]), y[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            schedule.step()
    return model.eval()


def classifier_path(runs_dir: Path | str, train_limit: int | None = None) -> Path:
    """Where a report keeps its digit classifier: beside its runs, named by the images it learnt from."""
    suffix = "" if train_limit is None else f"_{train_limit}"
    return Path(runs_dir) / f"classifier_mnist{suffix}.pt"


def load(path: Path | str) -> DigitCNN:
    saved = torch_load(path)
    model = DigitCNN()
    model.load_state_dict(saved["state_dict"])
    return model.eval()


def read_info(path: Path | str) -> dict:
    """The cached classifier's training set size, test accuracy and provenance."""
    info = torch_load(path)
    return {k: v for k, v in info.items() if k != "state_dict"}


def is_fresh(path: Path, dataset: str, train_limit: int | None, device_type: str = "cpu") -> bool:
    if not Path(path).is_file():
        return False
    try:
        info = read_info(path)
    except DamagedFile as e:
        logger.warning(f"{e}: it is trained again")
        return False
    return provenance.is_fresh(info, {"classifier": VERSION}, dataset=dataset, train_limit=train_limit,
                               device_type=device_type)


def ensure(path: Path | str, dataset: str = "mnist", train_limit: int | None = None, epochs: int = 5,
           progress: bool = True, num_threads: int = 0, device: str = "cpu") -> dict:
    """Train the classifier into `path` on `device` unless a fresh one (same data, same code, the same kind
    of device: a CUDA-trained classifier is another random experiment) is there; its info."""
    path, device = Path(path), torch.device(device)
    with locks.exclusive(path):   # two runners never train it twice
        if is_fresh(path, dataset, train_limit, device.type):
            return read_info(path)
        if path.is_file():
            logger.info(f"{path} was made by other code, data or device: retraining it")
        x_train, y_train = data.load(dataset, train=True, limit=train_limit)
        x_test, y_test = data.load(dataset, train=False)
        with CpuShare(num_threads) as share:
            model = fit(x_train.to(device), y_train.to(device), epochs=epochs, progress=progress,
                        each_batch=share.adjust)
            accuracy = (predict(model, x_test) == y_test).float().mean().item()
            info = {"dataset": dataset, "train_limit": train_limit, "device_type": device.type,
                    "train_images": len(x_train), "test_images": len(x_test), "test_accuracy": accuracy,
                    "provenance": provenance.record({"classifier": VERSION}, device=device, **share.record())}
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_torch_save({"state_dict": model.state_dict(), **info}, path)
        logger.info(f"classifier trained on {len(x_train)} {dataset} images: test accuracy {accuracy:.4f} (in {path})")
        return info


@guard
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vaelib.classifier", description=__doc__, epilog=EXIT_CODES)
    parser.add_argument("path", help="where the classifier is kept (reused when fresh)")
    parser.add_argument("--train-limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: share with other jobs)")
    parser.add_argument("--device", default="cpu", help="where it trains: cpu (default), auto (CUDA when "
                                                        "available), cuda, cuda:N")
    args = parser.parse_args(argv)
    logs.show()
    check_device(args.device)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    ensure(args.path, train_limit=args.train_limit, progress=sys.stderr.isatty(), num_threads=args.threads,
           device=device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
