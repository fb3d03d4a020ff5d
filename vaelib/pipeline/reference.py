"""Our likelihood against the literature: the VAE of Burda et al. (2015) on dynamically binarized MNIST.

    python -m vaelib.reference                  # the paper's protocol, all 8 stages (3,280 epochs), NLL K=5,000
    python -m vaelib.reference --epochs 364     # the first 6 stages; the same command with more epochs resumes

Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders" (2015), Table 1: a VAE with one
stochastic layer (784-200-200-50, tanh; core.models.BurdaVAE), trained with k=1 on dynamically binarized
MNIST (data: "mnist-binarized"), reaches a test negative log-likelihood of 86.76 nats, estimated with
the IWAE bound at K=5,000. This command trains that model by the authors' own protocol (training.protocols
"burda": their Adam, the summed one-sample objective, minibatches in order, 8 stages of 3^(i-1) epochs at
falling learning rates, the first 59,600 training images, batch 20), keeps its weights at the end of every
stage, and evaluates each with the IWAE bound: on the first --curve-images test images for the curve by
stage, on the whole (fixed-binarized) test set for the last epoch. The steps are tasks on the report's Dask
engine (the snapshots are evaluated in parallel). Writes results/reference_by_epoch.csv,
results/reference.json (the side-by-side with the paper, settings, times, provenance) and
figures/reference_nll.png, and renders REPORT.md again when a report lives in the same folders (its
section "Against the literature").
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path

from ..analysis import tables, writeup
from ..analysis.reference import by_epoch_table, plot, summary
from ..config.reference import DRAW_K, DRAWS, PAPER, TRAIN_IMAGES, config, pieces, snapshot_epochs, test_size
from ..config.run import ConfigError, RunConfig, check_device
from ..data import datasets as data
from ..evaluation.nll import cached
from ..infra import paths
from ..infra.cpushare import available_cores
from ..infra.memwatch import PeakMemory
from ..training import runs
from . import launch
from .schedule import Task, cluster, describe, run_all
from .workers import RULE, set_budget, this_machine
from ..infra import logs
from ..infra.faults import EXIT_CODES, guard


def trained(cfg: RunConfig, folder: Path) -> bool:
    """A finished run of exactly this config by today's training code is in `folder`."""
    saved = runs.read_config(folder)
    return (saved is not None and not runs.config_differences(saved, cfg) and runs.is_finished(folder)
            and not runs.is_stale(folder))


