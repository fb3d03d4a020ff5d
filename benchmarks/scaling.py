"""The same small report on 1, 2, ... Dask workers (up to the machine's cores, and the number the worker
rule picks): wall time side by side.

    python -m benchmarks.scaling [--workers 1 2 4] [--out benchmarks/out/scaling]

Each report starts from an empty folder (smoke sizes: 2,000/500 images, 1 epoch; linear and conv at
d = 2 and 5, one seed, MNIST only), so both do the same work. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

SMALL = ["--smoke", "--archs", "linear", "conv", "--dims", "2", "5", "--seeds", "0", "--datasets", "mnist"]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scaling", description=__doc__)
    parser.add_argument("--workers", type=int, nargs="+", default=None,
                        help="worker counts (default: 1, 2, 4, ... up to the cores, and the rule's choice)")
    parser.add_argument("--out", default="benchmarks/out/scaling")
    args = parser.parse_args(argv)
    from vaelib.infra.cpushare import available_cores
    from vaelib.pipeline.workers import this_machine
    chosen = this_machine()
    counts = args.workers or sorted({*(2 ** i for i in range(8) if 2 ** i <= available_cores()), chosen.jobs})
    print(f"the worker rule here: {chosen.reason}")
    rows = []
    for n in counts:
        out = Path(args.out) / f"{n}_workers"
        shutil.rmtree(out, ignore_errors=True)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "vaelib.report", *SMALL, "--jobs", str(n), "--out", str(out)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        info = json.loads((out / "results" / "run.json").read_text())
        rows.append((n, time.perf_counter() - start, info))
    print(" ".join(SMALL))
    print("| workers | wall (s), whole command | wall (s), tasks | task-minutes | every core busy | machine CPU use | peak PSS (MB) |")
    print("|---|---|---|---|---|---|---|")
    for n, wall, info in rows:
        task_minutes = sum(info["minutes"].values())
        print(f"| {n} | {wall:.0f} | {60 * info['wall_minutes']:.0f} | {task_minutes:.1f} | "
              f"{100 * info['all_cores_busy_share']:.0f}% | {100 * info['machine_cpu_use']:.0f}% | "
              f"{info['peak_memory_mb']:.0f} |")


if __name__ == "__main__":
    main()
