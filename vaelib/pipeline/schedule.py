"""The report's engine: tasks with dependencies on a Dask distributed cluster, costliest chain first, each
step a subprocess that dies with whoever started it and runs within a memory budget.

Each task is a callable (usually `python` or `notebook` below, which start a subprocess, so that a task gets
its own interpreter, memory and thread settings). The runner hands a task to Dask when what it needs is done
and a worker thread is free; Dask runs it on a free worker, wherever that is, and runs it again elsewhere when
its worker dies (a training resumes from its checkpoint; a run's lock keeps two workers off one folder). Among
ready tasks the one heading the costliest chain of work (its own estimate plus the costliest chain of tasks
waiting on it: the "upward rank") goes first, so that a cheap training that unlocks a long evaluation goes
before other trainings, and long tasks do not end up alone at the end. One progress bar for the whole report.

    with cluster(jobs=2) as client:          # a LocalCluster sized to this machine
    with cluster(address="tcp://host:8786"):  # an existing scheduler whose workers share the folders
        seconds = run_all(tasks, client)

A Dask worker that is killed must not leave its step running on (it would hold the run's lock and keep
training a run that the scheduler has handed to another worker): on Linux the child asks the kernel to kill it
when its parent dies (`prctl(PR_SET_PDEATHSIG)`, kept across exec: `python -m vaelib.pipeline.schedule PARENT
PROGRAM ARGS...` sets it, then becomes PROGRAM), and Jupyter kernels shut down when their papermill process is
gone. Elsewhere the step simply runs. Each step runs within a memory budget (MemoryBudget): a step whose process
tree grows past it is stopped alone, with one line naming it, its peak and the budget, before the kernel's OOM
killer picks a victim; a step killed by a signal is named as such.

No torch here: a Dask worker unpickles these functions without importing it (psutil only).
"""

from __future__ import annotations

import functools
import graphlib
import importlib.util
import json
import logging
import math
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..infra.faults import StepFailed, Unreachable
from ..infra.paths import PROJECT
from .workers import BUDGET_ENV, SCHEDULER_ENV, task_budget_mb

logger = logging.getLogger(__name__)


@dataclass
class Task:
    name: str
    run: callable
    cost: float = 1.0                      # estimated seconds, for ordering
    deps: tuple = ()
    gpu: bool = False                      # holds a GPU while it runs (a slot of the worker rule's gpu_slots)
    here: callable = None                  # the same step in this process (run_here), where it has one


class TaskFailed(StepFailed):
    pass


def upward_ranks(tasks: list[Task]) -> dict[str, float]:
    """Each task's cost plus the largest rank among the tasks that depend on it."""
    cost = {t.name: t.cost for t in tasks}

    @functools.cache
    def rank(name: str) -> float:
        return cost[name] + max((rank(t.name) for t in tasks if name in t.deps), default=0.0)

    return {name: rank(name) for name in cost}


def check_graph(tasks: list[Task]) -> None:
    """Duplicate names, unknown dependencies, cycles and non-positive costs are errors, before anything runs."""
    names = [t.name for t in tasks]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"task name(s) used twice: {twice}")
    for t in tasks:
        missing = [d for d in t.deps if d not in names]
        if missing:
            raise ValueError(f"task {t.name} depends on unknown task(s) {missing}")
        if not t.cost > 0:
            raise ValueError(f"task {t.name} has cost {t.cost!r}; expected a positive estimate of its seconds")
    try:
        graphlib.TopologicalSorter({t.name: t.deps for t in tasks}).prepare()
    except graphlib.CycleError as e:
        raise ValueError(f"dependency cycle among the tasks {e.args[1]}") from None


def _timed(run, *_deps) -> tuple[float, float | None]:
    """The task's wall seconds, and its peak memory in MB when it reports one (a launched step does)."""
    start = time.perf_counter()
    peak = run()
    return time.perf_counter() - start, peak if isinstance(peak, float) else None


