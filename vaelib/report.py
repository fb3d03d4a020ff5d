"""Run the whole report: train every model of the sweep, evaluate them, run the analysis notebooks,
render REPORT.md.

    python -m vaelib.report                              # the full report: 10 models x 3 seeds x 15 epochs
    python -m vaelib.report --epochs 2 --dims 2 50 --seeds 0 --out /tmp/quick   # a quick look elsewhere
    python -m vaelib.report --smoke --out /tmp/x         # CI-sized, everything under /tmp/x

Steps (each a task on a Dask cluster: by default a local one of `--jobs` single-thread workers, or the
scheduler at `--scheduler` / $VAELIB_SCHEDULER; costliest first, a step starts when what it needs is done):
the digit classifier; notebook 01 for every run (training); the evaluation of every run
(`python -m vaelib.metrics`: ELBO, IWAE bound on the first seed, reconstruction and k-NN accuracy,
latent diagnostics); results/metrics.csv; notebooks 02-05 (figures/, results/); REPORT.md.

Finished runs of the same config and code are reused. Runs made by other training code are listed
and retrained (the old folders are kept aside) unless --keep-stale; --force retrains everything.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

from . import data, launch, metrics, paths, provenance, runs, tables, writeup
from .config import ConfigError
from .cpushare import available_cores
from .memwatch import PeakMemory
from .schedule import SCHEDULER_ENV, Task, TaskFailed, cluster, describe, run_all, worker_threads
from .sweep import Sweep

NOTEBOOKS = paths.PROJECT / "notebooks"
ANALYSIS = ("02_compare_losses", "03_explore_latent_space", "04_embed_test_set", "05_beyond")

# Every figure of the report: file name -> (notebook that makes it, what it shows).
FIGURES = {
    "loss_curves.png": ("02_compare_losses", "total, reconstruction and KL per epoch, train and test; mean and spread over seeds"),
    "final_by_dim.png": ("02_compare_losses", "final test metrics against d, per architecture, mean +- std over seeds"),
    "recon_evolution_conv_2.png": ("02_compare_losses", "test and train reconstructions of conv d=2 (first seed) at epochs 1, 5, 10, 15"),
    "recon_final.png": ("02_compare_losses", "final test reconstructions at the smallest and largest d"),
    "latent_grid_linear.png": ("03_explore_latent_space", "5x5 grid z1, z2 in {-2..2} decoded by linear d=2"),
    "latent_grid_conv.png": ("03_explore_latent_space", "5x5 grid z1, z2 in {-2..2} decoded by conv d=2"),
    "latent_grid_fine_linear.png": ("03_explore_latent_space", "15x15 grid at N(0,1) quantiles, linear d=2"),
    "latent_grid_fine_conv.png": ("03_explore_latent_space", "15x15 grid at N(0,1) quantiles, conv d=2"),
    "latent_embedding_linear.png": ("04_embed_test_set", "test-set latent means of linear d=2 by digit"),
    "latent_embedding_conv.png": ("04_embed_test_set", "test-set latent means of conv d=2 by digit"),
    "latent_knn_confusion.png": ("04_embed_test_set", "5-NN confusion matrices in the 2-D latent spaces"),
    "latent_pca.png": ("04_embed_test_set", "test-set means of the d>2 models on their two principal axes"),
    "active_units.png": ("04_embed_test_set", "active latent units and KL per dimension against d"),
    "iwae_vs_elbo.png": ("05_beyond", "IWAE bound and ELBO on the test set against d (first seed)"),
    "recon_confusion_d2.png": ("05_beyond", "classifier confusion on the test reconstructions of the 2-D models"),
    "prior_samples.png": ("05_beyond", "samples decoded from z ~ N(0, I) at the smallest and largest d"),
    "interpolations.png": ("05_beyond", "straight-line latent interpolations between test digits"),
    "fashion_latent_grid.png": ("05_beyond", "Fashion-MNIST appendix model: latent grid at N(0,1) quantiles"),
    "fashion_latent_embedding.png": ("05_beyond", "Fashion-MNIST appendix model: test-set means by class"),
}
TWO_D_ONLY = {"recon_evolution_conv_2.png", "latent_grid_linear.png", "latent_grid_conv.png",
              "latent_grid_fine_linear.png", "latent_grid_fine_conv.png", "latent_embedding_linear.png",
              "latent_embedding_conv.png", "latent_knn_confusion.png", "recon_confusion_d2.png",
              "fashion_latent_grid.png", "fashion_latent_embedding.png"}


def expected_figures(sweep: Sweep) -> list[str]:
    """The figures a report over `sweep` makes: 2-D figures need d=2, per-arch ones their arch."""
    out = []
    for name in FIGURES:
        if name in TWO_D_ONLY and not sweep.has_2d():
            continue
        if name.startswith("fashion") and "fashion" not in sweep.datasets:
            continue
        arch = next((a for a in ("linear", "conv") if f"_{a}" in name), None)
        if arch and arch not in sweep.archs:
            continue
        if name == "latent_pca.png" and not any(d > 2 for d in sweep.dims):
            continue
        if name == "iwae_vs_elbo.png" and not sweep.iwae_k:
            continue
        out.append(name)
    return out


def default_jobs() -> int:
    import torch
    return 1 if torch.cuda.is_available() else max(1, min(2, available_cores()))


def classifier_path(where: paths.Paths, sweep: Sweep) -> Path:
    suffix = "" if sweep.train_limit is None else f"_{sweep.train_limit}"
    return where.runs / f"classifier_mnist{suffix}.pt"


def stale_runs(sweep: Sweep, runs_dir: Path) -> list[str]:
    return [c.name for c in sweep.configs() if runs.is_stale(runs_dir / c.name)]


def notebook_setup(sweep, smoke_test: bool, runs_dir=None, figures_dir=None, results_dir=None,
                   executed_dir=None) -> tuple[Sweep, paths.Paths]:
    """What an analysis notebook does first: its sweep and folders from its parameters (and, under CI,
    the tiny runs it reads)."""
    sweep = Sweep.from_params(sweep, smoke=smoke_test)
    where = paths.resolve(smoke_test, None, runs_dir, figures_dir, results_dir, executed_dir).make()
    if smoke_test:
        prepare_smoke(sweep, where)
    return sweep, where


def prepare_smoke(sweep: Sweep, where: paths.Paths) -> None:
    """For a notebook run alone under CI: train and evaluate the tiny runs it reads (seconds; reused after).

    The same steps as the runner's (training, classifier, evaluation, metrics table), in this process.
    """
    from . import classifier, metrics
    from .train import train
    quiet = lambda *_: None  # noqa: E731
    for config in sweep.configs():
        train(config, where.runs, progress=False, log=quiet)
    clf = classifier_path(where, sweep)
    classifier.ensure(clf, train_limit=sweep.train_limit, progress=False, log=quiet)
    for config in sweep.configs():
        if config.dataset == sweep.dataset:
            metrics.evaluate_run(where.runs / config.name, clf, log=quiet,
                                 iwae_k=sweep.iwae_k if config.seed == sweep.seeds[0] else None)
    write_metrics_table(sweep, where)


def write_figure_index(where: paths.Paths, sweep: Sweep, command: str) -> None:
    lines = ["# Figures", "", f"Made by `{command}` (see README.md); do not edit by hand.", "",
             "| figure | notebook | shows |", "|---|---|---|"]
    lines += [f"| [{name}]({name}) | notebooks/{FIGURES[name][0]}.ipynb | {FIGURES[name][1]} |"
              for name in expected_figures(sweep)]
    (where.figures / "README.md").write_text("\n".join(lines) + "\n")


def build_tasks(sweep: Sweep, where: paths.Paths, threads: int | None, force: bool, keep_stale: bool,
                stale: set) -> list[Task]:
    """The report's task graph. `threads` per task (None: each task shares its machine's cores itself)."""
    scale = (sweep.epochs / 15) * ((sweep.train_limit or 60000) / 60000)
    clf = classifier_path(where, sweep)
    threads_arg = [] if threads is None else ["--threads", str(threads)]
    tasks = [Task("classifier", partial(launch.python, ["-m", "vaelib.classifier", str(clf), *threads_arg]
                                        + ([] if sweep.train_limit is None else ["--train-limit", str(sweep.train_limit)]),
                                        "classifier"),
                  cost=1e9)]   # first: every evaluation needs it
    for c in sweep.configs():
        params = {"arch": c.arch, "latent_dim": c.latent_dim, "epochs": c.epochs, "seed": c.seed,
                  "dataset": c.dataset, "train_limit": c.train_limit, "test_limit": c.test_limit,
                  "runs_dir": str(where.runs), "num_threads": threads or 0, "force": force or c.name in stale,
                  "keep_stale": keep_stale, "smoke_test": False}
        out = where.executed / f"01_train_{c.name}.ipynb"
        tasks.append(Task(f"train {c.name}", partial(launch.notebook, "01_train", out, params),
                          cost=(180 if c.arch == "conv" else 55) * scale + 5))
        if c.dataset != sweep.dataset:
            continue
        iwae = sweep.iwae_k if c.seed == sweep.seeds[0] else 0
        cmd = ["-m", "vaelib.metrics", str(where.runs / c.name), "--classifier", str(clf),
               "--iwae-k", str(iwae), *threads_arg]
        iwae_cost = (700 if c.arch == "conv" else 140) * (iwae / 1000) * ((sweep.test_limit or 10000) / 10000)
        tasks.append(Task(f"evaluate {c.name}", partial(launch.python, cmd, f"evaluate {c.name}",
                                                        {"MALLOC_MMAP_THRESHOLD_": "65536"}),  # see metrics.iwae_bound
                          cost=iwae_cost + 15 * scale, deps=(f"train {c.name}", "classifier")))
    everything = tuple(t.name for t in tasks)
    tasks.append(Task("metrics table", partial(write_metrics_table, sweep, where), deps=everything))
    common = {**where.as_params(), "sweep": sweep.to_params(), "smoke_test": False}
    for nb in ANALYSIS:
        tasks.append(Task(nb, partial(launch.notebook, nb, where.executed / f"{nb}.ipynb", common),
                          cost=30, deps=everything + ("metrics table",)))
    return tasks


def write_metrics_table(sweep: Sweep, where: paths.Paths) -> None:
    tables.save(tables.metrics_table(where.runs, sweep), where.results / "metrics.csv")


def write_run_info(where: paths.Paths, sweep: Sweep, seconds: dict, wall: float, watch: PeakMemory,
                   jobs: int, threads: int | None, engine: str, command: str) -> dict:
    """results/run.json: what made this report, and how long each kind of step took."""
    run_prov = [runs.read_provenance(where.runs / c.name) or {} for c in sweep.configs()]
    first = runs.read_config(where.runs / sweep.configs()[0].name)
    info = {"command": command, "sweep": sweep.to_params(), "jobs": jobs, "engine": engine,
            "training": {k: first[k] for k in ("batch_size", "lr", "beta")},
            "images": {split: len(data.load(sweep.dataset, train=split == "train",
                                            limit=sweep.train_limit if split == "train" else sweep.test_limit)[1])
                       for split in ("train", "test")},
            "threads_per_job": threads or "shared by the jobs of each machine", "cores": available_cores(),
            "cpu": _cpu_name(), "wall_minutes": wall / 60, "peak_memory_mb": watch.mb,
            "all_cores_busy_share": watch.all_busy_share, "machine_cpu_use": watch.cpu_use,
            "minutes": {kind: sum(s for name, s in seconds.items() if name.startswith(kind)) / 60
                        for kind in ("classifier", "train", "evaluate", "0")},
            "training_minutes_in_histories": sum(
                float(runs.load_history(where.runs / c.name)["seconds"].sum()) for c in sweep.configs()) / 60,
            "evaluation_minutes_in_metrics": sum(
                sum(metrics.read(where.runs / c.name)["seconds"].values()) for c in sweep.configs()
                if (where.runs / c.name / "metrics.json").is_file()) / 60,
            "runs_code": sorted({p.get("code", "unknown") for p in run_prov}),
            "runs_commits": sorted({p.get("commit", "no git") + ("+dirty" if p.get("dirty") else "")
                                    for p in run_prov}),
            "torch": sorted({p.get("torch", "unknown") for p in run_prov}),
            "devices": sorted({p.get("device", "unknown") for p in run_prov}),
            "report": provenance.record(provenance.EVALUATION_CODE)}
    info["minutes"]["notebooks"] = info["minutes"].pop("0")
    (where.results / "run.json").write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
    return info


def _cpu_name() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown"


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m vaelib.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    default = Sweep()
    parser.add_argument("--archs", nargs="+", default=list(default.archs))
    parser.add_argument("--dims", nargs="+", default=list(default.dims))
    parser.add_argument("--seeds", nargs="+", default=None, help=f"default: {list(default.seeds)} (smoke: 0 1)")
    parser.add_argument("--epochs", default=default.epochs)
    parser.add_argument("--datasets", nargs="+", default=list(default.datasets),
                        help="mnist first; each further one gets an appendix model")
    parser.add_argument("--iwae-k", default=None, help=f"importance samples (first seed only; 0 skips; "
                                                       f"default {default.iwae_k})")
    parser.add_argument("--force", action="store_true", help="retrain every run (old folders are kept aside)")
    parser.add_argument("--keep-stale", action="store_true", help="reuse runs made by other training code")
    parser.add_argument("--smoke", action="store_true", help="CI-sized runs (2,000/500 images, 1 epoch)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="local workers, one task each (default: 2 on a CPU, 1 with a GPU)")
    parser.add_argument("--scheduler", default=os.environ.get(SCHEDULER_ENV),
                        help=f"address of a running Dask scheduler whose workers share these folders "
                             f"(default: ${SCHEDULER_ENV}; unset: a local cluster of --jobs workers)")
    parser.add_argument("--out", default=None, help="put runs/, figures/, results/, executed/ and REPORT.md here")
    for name in ("runs", "figures", "results", "executed"):
        parser.add_argument(f"--{name}-dir", default=None)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    try:   # every setting and the data are checked before anything runs
        settings = {"archs": args.archs, "dims": args.dims, "epochs": args.epochs, "datasets": args.datasets}
        if args.seeds is not None:
            settings["seeds"] = args.seeds
        sweep = Sweep.from_params(settings, smoke=args.smoke)
        if args.iwae_k is not None:
            sweep = Sweep.from_params({**sweep.to_params(), "iwae_k": args.iwae_k})
        for dataset in sweep.datasets:
            data.verify(dataset)
    except (ConfigError, ValueError, data.DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    where = paths.resolve(args.smoke, args.out, args.runs_dir, args.figures_dir, args.results_dir,
                          args.executed_dir).make()
    stale = set(stale_runs(sweep, where.runs))
    if stale:
        verb = "reused as they are (--keep-stale)" if args.keep_stale else \
            "retrained (old folders kept as NAME.replaced-<time>; --keep-stale reuses them)"
        print(f"{len(stale)} run(s) were made by other training code than today's "
              f"(code {provenance.fingerprint()}): {', '.join(sorted(stale))}; they will be {verb}")
    jobs = args.jobs or default_jobs()
    threads = None if args.scheduler else max(1, available_cores() // jobs)
    command = " ".join(["python -m vaelib.report", *(sys.argv[1:] if argv is None else argv)]).strip()
    start = time.perf_counter()
    with PeakMemory(every=1.0) as watch:
        try:
            with cluster(jobs, args.scheduler) as client:
                engine = f"Dask {'scheduler ' + args.scheduler if args.scheduler else 'LocalCluster'}: {describe(client)}"
                jobs = worker_threads(client)
                print(f"report over {len(sweep.configs())} runs ({sweep.to_params()}) into {where.runs.parent}; {engine}")
                seconds = run_all(build_tasks(sweep, where, threads, args.force, args.keep_stale,
                                              set() if args.keep_stale else stale), client)
        except TaskFailed as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    wall = time.perf_counter() - start
    write_figure_index(where, sweep, command)
    info = write_run_info(where, sweep, seconds, wall, watch, jobs, threads, engine, command)
    report = writeup.render_to(where.results, where.results.parent / "REPORT.md")
    print(f"training {info['minutes']['train']:.1f} task-min, evaluation {info['minutes']['evaluate']:.1f} task-min, "
          f"notebooks {info['minutes']['notebooks']:.1f} task-min; peak memory (PSS, all processes of the report "
          f"together) {watch.mb:.0f} MB; every core busy {100 * watch.all_busy_share:.0f}% of the time "
          f"(machine CPU use {100 * watch.cpu_use:.0f}%)")
    print(f"total wall time: {wall / 60:.1f} min; figures in {where.figures}, tables in {where.results}, "
          f"executed notebooks in {where.executed}, write-up {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
