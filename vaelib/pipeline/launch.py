"""Start the report's steps as subprocesses that die with whoever started them.

Each step (a notebook through papermill, an evaluation, the classifier) gets its own interpreter, so
its memory and thread settings are its own. A Dask worker that is killed must not leave its step
running on (it would hold the run's lock and keep training a run that the scheduler has handed to
another worker): on Linux the child asks the kernel to kill it when its parent dies
(`prctl(PR_SET_PDEATHSIG)`, kept across exec), and Jupyter kernels shut down when their papermill
process is gone. Elsewhere the step simply runs.

Each step runs within a memory budget (MemoryBudget): a step whose process tree grows past it is
stopped alone, with one line naming it, its peak and the budget, before the kernel's OOM killer picks a
victim; a step killed by a signal is named as such.

No torch here: a Dask worker unpickles these functions without importing it (psutil only).
"""

from __future__ import annotations

import json
import os
import signal
import math
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..infra.faults import StepFailed
from ..infra.paths import PROJECT
from .workers import BUDGET_ENV, task_budget_mb

NOTEBOOKS = PROJECT / "notebooks"
PR_SET_PDEATHSIG = 1
# What a Dask nanny sets in its worker's environment (distributed.nanny.pre-spawn-environ). Our steps
# must not inherit it: MALLOC_TRIM_THRESHOLD_=65536 makes glibc hand memory back to the kernel after
# every large free, and a training then spends its time in the kernel's page faults (benchmarks.cpushare
# measures it); the thread counts are vaelib.cpushare's business.
DASK_WORKER_ENV = ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
# What every step gets instead: glibc's mmap and trim thresholds fixed at 1 GB, so that the large
# temporaries a step frees and allocates again at the same sizes (IWAE chunks, evaluation batches) are
# reused from the heap, not handed back to the kernel and faulted in again (core.iwae.iwae_bound;
# benchmarks/iwae.py).
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}


class MemoryBudget(threading.Thread):
    """Watch a step's process tree: its peak PSS, and a kill when its PSS passes `budget_mb`. The tree's RSS
    (a bound from above on its PSS, read for almost nothing) every `every` s; its PSS every `pss_every` s
    and whenever the RSS passes the budget: reading PSS makes the kernel walk the tree's page tables, which
    costs the runner far more than the step's memory moves (over minutes; its peaks are plateaus), as
    `python -m benchmarks.watch` measures."""

    def __init__(self, pid: int, budget_mb: float, every: float = 0.5, pss_every: float = 10.0):
        super().__init__(daemon=True)
        self.pid, self.budget_mb, self.every, self.pss_every = pid, budget_mb, every, pss_every
        self.peak_mb, self.over = 0.0, False
        self._done = threading.Event()

    def run(self):
        from ..infra.memwatch import kill_tree, tree_pss_mb, tree_rss_mb   # psutil only: no torch in the worker
        last = -math.inf
        while not self._done.wait(self.every):
            now = time.monotonic()
            if now - last < self.pss_every and tree_rss_mb(self.pid) <= self.budget_mb:
                continue
            last = now
            self.peak_mb = max(self.peak_mb, tree_pss_mb(self.pid))
            if self.peak_mb > self.budget_mb:
                self.over = True
                kill_tree(self.pid)
                return

    def stop(self):
        self._done.set()
        self.join()


def python(args: list[str], what: str, extra_env: dict | None = None, budget_mb: float | None = None) -> float:
    """Run `python ARGS` (this interpreter) to completion within a memory budget (default: the free
    memory's share per worker, pipeline.workers.task_budget_mb); the step's peak memory in MB. Raise
    StepFailed with one line when it fails: its own error line, or its memory over the budget, or the
    signal that killed it."""
    budget = budget_mb or task_budget_mb()
    cmd = [sys.executable, "-m", "vaelib.pipeline.launch", str(os.getpid()), sys.executable, *args]
    env = {k: v for k, v in os.environ.items() if not (in_dask_worker() and k in DASK_WORKER_ENV)}
    env.update({**MALLOC_ENV, **(extra_env or {})})
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    watch = MemoryBudget(proc.pid, budget)
    watch.start()
    try:
        stdout, stderr = proc.communicate()
    finally:
        watch.stop()
    if proc.returncode != 0:
        raise StepFailed(failure(what, proc.returncode, stdout, stderr, watch))
    return watch.peak_mb


def failure(what: str, code: int, stdout: str, stderr: str, watch: MemoryBudget) -> str:
    """The one line that says why a step failed, and what to do."""
    again = "finished steps are kept: run the same command again to go on"
    if watch.over:
        return (f"{what} stopped: its memory reached {watch.peak_mb:,.0f} MB, over its budget of "
                f"{watch.budget_mb:,.0f} MB per task (the free memory's share per worker; ${BUDGET_ENV} sets "
                f"another); {again}")
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else f"signal {-code}"
        cause = ", probably out of memory (the kernel's OOM killer; see dmesg)" if -code == signal.SIGKILL else ""
        seen = (f"its memory peaked at {watch.peak_mb:,.0f} MB as last seen" if watch.peak_mb
                else "it died before its memory was read")
        return (f"{what} was killed by {name}{cause}; {seen} (budget {watch.budget_mb:,.0f} MB). Run fewer steps "
                f"at once (--jobs 1) or free memory; {again}")
    lines = (stderr or stdout).strip().splitlines()
    known = [line for line in lines if line.startswith(("error: ", "interrupted: "))]   # a fault's one line (faults.guard)
    detail = known[-1] if known else "\n" + "\n".join(lines[-25:])
    return f"{what} failed (exit {code}): {detail}"


def in_dask_worker() -> bool:
    """True inside a task on a Dask worker (whose nanny may have set DASK_WORKER_ENV)."""
    try:
        return bool(sys.modules["distributed"].get_worker())
    except (KeyError, ValueError):      # distributed not imported, or not in a worker
        return False


def notebook(name: str, out: Path | str, params: dict) -> float:
    """Execute one notebook in its own kernel process (in notebooks/, as Jupyter would); its peak memory."""
    return python(["-m", "papermill", str(NOTEBOOKS / f"{name}.ipynb"), str(out), "--cwd", str(NOTEBOOKS),
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
