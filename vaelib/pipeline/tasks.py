"""The report's task graph: the classifier, one training and one evaluation per run, the metrics
table and the analysis notebooks, each with its needs and its estimated seconds on this machine (pipeline.cost:
the report says them before it starts, and the runner orders the work by them)."""

from __future__ import annotations

import dataclasses
from functools import partial
from pathlib import Path

from ..analysis.results import write_all
from ..config.reference import DRAW_K, DRAWS, pieces, snapshot_epochs, test_size
from ..config.run import RunConfig
from ..config.sweep import Sweep
from ..evaluation import classifier
from ..evaluation.classifier import classifier_path
from ..evaluation import metrics
from ..evaluation.metrics import evaluate_run
from ..evaluation.nll import cached
from ..infra import paths
from ..training import runs
from ..training.engine import TRAINING_VERSION, train
from . import cost
from .schedule import Task, notebook, python

ANALYSIS = ("02_compare_losses", "03_explore_latent_space", "04_embed_test_set", "05_beyond")


def run_devices(sweep: Sweep, device: str, gpus: int) -> dict[str, str]:
    """Each run's device: `device` as given, except that "auto" or "cuda" on a machine with `gpus` CUDA
    devices spreads the runs over them in turn (cuda:0, cuda:1, ...); a run is trained and evaluated on one."""
    spread = gpus > 0 and device in ("auto", "cuda")
    return {c.name: (f"cuda:{i % gpus}" if spread else device) for i, c in enumerate(sweep.configs())}


def build_tasks(sweep: Sweep, where: paths.Paths, threads: int | None, force: bool, keep_stale: bool,
                stale: set, device: str = "auto", gpus: int = 0, estimate: bool = True) -> list[Task]:
    """The report's task graph. `threads` per task (None: each task shares its machine's cores itself);
    with `gpus` CUDA devices, trainings and evaluations are GPU tasks spread over them (run_devices). A step
    whose result is fresh by the reuse rule (a finished run of this config and training version, a run's
    evaluation whose every metric is fresh, the classifier) is left out (unless `force`): a fully reused report
    starts no process for it. Each task's cost is its seconds timed on this machine (pipeline.cost), unless not
    `estimate` (every cost 1: for a graph run in one process, where the order does not matter)."""
    devices = run_devices(sweep, device, gpus)
    price = (lambda timing, *args: timing(*args)) if estimate else (lambda *_: 1.0)
    clf, images = classifier_path(where.runs, sweep.classifier_images), sweep.classifier_images
    threads_arg = [] if threads is None else ["--threads", str(threads)]
    # the classifier trains on the first GPU when the runs do (it is fresh only for the device type it was made on)
    clf_device = "cuda:0" if gpus > 0 and device in ("auto", "cuda") else ("cpu" if device == "auto" else device)
    clf_args = ["-m", "vaelib.classifier", str(clf), *threads_arg, "--device", clf_device] \
        + ([] if images is None else ["--train-limit", str(images)])
    tasks = [] if not force and classifier.is_fresh(clf, "mnist", images, clf_device.split(":")[0]) else \
        [Task("classifier", partial(python, clf_args, "classifier"),
              cost=price(cost.classifier_seconds, images, threads, clf_device), gpu=clf_device.startswith("cuda"),
              here=partial(classifier.ensure, clf, train_limit=images, progress=False))]
    for c in sweep.configs():
        run = dataclasses.replace(c, num_threads=threads or 0, device=devices[c.name])
        params = {"config": dataclasses.asdict(run), "runs_dir": str(where.runs), "force": force or c.name in stale,
                  "keep_stale": keep_stale, "smoke_test": False,
                  "teach": False}                        # the notebook's hand-written demo step: for a reader
        out = where.executed / f"01_train_{c.name}.ipynb"
        on_gpu = run.device.startswith("cuda")
        reused = not params["force"] and trained(c, where.runs / c.name)
        if not reused:
            tasks.append(Task(f"train {c.name}", partial(notebook, "01_train", out, params),
                              cost=price(cost.train_seconds, run, threads), gpu=on_gpu,
                              here=partial(train, run, where.runs, force=params["force"], progress=False,
                                           keep_stale=keep_stale)))
        iwae = sweep.iwae_k_for(c)
        if c.dataset != sweep.dataset or reused and metrics.fresh_part(
                where.runs / c.name, metrics.settings_of(c, iwae or None))[1] == set(metrics.versions(c.arch)):
            continue
        cmd = ["-m", "vaelib.metrics", str(where.runs / c.name), "--classifier", str(clf),
               "--iwae-k", str(iwae), "--device", run.device, *threads_arg]
        needs = tuple(t.name for t in tasks if t.name in (f"train {c.name}", "classifier"))   # reused: no task
        tasks.append(Task(f"evaluate {c.name}", partial(python, cmd, f"evaluate {c.name}"),
                          cost=price(cost.evaluate_seconds, run, iwae, threads),
                          deps=needs, gpu=on_gpu,
                          here=partial(evaluate_run, where.runs / c.name, clf, iwae_k=iwae or None)))
    everything = tuple(t.name for t in tasks)
    tasks.append(Task("results tables", partial(write_all, sweep, where), deps=everything,
                      here=partial(write_all, sweep, where)))
    common = {**where.as_params(), "sweep": sweep.to_params(), "smoke_test": False}
    recorded = cost.notebook_seconds(where.results, len(ANALYSIS)) if estimate else None
    for nb in ANALYSIS:       # at least a start-up where no earlier report recorded the notebooks' time
        tasks.append(Task(nb, partial(notebook, nb, where.executed / f"{nb}.ipynb", common),
                          cost=recorded or price(cost.startup, "train"), deps=everything + ("results tables",)))
    return tasks


