"""What a report will cost, said before it starts; each task's estimate is also its cost in the runner's order.

Each step's seconds are timed here, at the report's threads per task and on its device, from a little of the
step's own work, each the mean over at least 0.3 s of calls after one to warm up, on random pixels (the time of a dense
step does not depend on them): one batch of each model's training, its test loss and its evaluation's other
metrics on a few hundred images, its IWAE bound on one chunk of images against three, two batches of the
classifier's training. Each is scaled by how many of them the step does. A step's start-up is a probe step of each
kind, timed once. The report's steps run side by side, and on a CPU they slow one another down (they share the
caches and the memory bus): so every timing runs beside as many busy processes as the report has other workers
on this machine's cores (`beside_the_other_workers`). The notebooks' seconds are those of the last report in the
same results/ folder where it recorded them. The wall time is the tasks laid out on the workers in the runner's
order (highest upward rank first, each on the first free worker). Timing every model costs a few seconds, and
only the models the report will train or evaluate are timed: a reused step costs nothing. It is an estimate of
this machine's time, not a number of the report: the report prints it first and, at the end, how the work
compared (results/run.json, "estimate").
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import torch

from ..config.run import RunConfig
from ..core.bounds import mean_loss
from ..core.iwae import SAMPLES_PER_CHUNK, iwae_bound
from ..data import datasets as data
from ..infra.devices import resolve_device, synced


@contextmanager
def threads(n: int | None):
    """Torch's CPU threads set to `n` (None: as they are) for the block."""
    before = torch.get_num_threads()
    torch.set_num_threads(n or before)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def timed(work, device: torch.device, at_least: float = 0.3) -> float:
    """Mean seconds of `work()` over at least `at_least` seconds of calls (three at the fewest), after one to warm
    up: one call can stall for a tenth of a second on a shared machine, and a neighbour's phase moves one call's
    time by more than the difference the estimate must see."""
    _start_neighbours()
    work()
    synced(device)
    calls, start = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - start < at_least:
        work()
        synced(device)
        calls += 1
    return (time.perf_counter() - start) / calls


_neighbours = {"wanted": 0, "threads": 1, "running": None}


@contextmanager
def beside_the_other_workers(threads_per_task: int | None):
    """Every timing in the block made beside as many busy processes (conv d = 10 training, `threads_per_task`
    threads each) as the report has other workers on this machine's cores; none when the tasks go to a cluster's
    workers (None). They start at the block's first timing, so that a block that times nothing (every step
    reused) costs nothing, and stop at its end. A full-size conv epoch took 9.2 s alone on an idle 2-core machine
    and 12.7 s beside another (`python -m benchmarks.epoch`, twice at once): timed alone, a report's steps read
    about 1.5x fast (docs/benchmarks.md)."""
    from ..infra.cpushare import available_cores
    cores = available_cores()
    wanted = 0 if threads_per_task is None else max(1, cores // threads_per_task) - 1
    _neighbours.update(wanted=wanted, threads=threads_per_task or 1, running=None)
    try:
        yield
    finally:
        for proc in _neighbours["running"] or []:
            proc.kill()
            proc.wait()
        _neighbours.update(wanted=0, running=None)


def _start_neighbours() -> None:
    if _neighbours["running"] is None and _neighbours["wanted"]:
        code = f"from vaelib.pipeline.cost import busy; busy({os.getpid()}, {_neighbours['threads']})"
        _neighbours["running"] = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
                                  for _ in range(_neighbours["wanted"])]
        for proc in _neighbours["running"]:
            proc.stdout.readline()              # "training": its model is built and its first batch done


def busy(parent: int, n_threads: int) -> None:
    """A neighbour for the timings: conv d = 10 trains on random pixels until the process `parent` is gone."""
    from ..training.engine import train_epoch
    torch.set_num_threads(n_threads)
    config, device, x, (model, optimizer, generators, step) = _model("conv", 10, "plain", 128, "cpu", n_threads)
    batch = lambda: train_epoch(model, optimizer, step, x[:config.batch_size], config, generators, epoch=1)  # noqa: E731
    batch()
    print("training", flush=True)
    while os.getppid() == parent:
        batch()


PROBE = RunConfig("linear", 2, epochs=1, train_limit=128, test_limit=128, device="cpu")   # trains one batch


