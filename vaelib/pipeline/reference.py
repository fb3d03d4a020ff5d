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

from ..analysis import tables, writeup
from ..analysis.reference import by_epoch_table, plot, summary
from ..config.reference import PAPER, TRAIN_IMAGES, config
from ..config.run import ConfigError, RunConfig, check_device
from ..data import datasets as data
from ..infra import paths
from .schedule import execute
from .tasks import reference_tasks
from .workers import engine_options, local_workers
from ..infra import logs
from ..infra.faults import EXIT_CODES, guard


def run(cfg: RunConfig, where: paths.Paths, k: int, curve_images: int, jobs: int, threads: int | None,
        address: str | None, command: str, device: str = "auto") -> dict:
    """The whole reference comparison on the engine (`threads` per task); the result files' contents."""
    tasks = reference_tasks(cfg, where.runs, k, curve_images, threads, device)
    if not tasks:
        print(f"{where.runs / cfg.name}: trained and evaluated by today's code, reused")
    done = execute(tasks, jobs, address, desc="reference")
    folder = where.runs / cfg.name
    table = by_epoch_table(folder, k, curve_images)
    info = summary(folder, table, k, done["wall"] / 60, done["engine"], command)
    info["peak_memory_mb"] = done["watch"].mb
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
    engine_options(parser, ("runs", "results", "figures"), "runs/, figures/, results/")
    args = parser.parse_args(argv)
    logs.show()
    try:
        cfg = config(args.epochs, args.batch_size, args.lr, args.seed, args.train_limit, args.test_limit,
                     protocol=args.protocol)
        _, args.jobs, threads, _ = local_workers(args.jobs, args.scheduler)
        check_device(args.device)
        for name in ("k", "curve_images", "jobs"):
            if getattr(args, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')}={getattr(args, name)} is not allowed; expected an integer >= 1")
        data.verify(cfg.dataset)
    except (ConfigError, data.DataError) as e:
        parser.error(str(e))
    where = paths.resolve(out=args.out, runs_dir=args.runs_dir, figures_dir=args.figures_dir,
                          results_dir=args.results_dir).make()
    info = run(cfg, where, args.k, args.curve_images, args.jobs, threads, args.scheduler,
               " ".join(["python -m vaelib.reference", *argv]), args.device)
    ours = info["ours"]
    print(f"NLL {ours['nll']:.2f} nats (K={ours['k']:,}, {ours['test_images']:,} test images) after "
          f"{ours['epochs']} epochs; the paper: {PAPER['vae_nll']} after {PAPER['epochs']:,}; gap "
          f"{info['gap_nats']:+.2f} nats. {where.results / 'reference.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
