"""What a report will cost, said before it starts; each task's estimate is also its cost in the runner's order.

Each step's seconds are timed here, at the report's threads per task and on its device, from a little of the
step's own work: two batches of each model's training epoch (after one to warm up, on random pixels: the time of a
dense step does not depend on them), its per-epoch test loss on one evaluation batch, its IWAE bound on a few chunks
of images, the evaluation's other metrics on one batch, a few batches of the classifier's training. Each is scaled by
how many of them the step does. A step's start-up (a fresh interpreter importing what the steps import) is timed
once; the notebooks' seconds are those of the last report in the same results/ folder where it recorded them.
The wall time is the tasks laid out on the workers in the runner's order (highest upward rank first, each on the
first free worker). Timing every model costs a few seconds, and only the models the report will train or
evaluate are timed: a reused step costs nothing. It is an estimate of this machine's time, not a number of the
report: the report prints it first and, at the end, how the work compared (results/run.json, "estimate").
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import torch

from ..config.run import RunConfig
from ..core.bounds import EVAL_BATCH, mean_loss
from ..core.iwae import SAMPLES_PER_CHUNK, iwae_bound
from ..data import datasets as data
from ..infra.devices import resolve_device

@contextmanager
def threads(n: int | None):
    """Torch's CPU threads set to `n` (None: as they are) for the block."""
    before = torch.get_num_threads()
    torch.set_num_threads(n or before)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def timed(work, device: torch.device, repeat: int = 2) -> float:
    """Seconds of one `work()`, the mean of `repeat` after one to warm up."""
    work()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    for _ in range(repeat):
        work()
    sync()
    return (time.perf_counter() - start) / repeat


def images(dataset: str, train: bool, limit: int | None) -> int:
    """How many images a split has (its IDX header), at most `limit`."""
    name = ("train" if train else "t10k") + "-images-idx3-ubyte"
    with open(data.raw_dir(dataset) / name, "rb") as f:
        total = int.from_bytes(f.read(8)[4:], "big")
    return min(total, limit or total)


@cache
def startup() -> float:
    """Seconds for a fresh interpreter to import what a training and an evaluation step import."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import papermill, vaelib.training.engine, vaelib.evaluation.metrics"],
                   check=True)
    return time.perf_counter() - start


@cache
def _rates(arch: str, latent_dim: int, protocol: str, batch_size: int, device_name: str, n_threads: int | None,
           iwae_k: int) -> dict:
    """Seconds of one training batch, of one evaluation batch's loss, of one test image's bound (at `iwae_k`)
    and of the evaluation's other metrics on one evaluation batch, for a fresh model of this shape."""
    from ..evaluation import classifier
    from ..evaluation.latent import encode_means, latent_diagnostics
    from ..evaluation.metrics import reconstruction_accuracy
    from ..training.engine import start
    device = resolve_device(device_name)
    config = RunConfig(arch, latent_dim, batch_size=batch_size, protocol=protocol)
    x = torch.rand(max(batch_size, EVAL_BATCH), 1, 28, 28, generator=torch.Generator().manual_seed(0)).to(device)
    y = torch.zeros(len(x), dtype=torch.long, device=device)
    with threads(n_threads):
        model, optimizer, generators, step = start(config, x, device)
        one_batch = x[:batch_size]
        out = {"step": timed(lambda: _epoch(model, optimizer, step, one_batch, config, generators), device),
               "eval_batch": timed(lambda: mean_loss(model, x[:EVAL_BATCH]), device)}
        clf = classifier.DigitCNN().to(device).eval()
        out["other_batch"] = timed(lambda: (reconstruction_accuracy(model, clf, x[:EVAL_BATCH], y[:EVAL_BATCH]),
                                            encode_means(model, x[:EVAL_BATCH]),
                                            latent_diagnostics(model, x[:EVAL_BATCH])), device, repeat=1)
        out["bound_image"] = _bound_image(model, x, iwae_k, device) if iwae_k else 0.0
    return out