def build_tasks(cfg: RunConfig, runs_dir: Path, k: int, curve_images: int, threads: int | None,
                device: str = "auto") -> list[Task]:
    """Train (keeping the snapshots), then every snapshot's curve point and the whole-test-set NLL in pieces."""
    threads_arg = ["--threads", str(threads or 0), "--device", device]
    train_args = ["-m", "vaelib", "train", "--arch", cfg.arch, "--latent-dim", str(cfg.latent_dim),
                  "--dataset", cfg.dataset, "--epochs", str(cfg.epochs), "--batch-size", str(cfg.batch_size),
                  "--lr", str(cfg.lr), "--seed", str(cfg.seed), "--runs-dir", str(runs_dir), *threads_arg,
                  "--protocol", cfg.protocol, "--extend",
                  "--quiet", "--snapshot-epochs", *map(str, snapshot_epochs(cfg.epochs)[:-1])]  # the last: weights.pt
    train_args += [] if cfg.train_limit is None else ["--train-limit", str(cfg.train_limit)]
    train_args += [] if cfg.test_limit is None else ["--test-limit", str(cfg.test_limit)]
    per_epoch = 20 * (cfg.train_limit or 60000) / 60000 * 20 / cfg.batch_size
    folder = runs_dir / cfg.name
    done = trained(cfg, folder)
    tasks = [] if done else [Task("train reference", partial(launch.python, train_args, "train reference"),
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
        tasks.append(Task(label, partial(launch.python, args, label),
                          cost=0.12 * kk / 1000 * (b - a), deps=() if done else ("train reference",)))
    return tasks


def run(cfg: RunConfig, where: paths.Paths, k: int, curve_images: int, jobs: int, address: str | None,
        command: str, device: str = "auto") -> dict:
    """The whole reference comparison on the engine; the result files' contents."""
    start = time.perf_counter()
    with PeakMemory(every=10.0) as watch, cluster(jobs, address) as client:
        engine = f"Dask {'scheduler ' + address if address else 'LocalCluster'}: {describe(client)}"
        threads = None if address else max(1, available_cores() // jobs)   # the worker rule's threads
        tasks = build_tasks(cfg, where.runs, k, curve_images, threads, device)
        if not tasks:
            print(f"{where.runs / cfg.name}: trained and evaluated by today's code, reused")
        run_all(tasks, client, desc="reference")
    folder = where.runs / cfg.name
    table = by_epoch_table(folder, k, curve_images)
    info = summary(folder, table, k, (time.perf_counter() - start) / 60, engine, command)
    info["peak_memory_mb"] = watch.mb
    tables.save_text(table.to_csv(index=False), where.results / "reference_by_epoch.csv")   # checked (schema)
    tables.save_text(json.dumps(info, indent=1, default=str), where.results / "reference.json")
    plot(table, info, where.figures / "reference_nll.png")
    if (where.results / "run.json").is_file():      # a report lives here: its write-up gains this section
        writeup.render_to(where.results, where.results.parent / "REPORT.md")
    return info


@guard
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vaelib.reference", description=__doc__, epilog=EXIT_CODES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", default=3280, help="training epochs (default: the paper's %(default)s; fewer "
                                                       "stops early, and a rerun with more resumes)")
    parser.add_argument("--batch-size", default=20)
    parser.add_argument("--lr", default=1e-3)
    parser.add_argument("--seed", default=0)
    parser.add_argument("--k", type=int, default=5000, help="importance samples of the NLL estimate")
    parser.add_argument("--curve-images", type=int, default=500, help="test images for the curve by epoch")
    parser.add_argument("--train-limit", default=TRAIN_IMAGES, help="the first N training images (default: "
                                                                     "the authors' %(default)s; 400 held out)")
    parser.add_argument("--protocol", default="burda", help="burda (the authors' code, default) or plain (the sweep's)")
    parser.add_argument("--test-limit", default=None)
    parser.add_argument("--jobs", type=int, default=None, help=f"local workers (default: from the machine: {RULE})")
    parser.add_argument("--scheduler", default=None, help="address of a running Dask scheduler")
    parser.add_argument("--device", default="auto", help="where training and the NLL run: auto (CUDA when "
                                                         "available), cpu or cuda[:N]")
    parser.add_argument("--out", default=None, help="put runs/, figures/, results/ here")
    parser.add_argument("--runs-dir", default=None)
    parser.add_argument("--results-dir", default=None)
    parser.add_argument("--figures-dir", default=None)
    args = parser.parse_args(argv)
    logs.show()
    try:
        cfg = config(args.epochs, args.batch_size, args.lr, args.seed, args.train_limit, args.test_limit,
                     protocol=args.protocol)
        args.jobs = args.jobs or this_machine().jobs
        set_budget(args.jobs)
        check_device(args.device)
        for name in ("k", "curve_images", "jobs"):
            if getattr(args, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')}={getattr(args, name)} is not allowed; expected an integer >= 1")
        data.verify(cfg.dataset)
    except (ConfigError, data.DataError) as e:
        parser.error(str(e))
    where = paths.resolve(out=args.out, runs_dir=args.runs_dir, figures_dir=args.figures_dir,
                          results_dir=args.results_dir)
    where.make()
    info = run(cfg, where, args.k, args.curve_images, args.jobs, args.scheduler,
               "python -m vaelib.reference " + " ".join(argv if argv is not None else sys.argv[1:]), args.device)
    ours = info["ours"]
    print(f"NLL {ours['nll']:.2f} nats (K={ours['k']:,}, {ours['test_images']:,} test images) after "
          f"{ours['epochs']} epochs; the paper: {PAPER['vae_nll']} after {PAPER['epochs']:,}; gap "
          f"{info['gap_nats']:+.2f} nats. {where.results / 'reference.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
