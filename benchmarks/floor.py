"""The report's arithmetic, the least time it can take on this machine, and what its runs took.

Counts (torch.utils.flop_counter: matrix products and convolutions) the floating-point operations of the default
report (vaelib.config.sweep.Sweep: every run of the grid, the extras and the appendix): each run's training
steps (forward and backward, batch 128) over its epochs, its test-set evaluation after every epoch (forward),
and the IWAE bound of the runs that have one (the decoder over K samples of each test image; the encoder once
per image is left out). Divided by this machine's measured float32 peak (benchmarks.iwae.matmul_rate: the best
large matrix product on one thread) times the cores, that is the floor: the wall time of a report whose every
operation ran at the peak on every core, with nothing else to do.

With the runs in --runs-dir (default: the project's runs/), it also prints what they recorded: the training
seconds of their histories (steps and per-epoch evaluation) and the bound seconds of their metrics.json, and
the rate they reached as a share of the peak. Those seconds were recorded on whichever machine trained each
run; this machine's peak may not be theirs.

    python -m benchmarks.floor [--cores 2] [--runs-dir runs]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

from vaelib.config.sweep import Sweep
from vaelib.core.models import build_model
from vaelib.infra import paths

from .iwae import matmul_rate
from .sweep import train_flops_per_image

TRAIN_IMAGES, TEST_IMAGES = 60_000, 10_000


def _per_image(arch: str, d: int, what: str, batch: int = 128) -> float:
    if what == "train step":
        return train_flops_per_image(arch, d, batch)
    model = build_model(arch, d)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.rand(batch, 1, 28, 28)) if what == "forward" else model.decode(torch.rand(batch, d))
    return counter.get_total_flops() / batch


def recorded(folder: Path) -> dict:
    """The seconds a finished run recorded: training (steps and per-epoch evaluation) and its bound."""
    out = {"train_s": float("nan"), "bound_s": float("nan")}
    if (folder / "history.csv").is_file():
        history = pd.read_csv(folder / "history.csv")
        out["train_s"] = float(history["seconds"].sum() + history["eval_seconds"].sum())
    if (folder / "metrics.json").is_file():
        out["bound_s"] = float(json.loads((folder / "metrics.json").read_text())["seconds"]["bounds"])
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.floor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cores", type=int, default=2, help="cores the report runs on (the report's jobs)")
    parser.add_argument("--runs-dir", default=str(paths.resolve().runs))
    args = parser.parse_args(argv)
    if args.cores < 1:
        raise SystemExit(f"--cores={args.cores} is not allowed; expected an integer >= 1")
    sweep, runs_dir = Sweep(), Path(args.runs_dir)
    peak = matmul_rate() * 1e9
    rows, cache = [], {}
    for c in sweep.configs():
        def flops(what, c=c):
            key = (c.arch, c.latent_dim, what)
            if key not in cache:
                cache[key] = _per_image(c.arch, c.latent_dim, what)
            return cache[key]
        k = sweep.iwae_k_for(c) if c.dataset == sweep.dataset else 0
        train = (flops("train step") * TRAIN_IMAGES + flops("forward") * TEST_IMAGES) * c.epochs
        rows.append({"arch": c.arch, "run": c.name, "train_flop": train,
                     "bound_flop": flops("decode") * TEST_IMAGES * k if k else 0.0,
                     **recorded(runs_dir / c.name)})
    runs = pd.DataFrame(rows)
    table = runs.groupby("arch", sort=False).agg(runs=("run", "size"), train_tflop=("train_flop", "sum"),
                                                 bound_tflop=("bound_flop", "sum"), train_s=("train_s", "sum"),
                                                 bound_s=("bound_s", "sum"), recorded=("train_s", "count"))
    table[["train_tflop", "bound_tflop"]] /= 1e12
    table["floor_task_min"] = (table["train_tflop"] + table["bound_tflop"]) * 1e12 / peak / 60
    table["recorded_task_min"] = (table["train_s"] + table["bound_s"]) / 60
    table["train_share_of_peak"] = table["train_tflop"] * 1e12 / table["train_s"] / peak
    with_bound = runs[runs["bound_flop"] > 0].groupby("arch", sort=False)
    table["bound_share_of_peak"] = with_bound["bound_flop"].sum() / with_bound["bound_s"].sum() / peak
    total_flop = runs["train_flop"].sum() + runs["bound_flop"].sum()
    floor_min = total_flop / peak / args.cores / 60
    print(f"measured float32 peak {peak / 1e9:.0f} GFLOP/s per core (one thread); {args.cores} core(s)")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.drop(columns=["train_s", "bound_s"]).to_string(float_format=lambda v: f"{v:.3g}"))
    print(f"the report: {total_flop / 1e12:.0f} TFLOP ({runs['train_flop'].sum() / 1e12:.0f} training, "
          f"{runs['bound_flop'].sum() / 1e12:.0f} IWAE bounds); at the peak on {args.cores} core(s) at least "
          f"{floor_min:.1f} min of wall time, before any start-up, data loading, evaluation other than the bound, "
          f"or notebook")
    result = {"peak_gflops_per_core": round(peak / 1e9, 1), "cores": args.cores,
              "report_tflop": round(total_flop / 1e12, 1), "floor_wall_min": round(floor_min, 1),
              "runs_recorded": int(table["recorded"].sum()),
              "recorded_task_min": round(float(table["recorded_task_min"].sum()), 1)}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
