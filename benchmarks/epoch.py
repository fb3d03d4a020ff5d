"""Where a training epoch's seconds go: the engine's epoch by phase against the bare steps on the same batches.

The report records each epoch's training seconds (history.csv `seconds`) and its test evaluation with the two
grids (`eval_seconds`); the checkpoint, the history file and the start of the run are recorded nowhere. This
trains one run through the engine (vaelib.training.engine.train, as the report's notebook 01 calls it) with each
phase timed: the data, the model's start, the epoch's steps, the test loss, the grids, the checkpoint, the history
files; and beside it the bare loop (training.plain.train_step over the same shuffled batches, nothing else).
What the engine's steps take beyond the bare loop is what is lost around the steps.

    python -m benchmarks.epoch                       # conv d = 10, one epoch on the 60,000 images, one thread
    python -m benchmarks.epoch --arch linear --latent-dim 2 --epochs 2 --threads 2

Prints a table of seconds by phase and ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager

import torch

from vaelib.config.run import RunConfig
from vaelib.data import datasets as data
from vaelib.training import checkpoint, engine, plain, runs

PHASES = {"data": (data, "load"), "model start": (engine, "start"), "steps": (engine, "train_epoch"),
          "test loss": (engine, "mean_loss"), "grids": (engine, "save_recon_grid"),
          "checkpoint": (checkpoint, "save"), "history and status files": (runs, "atomic_write_text")}


@contextmanager
def timing_phases(seconds: dict):
    """Wrap each phase's function where the engine calls it, adding its seconds to `seconds`."""
    saved = {name: getattr(module, attr) for name, (module, attr) in PHASES.items()}

    def timed(name, function):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                seconds[name] += time.perf_counter() - start
        return wrapper

    for name, (module, attr) in PHASES.items():
        setattr(module, attr, timed(name, saved[name]))
    try:
        yield
    finally:
        for name, (module, attr) in PHASES.items():
            setattr(module, attr, saved[name])


def bare(config: RunConfig) -> float:
    """Seconds of the plain steps alone over one epoch's shuffled batches, on the same data and initial model."""
    x, _ = data.load(config.dataset, train=True, limit=config.train_limit)
    model, optimizer, generators, _ = engine.start(config, x, torch.device("cpu"))
    model.train()
    order = torch.randperm(len(x), generator=generators["perm"])
    start = time.perf_counter()
    for idx in order.split(config.batch_size):
        plain.train_step(model, optimizer, x[idx], config.beta, generators["noise"])
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="conv")
    parser.add_argument("--latent-dim", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--train-limit", type=int, default=None)
    args = parser.parse_args(argv)
    config = RunConfig(args.arch, args.latent_dim, epochs=args.epochs, train_limit=args.train_limit,
                       num_threads=args.threads, device="cpu")
    torch.set_num_threads(args.threads)
    seconds = defaultdict(float)
    with tempfile.TemporaryDirectory() as folder, timing_phases(seconds):
        start = time.perf_counter()
        run = engine.train(config, folder, force=True, progress=False)
        total = time.perf_counter() - start
    bare_seconds = bare(config) * args.epochs
    recorded = run.history[["seconds", "eval_seconds"]].sum().to_dict()
    rows = {**{k: seconds[k] for k in PHASES}, "the rest": total - sum(seconds.values()), "engine's train()": total,
            "bare steps, same batches": bare_seconds, "recorded in history.csv: seconds": recorded["seconds"],
            "recorded in history.csv: eval_seconds": recorded["eval_seconds"]}
    print(f"{config.name}, {args.epochs} epoch(s) of {len(data.load(config.dataset, limit=config.train_limit)[1]):,} "
          f"images, {args.threads} thread(s)")
    for name, value in rows.items():
        print(f"  {name:40s} {value:8.2f} s")
    print(f"  steps beyond the bare loop: {seconds['steps'] - bare_seconds:+.2f} s "
          f"({100 * (seconds['steps'] / bare_seconds - 1):+.1f}%)")
    print(json.dumps({"run": config.name, "epochs": args.epochs, "threads": args.threads,
                      **{k.replace(" ", "_"): round(v, 3) for k, v in rows.items()}}))


if __name__ == "__main__":
    main()
