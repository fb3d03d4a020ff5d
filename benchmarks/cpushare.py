"""Training under load: seconds per epoch of 1, 2 and 3 vaelib trainings running at once on this machine,
with CPU sharing (vaelib.cpushare) and without it (VAELIB_CPUSHARE=off: torch's default, every process
takes every core, as before).

    python -m benchmarks.cpushare                       # linear d=2 and conv d=2, 2 epochs, full data
    python -m benchmarks.cpushare --archs linear --epochs 3 --train-limit 30000

Each job is a real `python -m vaelib train` process in its own run folder; its seconds per epoch are
read from its history.csv (training time only, evaluation excluded). Jobs alone are run twice,
interleaved (off, on, off, on), to show the single-job speed is unchanged within noise. A job that runs
past --timeout is killed and reported as such (the unshared case can be ~35x slower). Prints a table
and ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from vaelib.infra.cpushare import REGISTRY_ENV, SWITCH_ENV, available_cores


def run_jobs(arch: str, n: int, sharing: bool, epochs: int, train_limit, workdir: Path, timeout: float) -> dict:
    """Start n identical trainings at once; their mean seconds per epoch (None for a job killed by timeout)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "CI")}
    env[REGISTRY_ENV] = str(workdir / "jobs")
    env[SWITCH_ENV] = "on" if sharing else "off"
    tag = f"{arch}_{n}_{'on' if sharing else 'off'}_{time.monotonic_ns()}"
    cmd = [sys.executable, "-m", "vaelib", "train", "--arch", arch, "--latent-dim", "2", "--epochs", str(epochs),
           "--test-limit", "1000", "--quiet"] + (["--train-limit", str(train_limit)] if train_limit else [])
    start = time.perf_counter()
    procs = [subprocess.Popen(cmd + ["--runs-dir", str(workdir / f"{tag}_{i}")], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for i in range(n)]
    timed_out = False
    for p in procs:
        try:
            p.wait(timeout=max(1.0, timeout - (time.perf_counter() - start)))
        except subprocess.TimeoutExpired:
            timed_out = True
    for p in procs:
        p.kill()
        p.wait()
    per_job = []
    for i in range(n):
        history = workdir / f"{tag}_{i}" / "linear_2_s0" if arch == "linear" else workdir / f"{tag}_{i}" / "conv_2_s0"
        path = history / "history.csv"
        per_job.append(float(pd.read_csv(path)["seconds"].mean()) if path.is_file() else None)
    return {"arch": arch, "jobs": n, "sharing": "on" if sharing else "off (before)", "timed_out": timed_out,
            "s_per_epoch": per_job, "wall_s": time.perf_counter() - start}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cpushare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", nargs="+", default=["linear", "conv"])
    parser.add_argument("--jobs", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-limit", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=300, help="seconds before a scenario's jobs are killed")
    args = parser.parse_args(argv)
    print(f"{available_cores()} cores; {args.epochs} epoch(s) on {args.train_limit or 60000} images per job")
    rows = []
    with tempfile.TemporaryDirectory(prefix="cpushare-") as tmp:
        workdir = Path(tmp)
        for arch in args.archs:
            for n in args.jobs:
                for sharing in ((False, True, False, True) if n == 1 else (False, True)):
                    row = run_jobs(arch, n, sharing, args.epochs, args.train_limit, workdir, args.timeout)
                    rows.append(row)
                    shown = ", ".join("killed" if s is None else f"{s:.2f}" for s in row["s_per_epoch"])
                    print(f"{arch:6s} {n} job(s) sharing {row['sharing']:12s}: s/epoch per job [{shown}]"
                          f"{' (timed out)' if row['timed_out'] else ''}", flush=True)
    table = pd.DataFrame(rows)
    table["mean_s_per_epoch"] = [None if any(s is None for s in r) else sum(r) / len(r) for r in table["s_per_epoch"]]
    alone = table[table["jobs"] == 1].groupby(["arch", "sharing"])["mean_s_per_epoch"].mean()
    table["slowdown_vs_alone"] = [m / alone[(a, s)] if m is not None else None
                                  for a, s, m in zip(table["arch"], table["sharing"], table["mean_s_per_epoch"])]
    print(table[["arch", "jobs", "sharing", "mean_s_per_epoch", "slowdown_vs_alone", "wall_s"]].round(2).to_string())
    print(json.dumps({f"{r.arch}_{r.jobs}_{'on' if r.sharing == 'on' else 'off'}": r.slowdown_vs_alone
                      for r in table.itertuples() if r.jobs > 1} | {
        f"{a}_alone_{'on' if s == 'on' else 'off'}_s": v for (a, s), v in alone.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