@cache
def startup(kind: str) -> float:
    """Seconds of a step that does almost nothing, "train" or "evaluate", as the report's workers run it (beside
    the other workers' busy processes, inside `beside_the_other_workers`). A training is notebook 01 through
    papermill on one batch of PROBE (its kernel, imports, cells and figures); an evaluation, a fresh interpreter
    importing the evaluation and loading the data it reads. Each kind is timed once."""
    from .schedule import notebook
    _start_neighbours()
    with tempfile.TemporaryDirectory(prefix="vaelib-probe-", ignore_cleanup_errors=True) as folder:
        start = time.perf_counter()
        if kind == "train":
            notebook("01_train", Path(folder) / "probe.ipynb", {
                "config": dataclasses.asdict(PROBE), "runs_dir": folder, "force": True, "keep_stale": False,
                "smoke_test": False, "teach": False})
        else:
            load = "from vaelib.data import datasets as d; [d.load('mnist', train=t) for t in (True, False)]"
            subprocess.run([sys.executable, "-c", f"import vaelib.evaluation.metrics; {load}"], check=True)
        return time.perf_counter() - start


SLICE = 250        # images of a timed evaluation (each metric's time grows with its images)
KNN_TRAIN = 5000   # training codes of a timed k-NN search (its time grows with training x test images)


@cache
def _model(arch: str, latent_dim: int, protocol: str, batch_size: int, device_name: str, n_threads: int | None):
    """A fresh model of this shape with its optimizer, generators and step, and random images to time it on."""
    from ..training.engine import start
    device = resolve_device(device_name)
    config = RunConfig(arch, latent_dim, batch_size=batch_size, protocol=protocol)
    x = torch.rand(max(batch_size, SLICE), 1, 28, 28, generator=torch.Generator().manual_seed(0)).to(device)
    with threads(n_threads):
        return config, device, x, start(config, x, device)


@cache
def _rates(*shape) -> dict:
    """Seconds of one training batch; per image of the loss, of the reconstruction accuracy with the latent
    diagnostics, and of the k-NN's encoding; per pair of training and test image of the k-NN's search."""
    from ..evaluation import classifier
    from ..evaluation.latent import encode_means, knn_predict, latent_diagnostics
    from ..evaluation.metrics import reconstruction_accuracy
    from ..training.engine import train_epoch
    config, device, x, (model, optimizer, generators, step) = _model(*shape)
    y, clf, few = torch.zeros(SLICE, dtype=torch.long, device=device), classifier.DigitCNN().to(device).eval(), x[:SLICE]
    codes, labels = torch.randn(KNN_TRAIN, config.latent_dim), torch.randint(10, (KNN_TRAIN,))   # as knn: on the CPU
    with threads(shape[-1]):
        return {"step": timed(lambda: train_epoch(model, optimizer, step, x[:config.batch_size], config, generators,
                                                  epoch=1), device),
                "eval_image": timed(lambda: mean_loss(model, few), device) / SLICE,
                "read_image": timed(lambda: (reconstruction_accuracy(model, clf, few, y), latent_diagnostics(model, few)),
                                    device) / SLICE,
                "encode_image": timed(lambda: encode_means(model, few), device) / SLICE,
                "knn_pair": timed(lambda: knn_predict(codes, labels, codes[:SLICE]), device)
                / (KNN_TRAIN * SLICE)}