@contextmanager
def cluster(jobs: int = 2, address: str | None = None, timeout: float = 5.0):
    """A Dask client: on the scheduler at `address` (given by --scheduler, or by $VAELIB_SCHEDULER when it is that
    variable's), or on a LocalCluster of `jobs` single-thread workers.

    Local workers are threads of this process: each task is a subprocess (`python`, below) that the
    worker only waits on, so worker processes would add memory and start-up time and nothing else.
    The dashboard is served only when bokeh is installed.
    """
    from distributed import Client, LocalCluster
    if address:
        source = f"${SCHEDULER_ENV}" if address == os.environ.get(SCHEDULER_ENV) else "--scheduler"
        try:
            client = Client(address, timeout=f"{timeout}s")
        except (OSError, TimeoutError, ValueError) as e:
            raise Unreachable(f"no Dask scheduler answers at {address} (from {source}) within {timeout:.0f} s "
                              f"({type(e).__name__}); start one (`dask scheduler`, then `dask worker ADDRESS`) "
                              f"or leave {source} unset for a local cluster") from None
        with client:
            yield client
    else:
        dashboard = importlib.util.find_spec("bokeh") is not None
        with LocalCluster(n_workers=jobs, threads_per_worker=1, processes=False, memory_limit=0,
                          dashboard_address=":0", scheduler_kwargs={"dashboard": dashboard},
                          silence_logs=logging.CRITICAL) as local, Client(local) as client:   # a failed step: our line
            yield client


def workers(client) -> list[dict]:
    """The workers the client reaches now (they come and go on a cluster)."""
    return list(client.scheduler_info(n_workers=-1)["workers"].values())


def execute(tasks: list[Task], jobs: int, address: str | None = None, desc: str = "report",
            gpu_slots: int | None = None) -> dict:
    """Run the tasks on a Dask cluster (the scheduler at `address`, else a LocalCluster of `jobs` workers):
    each task's seconds, each launched step's peak MB, the wall time, the memory watch and the engine in words."""
    from ..infra.memwatch import PeakMemory
    start, peaks = time.perf_counter(), {}
    seconds, threads, engine = {}, 0, "none: every step reused"
    with PeakMemory(every=10.0) as watch:    # a tree PSS costs about 30 ms per GB held (memwatch)
        if tasks:                            # else no cluster is started
            with cluster(jobs, address) as client:
                found = workers(client)
                threads = sum(w["nthreads"] for w in found)
                engine = (f"Dask {'scheduler ' + address if address else 'LocalCluster'}: {len(found)} worker(s), "
                          f"{threads} thread(s) in all, on {len({w['host'] for w in found})} host(s)")
                print(f"engine: {engine}", flush=True)
                seconds = run_all(tasks, client, desc, peaks, gpu_slots)
    return {"seconds": seconds, "peaks": peaks, "wall": time.perf_counter() - start, "watch": watch,
            "engine": engine, "workers": threads}


def run_here(tasks: list[Task]) -> dict[str, float]:
    """Every task in this process, dependencies first, each by its `here` form where it has one: Dask's
    synchronous scheduler (tests, CI, an analysis notebook's set-up); each task's seconds."""
    import dask
    check_graph(tasks)
    graph = {t.name: (_timed, t.here or t.run, *t.deps) for t in tasks}
    return {t.name: timed[0] for t, timed in zip(tasks, dask.get(graph, [t.name for t in tasks]))}


