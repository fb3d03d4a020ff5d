"""Start the report's steps as subprocesses that die with whoever started them.

Each step (a notebook through papermill, an evaluation, the classifier) gets its own interpreter, so
its memory and thread settings are its own. A Dask worker that is killed must not leave its step
running on (it would hold the run's lock and keep training a run that the scheduler has handed to
another worker): on Linux the child asks the kernel to kill it when its parent dies
(`prctl(PR_SET_PDEATHSIG)`, kept across exec), and Jupyter kernels shut down when their papermill
process is gone. Elsewhere the step simply runs.

Only the standard library here: a Dask worker unpickles these functions without importing torch.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from ..infra.paths import PROJECT

NOTEBOOKS = PROJECT / "notebooks"
PR_SET_PDEATHSIG = 1
# What a Dask nanny sets in its worker's environment (distributed.nanny.pre-spawn-environ). Our steps
# must not inherit it: MALLOC_TRIM_THRESHOLD_=65536 makes glibc hand memory back to the kernel after
# every large free, and a conv training then spent as much time in the kernel (page faults) as in
# user space, 2x slower; the thread counts are vaelib.cpushare's business.
DASK_WORKER_ENV = ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
# What every step gets instead: glibc's mmap and trim thresholds fixed at 1 GB, so that the large
# temporaries a step frees and allocates again at the same sizes (IWAE chunks, evaluation batches) are
# reused from the heap, not handed back to the kernel and faulted in again (core.iwae.iwae_bound;
# benchmarks/iwae.py, the issue-20 note for /usr/bin/time -v before and after).
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}


def python(args: list[str], what: str, extra_env: dict | None = None) -> None:
    """Run `python ARGS` (this interpreter) to completion; raise with the output's tail when it fails."""
    cmd = [sys.executable, "-m", "vaelib.pipeline.launch", str(os.getpid()),
           sys.executable, *args]
    env = {k: v for k, v in os.environ.items() if not (in_dask_worker() and k in DASK_WORKER_ENV)}
    env.update({**MALLOC_ENV, **(extra_env or {})})
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        known = [l for l in lines if l.startswith(("error: ", "interrupted: "))]   # a fault's one line (faults.guard)
        detail = known[-1] if known else "\n" + "\n".join(lines[-25:])
        raise RuntimeError(f"{what} failed (exit {result.returncode}): {detail}")


def in_dask_worker() -> bool:
    """True inside a task on a Dask worker (whose nanny may have set DASK_WORKER_ENV)."""
    if "distributed" not in sys.modules:
        return False
    try:
        sys.modules["distributed"].get_worker()
        return True
    except ValueError:
        return False


def notebook(name: str, out: Path | str, params: dict) -> None:
    """Execute one notebook in its own kernel process (in notebooks/, as Jupyter would)."""
    python(["-m", "papermill", str(NOTEBOOKS / f"{name}.ipynb"), str(out), "--cwd", str(NOTEBOOKS),
            "--no-progress-bar", "--log-level", "WARNING", "-k", "python3",
            "-y", json.dumps(params)],   # JSON is YAML: types (bool, None, lists) arrive intact
           f"{name} (executed copy: {out})")


def _die_with_parent(parent: int) -> None:
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return                                  # not Linux: no guard
    if os.getppid() != parent:                  # the parent died before the guard was set
        os._exit(1)


if __name__ == "__main__":   # python -m vaelib.pipeline.launch PARENT_PID PROGRAM ARGS...: guard, then become PROGRAM
    _die_with_parent(int(sys.argv[1]))
    os.execv(sys.argv[2], sys.argv[2:])
