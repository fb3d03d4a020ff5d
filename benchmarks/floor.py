"""The report's arithmetic and memory traffic, the least time they can take on this machine, and what its runs took.

Counts, layer by layer, the floating-point operations (torch.utils.flop_counter: matrix products and
convolutions) and the bytes moved (see `layer_costs`) of each kind of work of the default report
(vaelib.config.sweep.Sweep: every run of the grid, the extras and the appendix):

- training steps: forward, loss, backward and Adam, batch 128, over the 60,000 training images each epoch;
- test evaluation: the forward pass and loss over the 10,000 test images after every epoch;
- IWAE bound (the runs that have one): the decoder over K samples of each test image, and log p(x|z) (the
  encoder, once per image, is left out).

Each layer's least time is the larger of its FLOPs at this machine's measured float32 peak (the best large matrix
product on one thread, benchmarks.machine.matmul_rate) and its bytes at the measured bandwidth of a STREAM-like
copy in torch of the same size (benchmarks.machine: arrays of 1 to 256 MiB, from a core's L2 to main memory;
per job, the lesser of one thread's and all threads' shared by the report's jobs). Summed over the layers that is the roofline floor of a run that does its layers
one after the other; the FLOP floor counts the arithmetic alone. Both are printed per architecture and kind of
work, and for the whole report on --cores cores.

With the runs' records it also prints what they took: each run's history (training seconds and, where recorded,
its per-epoch evaluation seconds) and its bound's seconds, from the run folders in --runs-dir, or where those
are not on this machine from the committed results/ (histories.csv, metrics.csv). Those seconds were recorded
on whichever machine trained each run; this machine's peak may not be theirs. --measure-bounds times today's
IWAE bound here, on --bound-images test images of an untrained model of each architecture and d (the bound's
time does not depend on the weights), projected to the report's bounds; with --against, another checkout's bound
too, right after this code's for each architecture and d (before and after in one table).

    python -m benchmarks.floor [--cores 2] [--runs-dir runs] [--measure-bounds [--against /tmp/old]] [--layers]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from vaelib.config.run import RunConfig
from vaelib.config.sweep import Sweep
from vaelib.core.bounds import EVAL_BATCH
from vaelib.core.iwae import SAMPLES_PER_CHUNK
from vaelib.core.losses import vae_loss
from vaelib.core.models import build_model, count_params
from vaelib.infra import paths

from .layers import _inputs
from .machine import bandwidth_for, bandwidths, matmul_rate

TRAIN_IMAGES, TEST_IMAGES = 60_000, 10_000
TRAIN_BATCH, BOUND_CHUNK = RunConfig.batch_size, SAMPLES_PER_CHUNK     # as the runs train and bound (EVAL_BATCH:
                                                                        # as they evaluate)
WORKS = ("train step", "test eval", "bound")
FLOAT = 4


def _leaves(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, m) for name, m in model.named_modules() if not list(m.children())]


def _flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def layer_costs(arch: str, d: int) -> pd.DataFrame:
    """Per layer and kind of work, the FLOPs and bytes of one image (of one latent sample for the bound).

    Bytes count each tensor a layer reads or writes once, in float32, as a layer-by-layer run has them: its
    input, its output and its parameters (once per batch) in the forward; in the backward the output's
    gradient, the saved input and the weights read, the input's gradient (not for the image) and the
    parameters' gradients written. A view (Flatten, Unflatten) moves nothing. The loss reads the logits and the
    image and (training) writes the logits' gradient; Adam reads parameter, gradient and two moments and writes
    three of them (7 x 4 bytes per parameter per step); the bound's log p(x|z) reads the logits once (the image
    is reused over its K samples). Caches are not counted: a chunk's activations (2,000 samples) and a batch's
    are larger than this machine's caches, so a layer's tensors come from and go to main memory."""
    torch.manual_seed(0)
    model = build_model(arch, d)
    x = torch.rand(TRAIN_BATCH, 1, 28, 28)
    inputs = _inputs(model, x, _leaves(model))
    rows, first = [], True
    for name, layer in _leaves(model):
        if name not in inputs:
            continue
        inp = inputs[name]
        with torch.no_grad():
            out = layer(inp.clone())
        view = out.numel() == inp.numel() and not any(isinstance(p, nn.Parameter) for p in layer.parameters()) \
            and isinstance(layer, (nn.Flatten, nn.Unflatten))
        params = sum(p.numel() for p in layer.parameters())
        fwd = _flops(lambda: layer(inp.clone()))
        grad_in = not first and inp.is_floating_point()
        leaf = inp.clone().requires_grad_(grad_in)
        y = layer(leaf)
        bwd = _flops(lambda: y.backward(torch.ones_like(y))) if y.requires_grad else 0
        if not view:
            first = False
        n_in, n_out = inp.numel() / TRAIN_BATCH, out.numel() / TRAIN_BATCH
        moved = 0 if view else n_in + n_out
        back = 0 if view else n_out + n_in + (n_in if grad_in else 0)
        decoder = name.startswith("decoder")
        rows.append({"layer": f"{name} {type(layer).__name__}", "decoder": decoder,
                     "train step_flop": (fwd + bwd) / TRAIN_BATCH,
                     "train step_bytes": (moved + back + params / TRAIN_BATCH * 4) * FLOAT,
                     "test eval_flop": fwd / TRAIN_BATCH, "test eval_bytes": (moved + params / EVAL_BATCH) * FLOAT,
                     "bound_flop": fwd / TRAIN_BATCH if decoder else 0.0,
                     "bound_bytes": (moved + params / BOUND_CHUNK) * FLOAT if decoder else 0.0})
    pixels = x[0].numel()
    rows.append({"layer": "loss / log p(x|z)", "decoder": True, "train step_flop": 0.0,
                 "train step_bytes": 3 * pixels * FLOAT, "test eval_flop": 0.0, "test eval_bytes": 2 * pixels * FLOAT,
                 "bound_flop": 0.0, "bound_bytes": pixels * FLOAT})
    rows.append({"layer": "Adam", "decoder": False, "train step_flop": 0.0,
                 "train step_bytes": 7 * count_params(model) * FLOAT / TRAIN_BATCH, "test eval_flop": 0.0,
                 "test eval_bytes": 0.0, "bound_flop": 0.0, "bound_bytes": 0.0})
    return pd.DataFrame(rows)


def check_flops(arch: str, d: int) -> None:
    """The layers' FLOPs add up to the whole training step's (the model's forward, loss and backward)."""
    model, x = build_model(arch, d), torch.rand(TRAIN_BATCH, 1, 28, 28)

    def step():
        logits, mu, logvar = model(x)
        vae_loss(logits, x, mu, logvar)[0].backward()
    whole = _flops(step) / TRAIN_BATCH
    parts = layer_costs(arch, d)["train step_flop"].sum()
    assert abs(parts - whole) <= 1e-6 * whole, (arch, d, parts, whole)


CALL = {"train step": TRAIN_BATCH, "test eval": EVAL_BATCH, "bound": BOUND_CHUNK}     # images (samples) per call


def seconds(costs: pd.DataFrame, work: str, peak: float, bandwidth: dict[int, float]) -> tuple[float, float]:
    """One image's (one sample's) least seconds of `work`: at the FLOP peak alone, and on the roofline, each
    layer's bytes at the copy bandwidth of a copy its size (machine.bandwidth_for: a batch's or chunk's tensors)."""
    flop, moved = costs[f"{work}_flop"], costs[f"{work}_bytes"]
    rate = moved.map(lambda b: bandwidth_for(bandwidth, b * CALL[work]))
    return float(flop.sum() / peak), float(((flop / peak).combine(moved / rate, max)).sum())


def recorded(runs_dir: Path) -> dict:
    """{run name: {work: seconds}} of the finished runs' records: their folders where they are here, else the
    committed results/ (which keep no per-epoch evaluation seconds)."""
    out = {}
    for folder in sorted(runs_dir.glob("*")) if runs_dir.is_dir() else []:
        if (folder / "history.csv").is_file():
            history = pd.read_csv(folder / "history.csv")
            out.setdefault(folder.name, {})["train step"] = float(history["seconds"].sum())
            if "eval_seconds" in history:
                out[folder.name]["test eval"] = float(history["eval_seconds"].sum())
        if (folder / "metrics.json").is_file():
            out.setdefault(folder.name, {})["bound"] = float(json.loads((folder / "metrics.json").read_text())["seconds"]["bounds"])
    if out:
        return out
    results = paths.resolve().results
    if (results / "histories.csv").is_file():
        for (arch, d, seed), h in pd.read_csv(results / "histories.csv").groupby(["arch", "latent_dim", "seed"]):
            out.setdefault(f"{arch}_{d}_s{seed}", {})["train step"] = float(h["seconds"].sum())
    if (results / "metrics.csv").is_file():
        for _, m in pd.read_csv(results / "metrics.csv").iterrows():
            if pd.notna(m.get("bounds_s")) and pd.notna(m.get("iwae_bound")):
                out.setdefault(f"{m['arch']}_{m['latent_dim']}_s{m['seed']}", {})["bound"] = float(m["bounds_s"])
    return out


OTHER = """
import sys, time, torch
from vaelib.core.iwae import iwae_bound
from vaelib.core.models import load_model
from vaelib.data import datasets as data
torch.set_num_threads(1)
model, x, k = load_model(sys.argv[1]), data.load("mnist", train=False, limit=int(sys.argv[2]))[0], int(sys.argv[3])
iwae_bound(model, x[:max(1, 2000 // k)], k=k)                # warm: one chunk, untimed
start = time.perf_counter()
out = iwae_bound(model, x, k=k)
print(time.perf_counter() - start)
torch.save(out, sys.argv[4])
"""


def other_code(checkout: str, run: str, images: int, k: int, wait: bool = True):
    """Another checkout's bound on the same images, in a child process run with its code (started in it: `-c` puts
    the current folder first on the path): (seconds, bounds); with wait=False, a function that waits for them."""
    tmp = tempfile.mkdtemp()
    child = subprocess.Popen([sys.executable, "-c", OTHER, run, str(images), str(k), f"{tmp}/b.pt"], cwd=checkout,
                             stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": checkout})

    def result():
        out, _ = child.communicate()
        if child.returncode:
            raise SystemExit(f"{checkout}'s bound failed (exit {child.returncode})")
        bounds_there = torch.load(f"{tmp}/b.pt")
        shutil.rmtree(tmp)
        return float(out.split()[-1]), bounds_there
    return result() if wait else result


def bound_seconds(arch: str, d: int, k: int, images: int, checkout: str | None = None) -> float:
    """The IWAE bound of this code (or of another checkout's, in a child process: other_code), one
    thread, on `images` test images of an untrained model: seconds per image."""
    from vaelib.core.iwae import iwae_bound
    from vaelib.core.models import save_weights
    from vaelib.data import datasets as data

    torch.manual_seed(0)
    model = build_model(arch, d).eval()
    if checkout:
        with tempfile.TemporaryDirectory() as tmp:
            save_weights(model, arch, f"{tmp}/weights.pt")
            return other_code(checkout, f"{tmp}/weights.pt", images, k)[0] / images
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        x = data.load("mnist", train=False, limit=images)[0]
        iwae_bound(model, x[:max(1, SAMPLES_PER_CHUNK // k)], k=k)
        start = time.perf_counter()
        iwae_bound(model, x, k=k)
        return (time.perf_counter() - start) / images
    finally:
        torch.set_num_threads(threads)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.floor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cores", type=int, default=2, help="cores the report runs on (the report's jobs)")
    parser.add_argument("--runs-dir", default=str(paths.resolve().runs))
    parser.add_argument("--measure-bounds", action="store_true", help="time today's bound here, per arch and d")
    parser.add_argument("--bound-images", type=int, default=20)
    parser.add_argument("--against", help="with --measure-bounds, also time another checkout's bound (git worktree)")
    parser.add_argument("--layers", action="store_true", help="print every layer's costs (d = 10)")
    args = parser.parse_args(argv)
    if args.cores < 1:
        raise SystemExit(f"--cores={args.cores} is not allowed; expected an integer >= 1")
    sweep = Sweep()
    peak, bandwidth = matmul_rate() * 1e9, bandwidths(args.cores)
    records, costs, measured, rows = recorded(Path(args.runs_dir)), {}, {}, []
    for c in sweep.configs():
        key = (c.arch, c.latent_dim)
        if key not in costs:
            check_flops(*key)
            costs[key] = layer_costs(*key)
        k = sweep.iwae_k_for(c) if c.dataset == sweep.dataset else 0
        counts = {"train step": TRAIN_IMAGES * c.epochs, "test eval": TEST_IMAGES * c.epochs, "bound": TEST_IMAGES * k}
        for work, n in counts.items():
            if not n:
                continue
            flop_s, roof_s = seconds(costs[key], work, peak, bandwidth)
            row = {"arch": c.arch, "latent_dim": c.latent_dim, "images": n, "work": work, "run": c.name, "tflop": costs[key][f"{work}_flop"].sum() * n / 1e12,
                   "tb": costs[key][f"{work}_bytes"].sum() * n / 1e12, "flop_floor_s": flop_s * n,
                   "roofline_s": roof_s * n, "recorded_s": records.get(c.name, {}).get(work, float("nan"))}
            if work == "bound" and args.measure_bounds:
                if (key, k) not in measured:          # the two codes one after the other, per arch and d
                    measured[key, k] = [bound_seconds(c.arch, c.latent_dim, k, args.bound_images, code)
                                        for code in (None, args.against) if code or code is None]
                row["measured_s"] = measured[key, k][0] * TEST_IMAGES
                if args.against:
                    row["against_s"] = measured[key, k][1] * TEST_IMAGES
            rows.append(row)
    if args.measure_bounds:       # measured again after the bounds' minutes, the best of both (the machine drifts)
        peak = max(peak, matmul_rate() * 1e9)
        bandwidth = {mib: max(gbs, again) for (mib, gbs), again in zip(bandwidth.items(), bandwidths(args.cores).values())}
        for row in rows:
            key = (row["arch"], row["latent_dim"])
            n = row["images"]
            row["flop_floor_s"], row["roofline_s"] = (v * n for v in seconds(costs[key], row["work"], peak, bandwidth))
    runs = pd.DataFrame(rows)
    agg = {"runs": ("run", "size"), "tflop": ("tflop", "sum"), "tb": ("tb", "sum"),
           "flop_floor_min": ("flop_floor_s", "sum"), "roofline_min": ("roofline_s", "sum"),
           "recorded_min": ("recorded_s", "sum"), "recorded": ("recorded_s", "count")}
    for col in ("measured", "against"):
        if f"{col}_s" in runs:
            agg[f"{col}_min"] = (f"{col}_s", "sum")
    table = runs.groupby(["arch", "work"], sort=False).agg(**agg)
    for col in [c for c in table if c.endswith("_min")]:
        table[col] /= 60
    table.loc[table["recorded"] == 0, "recorded_min"] = float("nan")
    for col in ("measured_min", "against_min"):
        if col in table:
            table.loc[table.index.get_level_values("work") != "bound", col] = float("nan")
    table["recorded_share_of_flop_floor"] = table["flop_floor_min"] / table["recorded_min"]
    table["recorded_share_of_roofline"] = table["roofline_min"] / table["recorded_min"]
    for col in ("measured", "against"):
        if f"{col}_min" in table:
            table[f"{col}_share_of_flop_floor"] = table["flop_floor_min"] / table[f"{col}_min"]
            table[f"{col}_share_of_roofline"] = table["roofline_min"] / table[f"{col}_min"]
    print(f"measured float32 peak {peak / 1e9:.0f} GFLOP/s per core (one thread); copy bandwidth per job with "
          f"{args.cores} job(s) (the lesser of one thread's and all threads' shared), by array size: "
          + ", ".join(f"{mib} MiB {gbs:.1f} GB/s" for mib, gbs in bandwidth.items()))
    print("task-minutes (one core each); a share is the floor over the time taken (1 = at the floor); recorded: "
          "the runs' records (runs not all recorded: the share is of those that are)")
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(table.to_string(float_format=lambda v: f"{v:.3g}"))
    if args.layers:
        for arch in dict.fromkeys(a for a, _ in costs):
            layer = costs[arch, 10] if (arch, 10) in costs else costs[next(key for key in costs if key[0] == arch)]
            shown = layer[["layer"]].copy()
            for work in WORKS:
                flop, moved = layer[f"{work}_flop"], layer[f"{work}_bytes"]
                shown[f"{work} kFLOP"] = flop / 1e3
                shown[f"{work} KB"] = moved / 1e3
                shown[f"{work} bound by"] = ["-" if f == m == 0 else "bytes" if
                                             m / bandwidth_for(bandwidth, m * CALL[work]) > f / peak else "FLOP"
                                             for f, m in zip(flop, moved)]
            print(f"\n{arch}, per image (per sample for the bound)")
            print(shown.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    flop_floor, roof_floor = runs["flop_floor_s"].sum(), runs["roofline_s"].sum()
    print(f"the report: {runs['tflop'].sum():.0f} TFLOP ({runs[runs['work'] != 'bound']['tflop'].sum():.0f} training "
          f"and its evaluation, {runs[runs['work'] == 'bound']['tflop'].sum():.0f} IWAE bounds), {runs['tb'].sum():.0f} TB "
          f"moved; on {args.cores} core(s) at least {flop_floor / args.cores / 60:.1f} min of wall time at the FLOP "
          f"peak, {roof_floor / args.cores / 60:.1f} min on the roofline, before any start-up, data loading, other "
          f"evaluation or notebook")
    result = {"peak_gflops_per_core": round(peak / 1e9, 1),
              "bandwidth_gbs_per_job": {mib: round(v, 1) for mib, v in bandwidth.items()}, "cores": args.cores,
              "report_tflop": round(runs["tflop"].sum(), 1), "flop_floor_wall_min": round(flop_floor / args.cores / 60, 1),
              "roofline_wall_min": round(roof_floor / args.cores / 60, 1),
              "runs_recorded": int(runs["recorded_s"].notna().sum()),
              "recorded_task_min": round(float(runs["recorded_s"].sum()) / 60, 1)}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
