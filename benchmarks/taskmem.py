"""Peak memory (PSS, MB) of one task of each kind, as the runner starts it: the numbers behind
vaelib.pipeline.workers.TASK_MB (the worker rule).

    python -m benchmarks.taskmem [--out benchmarks/out/taskmem] [--full]

Kinds: a training (conv d=10, one epoch on all 60,000 images), an evaluation (that run, IWAE K=1,000 on
500 test images; the k-NN reads all training means), the classifier (one epoch), and an analysis
notebook (05, papermill, on a one-run sweep). With --full, also the full-size evaluation of a linear
and a conv model (one epoch each) on all 10,000 test images with IWAE K=1,000, the step's memory
sampled through it: the peak must not grow with the number of images done.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from vaelib.infra.memwatch import tree_pss_mb


def peak(cmd: list[str], env=None, trace: list | None = None) -> tuple[float, float]:
    """(peak PSS of the process tree in MB, wall seconds) of a command run to its end; each sample
    (seconds, MB) appended to `trace` if given."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    top = 0.0
    while proc.poll() is None:
        mb = tree_pss_mb(proc.pid)
        top = max(top, mb)
        if trace is not None:
            trace.append((time.perf_counter() - start, mb))
        time.sleep(0.2)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.read()[-2000:]}")
    return top, time.perf_counter() - start


def full_evaluations(out: Path, clf: Path) -> None:
    """The evaluation step on all 10,000 test images (K = 1,000) of a linear and a conv model, as the
    runner starts it: its peak, and its largest PSS in each quarter of its time (flat when nothing leaks)."""
    import os
    from vaelib.pipeline.schedule import MALLOC_ENV
    runs = out / "full_runs"
    print("\n| evaluation, 10,000 test images, K = 1,000 | peak PSS (MB) | largest PSS by quarter of the time (MB) "
          "| wall (s) |\n|---|---:|---|---:|")
    for arch in ("linear", "conv"):
        subprocess.run([sys.executable, "-m", "vaelib", "train", "--arch", arch, "--latent-dim", "10", "--epochs", "1",
                        "--threads", "1", "--quiet", "--runs-dir", str(runs)], check=True)
        trace: list = []
        top, seconds = peak([sys.executable, "-m", "vaelib.metrics", str(runs / f"{arch}_10_s0"), "--classifier",
                             str(clf), "--iwae-k", "1000", "--threads", "1"], {**os.environ, **MALLOC_ENV}, trace)
        quarters = [max((mb for t, mb in trace if q * seconds / 4 <= t < (q + 1) * seconds / 4), default=0.0)
                    for q in range(4)]
        print(f"| {arch} d=10 | {top:,.0f} | {' / '.join(f'{mb:,.0f}' for mb in quarters)} | {seconds:.0f} |",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/out/taskmem")
    parser.add_argument("--full", action="store_true", help="also the full-size evaluations (about 10 minutes)")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    runs = out / "runs"
    py = [sys.executable, "-m"]
    rows = {}
    rows["train"] = peak(py + ["vaelib", "train", "--arch", "conv", "--latent-dim", "10", "--epochs", "1",
                               "--test-limit", "500", "--threads", "1", "--quiet", "--runs-dir", str(runs)])
    from vaelib.evaluation.classifier import classifier_path
    clf = classifier_path(runs)
    rows["classifier"] = peak(py + ["vaelib.classifier", str(clf), "--threads", "1"])
    import os
    from vaelib.pipeline.schedule import MALLOC_ENV
    env = {**os.environ, **MALLOC_ENV}          # as the runner starts an evaluation
    rows["evaluate"] = peak(py + ["vaelib.metrics", str(runs / "conv_10_s0"), "--classifier", str(clf),
                                  "--iwae-k", "1000", "--threads", "1"], env)
    settings = {"archs": ["conv"], "dims": [10], "seeds": [0], "datasets": ["mnist"], "epochs": 1,
                "test_limit": 500, "iwae_k": 1000}
    sweep = json.dumps(settings)
    from vaelib.analysis.results import write_all
    from vaelib.config.sweep import Sweep
    from vaelib.infra import paths
    write_all(Sweep.from_params(settings), paths.resolve(runs_dir=runs, results_dir=out / "results",
                                                         figures_dir=out / "figures", executed_dir=out).make())
    rows["notebook"] = peak(py + ["papermill", "notebooks/05_beyond.ipynb", str(out / "05.ipynb"), "--cwd",
                                  "notebooks", "-y", f"sweep: {sweep}", "-p", "smoke_test", "False",
                                  "-p", "runs_dir", str(runs), "-p", "results_dir", str(out / "results"),
                                  "-p", "figures_dir", str(out / "figures"), "--no-progress-bar"])
    print("| task | peak PSS (MB) | wall (s) |\n|---|---:|---:|")
    for kind, (mb, seconds) in rows.items():
        print(f"| {kind} | {mb:,.0f} | {seconds:.0f} |")
    if args.full:
        full_evaluations(out, clf)


if __name__ == "__main__":
    main()