def trained(cfg: RunConfig, folder: Path) -> bool:
    """A finished run of exactly this config by today's training code is in `folder`."""
    saved = runs.read_config(folder)
    return (saved is not None and not runs.config_differences(saved, cfg) and runs.is_finished(folder)
            and not runs.is_stale(folder, TRAINING_VERSION))


def reference_tasks(cfg: RunConfig, runs_dir: Path, k: int, curve_images: int, threads: int | None,
                device: str = "auto") -> list[Task]:
    """The literature reference's graph: train (keeping the snapshots), then every snapshot's curve point and
    the whole-test-set NLL in pieces (config.reference)."""
    threads_arg = ["--threads", str(threads or 0), "--device", device]
    whole = dataclasses.asdict(dataclasses.replace(cfg, num_threads=threads or 0, device=device))
    train_args = ["-m", "vaelib", "train", "--runs-dir", str(runs_dir), "--extend", "--quiet",   # every setting:
                  *(arg for k, v in whole.items() if v is not None for arg in (f"--{k.replace('_', '-')}", str(v))),
                  "--snapshot-epochs", *map(str, snapshot_epochs(cfg.epochs)[:-1])]          # the last: weights.pt
    per_epoch = 20 * (cfg.train_limit or 60000) / 60000 * 20 / cfg.batch_size
    folder = runs_dir / cfg.name
    done = trained(cfg, folder)
    tasks = [] if done else [Task("train reference", partial(python, train_args, "train reference"),
                                  cost=per_epoch * cfg.epochs)]
    n = test_size(cfg)
    steps = [(e, 0, min(curve_images, n), "test") for e in snapshot_epochs(cfg.epochs)]
    steps += [(cfg.epochs, a, b, "test") for a, b in pieces(n)]
    steps += [(cfg.epochs, 0, min(curve_images, n), "train")]     # the overfitting check: as many training images
    steps = [(*s, k, None) for s in steps] + [(cfg.epochs, 0, n, "test", DRAW_K, draw) for draw in range(DRAWS)]
    for epoch, a, b, split, kk, draw in dict.fromkeys(steps):   # a curve point can be a piece of the last epoch's
        if done and cached(folder, epoch, kk, a, b, split, draw) is not None:
            continue
        label = f"NLL epoch {epoch}, {split} images {a}-{b}" + ("" if draw is None else f", binarization {draw}")
        args = ["-m", "vaelib.evaluation.nll", str(folder), "--epoch", str(epoch), "--k", str(kk),
                "--images", f"{a}-{b}", "--split", split, *threads_arg] + ([] if draw is None else ["--draw", str(draw)])
        tasks.append(Task(label, partial(python, args, label),
                          cost=0.12 * kk / 1000 * (b - a), deps=() if done else ("train reference",)))
    return tasks