@cache
def _bound_image(*shape_and_k) -> float:
    """Seconds of one test image's IWAE bound at K: one chunk of images (core.iwae) against three, so that the
    bound's set-up cancels."""
    *shape, k = shape_and_k
    config, device, x, (model, *_) = _model(*shape)
    chunk = max(1, min(SAMPLES_PER_CHUNK // k, len(x) // 3))
    with threads(shape[-1]):
        one, three = (timed(lambda n=n: iwae_bound(model, x[:n * chunk], k=k), device) for n in (1, 3))
    return max(three - one, 0.0) / (2 * chunk)


def _shape(config: RunConfig, threads_per_task: int | None) -> tuple:
    return config.arch, config.latent_dim, config.protocol, config.batch_size, config.device, threads_per_task


def train_seconds(config: RunConfig, threads_per_task: int | None) -> float:
    """A training step: its start-up, its epochs' batches and each epoch's test loss."""
    r = _rates(*_shape(config, threads_per_task))
    batches = math.ceil(data.images_in(config.dataset, True, config.train_limit) / config.batch_size)
    return startup("train") + config.epochs * (batches * r["step"]
                                        + data.images_in(config.dataset, False, config.test_limit) * r["eval_image"])


def evaluate_seconds(config: RunConfig, iwae_k: int, threads_per_task: int | None) -> float:
    """An evaluation step: its start-up, the test ELBO, the bound (where it has one) and the other metrics."""
    r = _rates(*_shape(config, threads_per_task))
    n_test, n_train = (data.images_in(config.dataset, train, limit) for train, limit in ((False, config.test_limit),
                                                                                  (True, config.train_limit)))
    bound = _bound_image(*_shape(config, threads_per_task), iwae_k) if iwae_k else 0.0
    return startup("evaluate") + n_test * (r["eval_image"] + bound + r["read_image"]) + (n_test + n_train) * r["encode_image"] \
        + n_test * n_train * r["knn_pair"]


def classifier_seconds(train_limit: int | None, threads_per_task: int | None, device_name: str,
                       epochs: int = 5, batch_size: int = 128) -> float:
    """The digit classifier's step: its start-up, `epochs` passes over the training images, and its reading of the
    test images (the accuracy it records)."""
    from ..evaluation.classifier import DigitCNN, fit, predict
    device = resolve_device(device_name)
    x = torch.rand(max(2 * batch_size, SLICE), 1, 28, 28).to(device)
    y = torch.zeros(len(x), dtype=torch.long, device=device)
    with threads(threads_per_task):
        two = timed(lambda: fit(x[:2 * batch_size], y[:2 * batch_size], epochs=1, batch_size=batch_size,
                                progress=False), device)
        clf = DigitCNN().to(device).eval()
        test = timed(lambda: predict(clf, x[:SLICE]), device) / SLICE
    return startup("evaluate") + epochs * math.ceil(data.images_in("mnist", True, train_limit) / batch_size) * two / 2 \
        + data.images_in("mnist", False, None) * test


def notebook_seconds(results_dir: Path, notebooks: int) -> float | None:
    """One analysis notebook's seconds in the last report written to `results_dir` (None: no record)."""
    try:
        return json.loads((results_dir / "run.json").read_text())["minutes"]["notebooks"] * 60 / notebooks
    except (OSError, ValueError, KeyError, TypeError):
        return None


KINDS = ("classifier", "train", "evaluate", "notebooks")     # the kinds of step, as results/run.json counts them


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


def summary(tasks, workers: int, load: float | None = None) -> dict:
    """Task-minutes by kind of step and the wall minutes on `workers` workers; `load`, the machine's load
    average when the timing began (other work on the cores makes every timing, and so the estimate, longer)."""
    minutes = {k: sum(t.cost for t in tasks if kind(t.name) == k) / 60 for k in KINDS}
    return {"task_minutes": minutes, "wall_minutes": wall(tasks, workers) / 60, "workers": workers, "load": load}


def said(estimate: dict, steps: int) -> str:
    """One line, before the work: the estimate of each kind of step and of the wall time."""
    from ..infra.cpushare import available_cores
    parts = ", ".join(f"{k} {v:.1f}" for k, v in estimate["task_minutes"].items() if v)
    cores = available_cores()
    beyond = f" (more than this machine's {cores} cores: as if each had a core like these)" \
        if estimate["workers"] > cores else ""
    load = "" if estimate.get("load") is None else \
        f"; timed at a load of {estimate['load']:.1f} on {cores} cores (other work then or later changes it)"
    return (f"estimate on this machine: {steps} step(s), {sum(estimate['task_minutes'].values()):.1f} task-min "
            f"({parts}), about {estimate['wall_minutes']:.1f} min of wall time on {estimate['workers']} worker(s)"
            f"{beyond}{load}" if steps else "estimate: nothing to do, every step is reused")


def compare(estimate: dict, minutes: dict, wall_minutes: float) -> str:
    """One line: the estimate beside what the report took, by kind and in all."""
    kinds = [k for k, v in estimate["task_minutes"].items() if v or minutes.get(k)]
    parts = [f"{k} {estimate['task_minutes'][k]:.1f} -> {minutes.get(k, 0.0):.1f}" for k in kinds]
    took, said = sum(minutes.get(k, 0.0) for k in kinds), sum(estimate["task_minutes"].values())
    return (f"estimate against what it took (task-min): {', '.join(parts) or 'nothing to do'}; all {said:.1f} -> "
            f"{took:.1f} ({took / said:.2f}x); wall {estimate['wall_minutes']:.1f} -> {wall_minutes:.1f} min"
            if said else "estimate: nothing to do")
