"""How live do the notebook explorers feel? Time each slider update (decode + PNG + marker) on trained models.

    python -m benchmarks.explore [--runs-dir runs] [--moves 50]

Prints, per model, the median and 95th percentile of what a slider move costs in the kernel (the
browser adds its own round trip, measured by tests/test_browser.py) and of the decode alone.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from vaelib.data import datasets as data
from vaelib.infra import paths
from vaelib.notebook import explore
from vaelib.config.sweep import Sweep


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.explore", description=__doc__)
    parser.add_argument("--runs-dir", default=str(paths.PROJECT / "runs"))
    parser.add_argument("--moves", type=int, default=50)
    args = parser.parse_args(argv)
    sweep = Sweep()
    configs = [sweep.config(a, d) for a in sweep.archs for d in (min(sweep.dims), max(sweep.dims))]
    x_test, y_test = data.load("mnist", train=False)
    latent = explore.LatentExplorer(args.runs_dir, configs, x_test, y_test)
    between = explore.InterpolationExplorer(args.runs_dir, configs, x_test)
    values = np.round(np.linspace(-3, 3, args.moves), 1)
    print(f"{args.moves} slider moves per model, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| model | latent explorer: median / p95 ms | interpolation: median / p95 ms | decode alone: median ms |")
    print("|---|---|---|---|")
    for config in configs:
        latent.model.value = between.model.value = config.name
        latent.latencies_ms.clear()
        between.latencies_ms.clear()
        for v in values:
            latent.z1.value = float(v)
            between.t.value = float(abs(v) / 3)
        model, _ = latent.models.get(config.name)
        decode = []
        for v in values:
            start = time.perf_counter()
            explore.decode_point(model, torch.full((model.latent_dim,), float(v)))
            decode.append(1000 * (time.perf_counter() - start))
        print(f"| {config.name} | {np.median(latent.latencies_ms):.1f} / {np.percentile(latent.latencies_ms, 95):.1f} "
              f"| {np.median(between.latencies_ms):.1f} / {np.percentile(between.latencies_ms, 95):.1f} "
              f"| {np.median(decode):.2f} |")


if __name__ == "__main__":
    main()
