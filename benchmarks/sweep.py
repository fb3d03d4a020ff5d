"""Speed of the ten sweep models on this machine, trained the way the report trains them.

For each (arch, d): seconds per training epoch, seconds per evaluation of the test set, images per
second, and the fraction of the CPU's FP32 peak achieved. Models are timed in `--jobs` worker
processes at once with `--threads` torch threads each, as `python -m vaelib.report` runs them.

FLOPs per training image come from torch.utils.flop_counter.FlopCounterMode over one forward and
backward pass (matmuls and convolutions; elementwise work is not counted).

Two peaks: the measured one (`fraction_of_peak`: the best of timed large float32 matrix products on one
thread, benchmarks.machine.matmul_rate, times the threads: what this machine's math library really reaches)
and the nominal one (`fraction_of_nominal`: cores used x clock x vector lanes x 2 for fused multiply-add x
2 FMA units, the width from torch.backends.cpu.get_cpu_capability(), the clock from /proc/cpuinfo; cores
whose 512-bit units are double-pumped, as AMD Zen 4, peak at half of it).

With --ops, it also prints where one training step of each architecture goes: torch.profiler's self CPU
time by operation over 30 steps of batch 128 on one thread, with each operation's share of the step.

    python -m benchmarks.sweep                   # one full epoch per model
    python -m benchmarks.sweep --train-limit 12000 --ops

Prints a table, saves it to benchmarks/out/sweep.csv, and ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

from vaelib.data import datasets as data
from vaelib.config import RunConfig
from vaelib.core.losses import vae_loss
from vaelib.infra.memwatch import PeakMemory
from vaelib.core.models import build_model, count_params
from vaelib.config.sweep import Sweep
from vaelib.core.bounds import mean_loss
from vaelib.training import plain
from vaelib.training.protocols import PROTOCOLS

from .machine import matmul_rate

LANES = {"AVX512": 16, "AVX2": 8}


def cpu_clock_ghz() -> float:
    try:
        mhz = [float(line.split(":")[1]) for line in open("/proc/cpuinfo") if line.startswith("cpu MHz")]
        return max(mhz) / 1000
    except (OSError, ValueError):
        return float("nan")


def peak_gflops_per_core() -> tuple[float, str]:
    capability = torch.backends.cpu.get_cpu_capability()
    lanes = LANES.get(capability, 4)
    clock = cpu_clock_ghz()
    return clock * lanes * 2 * 2, f"{capability}: {lanes} lanes x 2 (FMA) x 2 units x {clock:.2f} GHz"


def step_ops(arch: str, d: int = 10, batch: int = 128, steps: int = 30, top: int = 8) -> pd.DataFrame:
    """Self CPU time of the operations of one training step (torch.profiler), the largest first, per step."""
    from torch.profiler import ProfilerActivity, profile
    torch.set_num_threads(1)
    x = data.load("mnist", train=True, limit=batch)[0]
    torch.manual_seed(0)
    model = build_model(arch, d)
    optimizer = PROTOCOLS["plain"].optimizer(model.parameters(), 1e-3)
    noise = torch.Generator().manual_seed(0)
    for _ in range(5):
        plain.train_step(model, optimizer, x, 1.0, noise)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            plain.train_step(model, optimizer, x, 1.0, noise)
    ops = pd.DataFrame([{"op": e.key, "ms_per_step": e.self_cpu_time_total / 1e3 / steps, "calls": e.count / steps}
                        for e in prof.key_averages()])
    ops = ops.sort_values("ms_per_step", ascending=False, ignore_index=True)
    ops["share"] = ops["ms_per_step"] / ops["ms_per_step"].sum()
    return ops.head(top).assign(arch=arch)


def train_flops_per_image(arch: str, d: int, batch: int = 128) -> float:
    model = build_model(arch, d)
    x = torch.rand(batch, 1, 28, 28)
    with FlopCounterMode(display=False) as counter:
        logits, mu, logvar = model(x)
        vae_loss(logits, x, mu, logvar)[0].backward()
    return counter.get_total_flops() / batch


def time_model(job: tuple) -> dict:
    arch, d, threads, train_limit, epochs = job
    torch.set_num_threads(threads)
    x_train, _ = data.load("mnist", train=True, limit=train_limit)
    x_test, _ = data.load("mnist", train=False)
    config = RunConfig(arch=arch, latent_dim=d, epochs=epochs)
    torch.manual_seed(0)
    model = build_model(arch, d)
    optimizer = PROTOCOLS["plain"].optimizer(model.parameters(), config.lr)
    perm_gen, noise_gen = torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)
    seconds = []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        plain.train_epoch(model, optimizer, x_train, config.batch_size, config.beta,
                          {"perm": perm_gen, "noise": noise_gen}, epoch)
        seconds.append(time.perf_counter() - start)
    start = time.perf_counter()
    mean_loss(model, x_test)
    eval_seconds = time.perf_counter() - start
    return {"arch": arch, "latent_dim": d, "params": count_params(model), "train_images": len(x_train),
            "s_per_epoch": sum(seconds) / len(seconds), "eval_s": eval_seconds,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--threads", type=int, default=None, help="per job (default: cores / jobs)")
    parser.add_argument("--train-limit", type=int, default=None, help="time on the first N images only")
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs per model")
    parser.add_argument("--sweep-epochs", type=int, default=15, help="epochs of the sweep being estimated")
    parser.add_argument("--ops", action="store_true", help="also: where a training step's time goes, by operation")
    args = parser.parse_args(argv)
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
    data.verify("mnist")
    nominal_core, how = peak_gflops_per_core()
    peak_core = matmul_rate()
    print(f"peak per core: {peak_core:.0f} GFLOP/s measured (float32 matrix products, 1 thread, best of several); "
          f"nominal {nominal_core:.0f} ({how}); {args.jobs} job(s) x {threads} thread(s)")

    jobs = [(a, d, threads, args.train_limit, args.epochs) for a in Sweep().archs for d in Sweep().dims]
    jobs.sort(key=lambda j: (j[0] != "conv", -j[1]))   # the report's order: costliest first
    start = time.perf_counter()
    with PeakMemory() as peak, ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(time_model, jobs))
    wall = time.perf_counter() - start

    table = pd.DataFrame(rows).sort_values(["arch", "latent_dim"], ignore_index=True)
    table["mflop_per_image"] = [train_flops_per_image(a, d) / 1e6 for a, d in zip(table["arch"], table["latent_dim"])]
    table["images_per_s"] = table["train_images"] / table["s_per_epoch"]
    table["gflop_per_s"] = table["mflop_per_image"] * table["images_per_s"] / 1e3
    table["fraction_of_peak"] = table["gflop_per_s"] / (peak_core * threads)
    table["fraction_of_nominal"] = table["gflop_per_s"] / (nominal_core * threads)
    table["s_per_full_epoch"] = table["s_per_epoch"] * 60000 / table["train_images"]
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    table.to_csv(out / "sweep.csv", index=False, float_format="%.4g")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.drop(columns=["train_images"]).round(3).to_string(index=False))

    # the report trains `jobs` models at once: its training time is the busiest worker's sum
    per_model_min = (table["s_per_full_epoch"] + table["eval_s"]) * args.sweep_epochs / 60
    estimate = per_model_min.sum() / args.jobs
    peak_rss = peak.mb  # PSS of this process and its workers together, sampled while they ran
    by_arch = table.groupby("arch")["fraction_of_peak"].mean().round(3).to_dict()
    if args.ops:
        ops = pd.concat([step_ops(a) for a in dict.fromkeys(table["arch"])], ignore_index=True)
        ops.to_csv(out / "sweep_ops.csv", index=False, float_format="%.4g")
        print("where a training step goes (d = 10, batch 128, 1 thread; self CPU time per step):")
        print(ops[["arch", "op", "ms_per_step", "calls", "share"]].round(3).to_string(index=False))
    result = {"sweep_minutes_estimate": round(estimate, 1), "peak_rss_mb": round(peak_rss),
              "jobs": args.jobs, "threads_per_job": threads, "peak_gflops_per_core": round(peak_core, 1),
              "nominal_gflops_per_core": round(nominal_core, 1),
              "fraction_of_peak_by_arch": by_arch, "benchmark_wall_s": round(wall, 1)}
    print(f"sweep estimate: {estimate:.1f} min of training for {len(jobs)} models x {args.sweep_epochs} epochs "
          f"(+ eval each epoch), {args.jobs} at once; peak memory (PSS) of all processes together {peak_rss:.0f} MB")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