def run_all(tasks: list[Task], client, desc: str = "report", peaks: dict | None = None,
            gpu_slots: int | None = None) -> dict[str, float]:
    """Run every task on `client`'s cluster, dependencies first; each task's wall seconds (and, into
    `peaks`, each launched step's peak memory in MB).

    The runner hands Dask a task when its dependencies are done and a worker thread is free, the
    highest-ranked first. (Given everything at once, Dask sends tasks to workers eagerly, and a worker
    starts the next task in its own queue before a task just made ready, of higher priority, reaches
    it: an evaluation waited behind a whole training. Dask holds tasks back on the scheduler only for
    groups of many like tasks, "root-ish" ones, which a report's few named steps are not.) Dask places each
    task on a free worker and runs it again elsewhere if its worker dies. At most `gpu_slots` GPU tasks run
    at once (None: no limit); a CPU-only task may pass a GPU task that waits for a slot. A task that fails is
    named at once; the tasks that do not need it go on, those that do are skipped, and at the end
    TaskFailed names every failure.
    """
    from distributed import wait
    from tqdm.auto import tqdm        # here: the step's launcher (this module run as a program) needs neither
    from tqdm.contrib.logging import logging_redirect_tqdm
    check_graph(tasks)
    ranks = upward_ranks(tasks)
    token = uuid.uuid4().hex[:8]        # two reports on one scheduler never share a task
    waiting = sorted(tasks, key=lambda t: -ranks[t.name])     # a task's dependencies always come before it
    running, seconds, failures, peaks = {}, {}, [], {} if peaks is None else peaks
    if "dashboard" in client.scheduler_info().get("services", {}):
        logger.info(f"Dask dashboard: {client.dashboard_link}")
    # a bar on a terminal; elsewhere (a log file) one line per finished step, no carriage-return updates
    bar = tqdm(total=len(tasks), desc=desc, unit="task", smoothing=0, disable=not sys.stderr.isatty())
    try:
        with logging_redirect_tqdm(loggers=[logging.getLogger("vaelib")]):   # messages above the bar
            while waiting or running:
                free = max(1, sum(w["nthreads"] for w in workers(client))) - len(running)
                gpu_free = math.inf if gpu_slots is None else gpu_slots - sum(t.gpu for t in running.values())
                for t in [t for t in waiting if all(d in seconds for d in t.deps)]:
                    if free > 0 and (gpu_free > 0 or not t.gpu):
                        running[client.submit(_timed, t.run, key=f"{t.name} #{token}", priority=ranks[t.name],
                                              pure=False)] = t
                        waiting.remove(t)
                        free, gpu_free = free - 1, gpu_free - t.gpu
                try:
                    done = wait(list(running), timeout=5, return_when="FIRST_COMPLETED").done
                except TimeoutError:     # nothing finished in 5 s: refresh the display
                    done = set()
                for future in done:
                    t = running.pop(future)
                    if future.status == "finished":
                        seconds[t.name], peak = future.result()
                        if peak is not None:
                            peaks[t.name] = peak
                        logger.info(f"  [{len(seconds)}/{len(tasks)}] {t.name}: {seconds[t.name]:.0f}s"
                                    + (f", peak {peak:,.0f} MB" if peak else ""))
                        bar.update(1)
                        continue
                    why, lost = str(future.exception()), {t.name}
                    failures.append(why if why.startswith(t.name) else f"{t.name} failed: {why}")
                    for w in list(waiting):
                        if lost & set(w.deps):
                            lost.add(w.name)
                            waiting.remove(w)
                    skipped = f" ({len(lost) - 1} step(s) that need it skipped)" if len(lost) > 1 else ""
                    logger.error(failures[-1] + skipped)
                    bar.update(len(lost))
                names = sorted(t.name for t in running.values())
                bar.set_postfix_str(f"{len(names)} running: {', '.join(names)}"[:120], refresh=True)
    except BaseException:
        client.cancel(list(running))
        raise
    finally:
        bar.close()
    if failures:
        raise TaskFailed(f"{len(failures)} step(s) failed: " + "; ".join(failures))
    return seconds


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


def python(args: list[str], what: str, budget_mb: float | None = None) -> float:
    """Run `python ARGS` (this interpreter) to completion within a memory budget (default: the free
    memory's share per worker, pipeline.workers.task_budget_mb); the step's peak memory in MB. Raise
    StepFailed with one line when it fails: its own error line, or its memory over the budget, or the
    signal that killed it."""
    budget = budget_mb or task_budget_mb()
    cmd = [sys.executable, "-m", "vaelib.pipeline.schedule", str(os.getpid()), sys.executable, *args]
    env = {k: v for k, v in os.environ.items() if not (in_dask_worker() and k in DASK_WORKER_ENV)}
    env.update(MALLOC_ENV)
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


if __name__ == "__main__":   # python -m vaelib.pipeline.schedule PARENT_PID PROGRAM ARGS...: guard, then become PROGRAM
    _die_with_parent(int(sys.argv[1]))
    os.execv(sys.argv[2], sys.argv[2:])
