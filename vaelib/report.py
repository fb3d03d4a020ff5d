"""Run the whole report: notebook 01 for every (arch, d) of the sweep, then notebooks 02-04.

    python -m vaelib.report                      # the full report: 10 models x 15 epochs
    python -m vaelib.report --epochs 2 --dims 2 50 --runs-dir /tmp/r --figures-dir /tmp/f   # quick look
    python -m vaelib.report --smoke --out /tmp/x # CI-sized pipeline, everything under /tmp/x

Executed notebooks go to executed/ (not in git). Figures go to figures/ with stable names, tables to
results/. Finished runs of the same config are reused; --force retrains them (the old run folders are
kept aside). Independent models train in parallel processes, one torch thread each, which beats
threads for models this small on a CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from . import data
from .config import ConfigError, RunConfig
from .memwatch import PeakMemory
from .models import ARCHS
from .notebook import PROJECT, SMOKE

NOTEBOOKS = PROJECT / "notebooks"
SWEEP_DIMS = (2, 3, 5, 10, 50)

# Every figure of the report: file name -> (notebook that makes it, what it shows).
FIGURES = {
    "loss_curves.png": ("02_compare_losses", "total, reconstruction and KL per epoch, train and test, all runs"),
    "final_by_dim.png": ("02_compare_losses", "final test metrics against d, per architecture"),
    "recon_evolution_conv_2.png": ("02_compare_losses", "test reconstructions of conv d=2 at epochs 1, 5, 10, 15"),
    "recon_final.png": ("02_compare_losses", "final test reconstructions, linear/conv x d=2/50"),
    "latent_grid_linear.png": ("03_explore_latent_space", "5x5 grid z1, z2 in {-2..2} decoded by linear d=2"),
    "latent_grid_conv.png": ("03_explore_latent_space", "5x5 grid z1, z2 in {-2..2} decoded by conv d=2"),
    "latent_grid_fine_linear.png": ("03_explore_latent_space", "15x15 grid at N(0,1) quantiles, linear d=2"),
    "latent_grid_fine_conv.png": ("03_explore_latent_space", "15x15 grid at N(0,1) quantiles, conv d=2"),
    "latent_embedding_linear.png": ("04_embed_test_set", "test-set latent means of linear d=2 by digit"),
    "latent_embedding_conv.png": ("04_embed_test_set", "test-set latent means of conv d=2 by digit"),
    "latent_knn_confusion.png": ("04_embed_test_set", "5-NN confusion matrices in the 2-D latent spaces"),
    "latent_pca.png": ("04_embed_test_set", "test-set means of the d>2 models on their two principal axes"),
    "iwae_vs_elbo.png": ("05_beyond", "IWAE bound (K=1000) and ELBO on the test set against d"),
    "recon_confusion_d2.png": ("05_beyond", "classifier confusion on the test reconstructions of the 2-D models"),
    "prior_samples.png": ("05_beyond", "samples decoded from z ~ N(0, I), linear/conv x d=2/50"),
    "interpolations.png": ("05_beyond", "straight-line latent interpolations between test digits"),
    "fashion_latent_grid.png": ("05_beyond", "Fashion-MNIST conv d=2: latent grid at N(0,1) quantiles"),
    "fashion_latent_embedding.png": ("05_beyond", "Fashion-MNIST conv d=2: test-set means by class"),
}
TABLES = {"summary.csv": "02_compare_losses", "knn_accuracy.csv": "04_embed_test_set", "beyond.csv": "05_beyond"}
BEYOND = {"05_beyond"}


def papermill(notebook: str, out: Path, params: dict, cwd: Path = NOTEBOOKS) -> float:
    """Execute one notebook in its own kernel process; returns its wall time in seconds."""
    cmd = [sys.executable, "-m", "papermill", str(NOTEBOOKS / f"{notebook}.ipynb"), str(out),
           "--cwd", str(cwd), "--no-progress-bar", "--log-level", "WARNING", "-k", "python3",
           "-y", json.dumps(params)]  # JSON is YAML: types (bool, None, lists) arrive intact
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-25:])
        raise RuntimeError(f"{notebook} failed (executed copy: {out}):\n{tail}")
    return time.perf_counter() - start


def default_jobs() -> int:
    import torch
    return 1 if torch.cuda.is_available() else max(1, min(2, os.cpu_count() or 1))


def write_figure_index(figures_dir: Path, results_dir: Path, command: str, skip=()) -> None:
    lines = ["# Figures", "", f"Made by `{command}` (see README.md); do not edit by hand.", "",
             "| figure | notebook | shows |", "|---|---|---|"]
    lines += [f"| [{name}]({name}) | notebooks/{nb}.ipynb | {what} |" for name, (nb, what) in FIGURES.items()
              if nb not in skip]
    lines += ["", "Tables, in `results/`: " + ", ".join(f"`{t}` ({nb})" for t, nb in TABLES.items() if nb not in skip) + "."]
    (figures_dir / "README.md").write_text("\n".join(lines) + "\n")


def train_all(configs, jobs, threads, runs_dir, executed, force, smoke) -> dict:
    """Notebook 01 for every config, `jobs` at once; returns each one's wall seconds."""
    times = {}
    with ThreadPoolExecutor(jobs) as pool:
        futures = {pool.submit(papermill, "01_train", executed / f"01_train_{c.name}.ipynb",
                               {"arch": c.arch, "latent_dim": c.latent_dim, "epochs": c.epochs, "seed": c.seed,
                                "dataset": c.dataset, "runs_dir": str(runs_dir), "num_threads": threads,
                                "force": force, "smoke_test": smoke}): c for c in configs}
        for future in tqdm(as_completed(futures), total=len(futures), desc=f"training ({jobs} at once)"):
            config = futures[future]
            times[config.name] = future.result()
            tqdm.write(f"  {config.name}: {times[config.name]:.0f}s")
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vaelib.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", nargs="+", default=list(ARCHS))
    parser.add_argument("--dims", nargs="+", default=list(SWEEP_DIMS))
    parser.add_argument("--epochs", default=15)
    parser.add_argument("--seed", default=0)
    parser.add_argument("--force", action="store_true", help="retrain finished runs of the same config")
    parser.add_argument("--smoke", action="store_true", help="CI-sized: %s" % SMOKE)
    parser.add_argument("--skip-beyond", action="store_true",
                        help="skip notebook 05 (IWAE, classifier, samples) and the Fashion-MNIST model")
    parser.add_argument("--jobs", type=int, default=None, help="models trained at once (default: 2 on a CPU)")
    parser.add_argument("--out", default=None, help="put runs/, figures/, results/ and executed/ under this folder")
    parser.add_argument("--runs-dir", default=None)
    parser.add_argument("--figures-dir", default=None)
    parser.add_argument("--results-dir", default=None)
    parser.add_argument("--executed-dir", default=None)
    args = parser.parse_args(argv)

    base = Path(args.out).resolve() if args.out else PROJECT
    runs_dir = Path(args.runs_dir or base / ("runs-smoke" if args.smoke and not args.out else "runs")).resolve()
    figures_dir = Path(args.figures_dir or base / "figures").resolve()
    results_dir = Path(args.results_dir or base / "results").resolve()
    executed = Path(args.executed_dir or base / "executed").resolve()
    if args.smoke and not (args.out or args.figures_dir):
        figures_dir, results_dir = runs_dir / "figures", runs_dir / "results"
    try:  # every config is checked before anything runs
        sizes = {"epochs": args.epochs, "seed": args.seed, **(SMOKE if args.smoke else {})}
        configs = [RunConfig(arch=a, latent_dim=d, **sizes) for a in args.archs for d in args.dims]
        if not args.skip_beyond:   # the appendix model of notebook 05
            configs.append(RunConfig(arch="conv", latent_dim=2, dataset="fashion", **sizes))
        data.verify("mnist")
        if not args.skip_beyond:
            data.verify("fashion")
    except (ConfigError, data.DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for folder in (runs_dir, figures_dir, results_dir, executed):
        folder.mkdir(parents=True, exist_ok=True)
    jobs = args.jobs or default_jobs()
    threads = max(1, (os.cpu_count() or 1) // jobs)
    # the costliest models first, so that the two workers finish together
    configs.sort(key=lambda c: (c.arch != "conv", -c.latent_dim))

    start = time.perf_counter()
    with PeakMemory(every=1.0) as peak:
        times = train_all(configs, jobs, threads, runs_dir, executed, args.force, args.smoke)
        train_seconds = time.perf_counter() - start
        common = {"runs_dir": str(runs_dir), "figures_dir": str(figures_dir), "smoke_test": args.smoke}
        for notebook, params in [("02_compare_losses", {**common, "results_dir": str(results_dir)}),
                                 ("03_explore_latent_space", common),
                                 ("04_embed_test_set", {**common, "results_dir": str(results_dir),
                                                        "dims": [int(d) for d in args.dims]}),
                                 ("05_beyond", {**common, "results_dir": str(results_dir), "jobs": jobs})]:
            if notebook in BEYOND and args.skip_beyond:
                continue
            times[notebook] = papermill(notebook, executed / f"{notebook}.ipynb", params)
            print(f"  {notebook}: {times[notebook]:.0f}s")
    command = " ".join(["python -m vaelib.report", *(sys.argv[1:] if argv is None else argv)])
    write_figure_index(figures_dir, results_dir, command.strip(), skip=BEYOND if args.skip_beyond else ())
    total = time.perf_counter() - start
    pd.DataFrame({"step": list(times), "seconds": list(times.values())}).to_csv(executed / "timings.csv", index=False)
    print(f"training: {train_seconds / 60:.1f} min for {len(configs)} models ({jobs} at once, {threads} thread(s) each)")
    print(f"peak memory (PSS, all processes of the report together): {peak.mb:.0f} MB")
    print(f"total wall time: {total / 60:.1f} min; figures in {figures_dir}, tables in {results_dir}, "
          f"executed notebooks in {executed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
