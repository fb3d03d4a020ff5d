"""A run's witness: two short stretches of its training, replayed by today's code to tell whether that code
trains the run to the same numbers (the replay of the freshness rule, infra.provenance.is_fresh).

The fingerprint of the training code changes with any edit of the code it covers, even one that moves a
function or touches an architecture this run does not use. The witness decides instead by what the code
computes: BATCHES batches from the seeded start (the initial model and its data-dependent init, the
generators, the protocol's step and optimizer, the first epoch's rate) and BATCHES batches beyond the run's
last checkpoint (its restore, the optimizer's state, the last epoch's rate), each followed by the
per-epoch test ELBO on TEST_IMAGES test images; the weights, the optimizer's state, the generators and the
ELBO after each stretch are hashed bit for bit. The engine writes witness.json when a run finishes; a run
trained by other code is fresh when today's code gives the same two hashes, on one CPU thread and a CPU of
the same instruction set (another one may round differently: no verdict there, the run counts as stale).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from ..config.run import RunConfig
from ..core.bounds import mean_loss
from ..data import datasets as data
from ..infra.atomic import atomic_write_text
from . import checkpoint
from .protocols import PROTOCOLS

NAME = "witness.json"
BATCHES = 8
TEST_IMAGES = 100


class _Enough(Exception):
    """Raised before batch BATCHES + 1 to end a stretch."""


def _digest(*parts) -> str:
    """One hash of tensors, generator states and numbers, nested in dicts and lists, in a fixed order."""
    h = hashlib.sha256()

    def feed(x):
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().contiguous()
            h.update(f"{x.dtype}{tuple(x.shape)}".encode())
            h.update(x.reshape(-1).view(torch.uint8).numpy().tobytes() if x.numel() else b"")
        elif isinstance(x, dict):
            for key in sorted(x, key=str):
                h.update(str(key).encode())
                feed(x[key])
        elif isinstance(x, (list, tuple)):
            for item in x:
                feed(item)
        else:
            h.update(repr(x).encode())

    for part in parts:
        feed(part)
    return h.hexdigest()[:16]


def _stretch(config: RunConfig, folder: Path | None) -> str:
    """The hash after BATCHES batches from the start (folder None) or beyond the run's checkpoint."""
    from . import engine                     # the engine writes witnesses: imported when one is made
    device = torch.device("cpu")
    x_train, _ = data.load(config.dataset, train=True, limit=config.train_limit, grey=True)
    x_test = data.load(config.dataset, train=False, limit=config.test_limit)[0][:TEST_IMAGES]
    model, optimizer, generators, step = engine.start(config, x_train, device)
    epoch = 1
    if folder is not None:
        epoch = len(checkpoint.restore(folder, model, optimizer, generators) or []) + 1
    for group in optimizer.param_groups:
        group["lr"] = PROTOCOLS[config.protocol].learning_rate(config.lr, epoch)
    done = []

    def count():
        if len(done) == BATCHES:
            raise _Enough
        done.append(1)

    try:
        engine.train_epoch(model, optimizer, step, x_train, config, generators, epoch, each_batch=count)
    except _Enough:
        pass
    test = mean_loss(model, x_test, config.beta, seed=config.seed)
    return _digest(model.state_dict(), optimizer.state_dict(),
                   {name: g.get_state() for name, g in generators.items()}, test)


def witness(config: RunConfig, folder: Path) -> dict:
    """The run's two stretch hashes, computed now on one CPU thread, with what they were computed on."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            return {"from_start": _stretch(config, None), "from_checkpoint": _stretch(config, folder),
                    "batches": BATCHES, "test_images": TEST_IMAGES, "cpu": torch.backends.cpu.get_cpu_capability(),
                    "torch": str(torch.__version__)}
    finally:
        torch.set_num_threads(threads)


def write(config: RunConfig, folder: Path, code: str) -> dict:
    """witness.json of a finished run, by `code` (the training fingerprint that trained it)."""
    found = {"code": code, **witness(config, folder)}
    atomic_write_text(Path(folder) / NAME, json.dumps(found, indent=1) + "\n")
    return found


def reproduces(folder: Path) -> bool:
    """True when today's code gives the run's witness bit for bit (on a CPU like the one that made it)."""
    path = Path(folder) / NAME
    if not path.is_file() or not (Path(folder) / checkpoint.NAME).is_file():
        return False
    saved = json.loads(path.read_text())
    if saved.get("cpu") != torch.backends.cpu.get_cpu_capability() or saved.get("torch") != str(torch.__version__):
        return False
    config = RunConfig.from_params(**json.loads((Path(folder) / "config.json").read_text()))
    now = witness(config, folder)
    return (now["from_start"], now["from_checkpoint"]) == (saved["from_start"], saved["from_checkpoint"])