def _bound_image(model, x: torch.Tensor, k: int, device: torch.device) -> float:
    """Seconds of one test image's bound: one chunk of images against three (core.iwae), the set-up cancelled."""
    chunk = max(1, min(SAMPLES_PER_CHUNK // k, len(x) // 3))
    one, three = (timed(lambda n=n: iwae_bound(model, x[:n * chunk], k=k), device, repeat=1) for n in (1, 3))
    return max(three - one, 0.0) / (2 * chunk)


def _epoch(model, optimizer, step, x, config: RunConfig, generators: dict) -> None:
    from ..training.engine import train_epoch
    train_epoch(model, optimizer, step, x, config, generators, epoch=1)


def train_seconds(config: RunConfig, threads_per_task: int | None) -> float:
    """A training step: its start-up, its epochs' batches and each epoch's test loss."""
    r = _rates(config.arch, config.latent_dim, config.protocol, config.batch_size, config.device, threads_per_task, 0)
    batches = math.ceil(images(config.dataset, True, config.train_limit) / config.batch_size)
    tests = images(config.dataset, False, config.test_limit) / EVAL_BATCH
    return startup() + config.epochs * (batches * r["step"] + tests * r["eval_batch"])


def evaluate_seconds(config: RunConfig, iwae_k: int, threads_per_task: int | None) -> float:
    """An evaluation step: its start-up, the test ELBO, the bound (where it has one) and the other metrics (the
    k-NN's encoding of the training images counted, its search left out)."""
    r = _rates(config.arch, config.latent_dim, config.protocol, config.batch_size, config.device, threads_per_task,
               iwae_k)
    n_test = images(config.dataset, False, config.test_limit)
    n_train = images(config.dataset, True, config.train_limit)
    return startup() + n_test * (r["eval_batch"] / EVAL_BATCH + r["bound_image"]) \
        + (n_test + n_train) * r["other_batch"] / EVAL_BATCH


def classifier_seconds(train_limit: int | None, threads_per_task: int | None, device_name: str,
                       epochs: int = 5, batch_size: int = 128) -> float:
    """The digit classifier's training: its start-up and `epochs` passes over the training images."""
    from ..evaluation.classifier import fit
    device = resolve_device(device_name)
    x = torch.rand(2 * batch_size, 1, 28, 28).to(device)
    y = torch.zeros(len(x), dtype=torch.long, device=device)
    with threads(threads_per_task):
        two = timed(lambda: fit(x, y, epochs=1, batch_size=batch_size, progress=False), device, repeat=1)
    return startup() + epochs * math.ceil(images("mnist", True, train_limit) / batch_size) * two / 2


def notebook_seconds(results_dir: Path, notebooks: int) -> float | None:
    """One analysis notebook's seconds in the last report written to `results_dir` (None: no record)."""
    try:
        return json.loads((results_dir / "run.json").read_text())["minutes"]["notebooks"] * 60 / notebooks
    except (OSError, ValueError, KeyError, TypeError):
        return None


def kind(task_name: str) -> str | None:
    """The kind of step a task is, as results/run.json adds up its minutes (None: the results tables)."""
    first = task_name.split()[0]
    return first if first in ("classifier", "train", "evaluate") else "notebooks" if first[0] == "0" else None


def wall(tasks, workers: int) -> float:
    """The seconds the tasks take on `workers` workers: the first free worker takes, among the tasks whose
    dependencies are done, the one of highest upward rank (as schedule.run_all hands them out), or waits for the
    next task to end."""
    from .schedule import upward_ranks
    ranks, ends, free, waiting = upward_ranks(tasks), {}, [0.0] * max(1, workers), list(tasks)
    while waiting:
        worker = min(range(len(free)), key=free.__getitem__)
        now = free[worker]
        ready = [t for t in waiting if all(ends.get(d, math.inf) <= now for d in t.deps)]
        if not ready:
            free[worker] = min(end for end in ends.values() if end > now)
            continue
        task = max(ready, key=lambda t: ranks[t.name])
        ends[task.name] = free[worker] = now + task.cost
        waiting.remove(task)
    return max(ends.values(), default=0.0)


def summary(tasks, workers: int) -> dict:
    """Task-minutes by kind of step and the wall minutes on `workers` workers."""
    minutes = {k: 0.0 for k in ("classifier", "train", "evaluate", "notebooks")}
    for t in tasks:
        if kind(t.name):
            minutes[kind(t.name)] += t.cost / 60
    return {"task_minutes": minutes, "wall_minutes": wall(tasks, workers) / 60, "workers": workers}


def said(estimate: dict, steps: int) -> str:
    """One line, before the work: the estimate of each kind of step and of the wall time."""
    parts = ", ".join(f"{k} {v:.1f}" for k, v in estimate["task_minutes"].items() if v)
    return (f"estimate on this machine: {steps} step(s), {sum(estimate['task_minutes'].values()):.1f} task-min "
            f"({parts}), about {estimate['wall_minutes']:.1f} min of wall time on {estimate['workers']} worker(s)"
            if steps else "estimate: nothing to do, every step is reused")


def compare(estimate: dict, minutes: dict, wall_minutes: float) -> str:
    """One line: the estimate beside what the report took, by kind and in all."""
    kinds = [k for k, v in estimate["task_minutes"].items() if v or minutes.get(k)]
    parts = [f"{k} {estimate['task_minutes'][k]:.1f} -> {minutes.get(k, 0.0):.1f}" for k in kinds]
    took, said = sum(minutes.get(k, 0.0) for k in kinds), sum(estimate["task_minutes"].values())
    return (f"estimate against what it took (task-min): {', '.join(parts) or 'nothing to do'}; all {said:.1f} -> "
            f"{took:.1f} ({took / said:.2f}x); wall {estimate['wall_minutes']:.1f} -> {wall_minutes:.1f} min"
            if said else "estimate: nothing to do")
