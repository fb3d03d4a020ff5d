"""The report's engine: tasks with dependencies on a Dask distributed cluster, costliest chain first.

Each task is a callable (usually one that starts a subprocess through `vaelib.launch`, so that a task
gets its own interpreter, memory and thread settings). The runner hands a task to Dask when what it
needs is done and a worker thread is free; Dask runs it on a free worker, wherever that is, and runs
it again elsewhere when its worker dies (a training resumes from its checkpoint; a run's lock keeps
two workers off one folder). Among ready tasks the one heading the costliest chain of work (its own
estimate plus the costliest chain of tasks waiting on it: the "upward rank") goes first, so that a
cheap training that unlocks a long evaluation goes before other trainings, and long tasks do not end
up alone at the end. One progress bar for the whole report.

    with cluster(jobs=2) as client:          # a LocalCluster sized to this machine
    with cluster(address="tcp://host:8786"):  # an existing scheduler whose workers share the folders
        seconds = run_all(tasks, client)
"""

from __future__ import annotations

import functools
import graphlib
import importlib.util
import logging
import math
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass

from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from ..infra.faults import StepFailed, Unreachable

logger = logging.getLogger(__name__)

SCHEDULER_ENV = "VAELIB_SCHEDULER"


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
def cluster(jobs: int = 2, address: str | None = None, source: str = "--scheduler", timeout: float = 5.0):
    """A Dask client: on the scheduler at `address`, or on a LocalCluster of `jobs` single-thread workers.

    Local workers are threads of this process: each task is a subprocess (vaelib.pipeline.launch) that the
    worker only waits on, so worker processes would add memory and start-up time and nothing else.
    The dashboard is served only when bokeh is installed.
    """
    from distributed import Client, LocalCluster
    if address:
        try:
            client = Client(address, timeout=f"{timeout}s")
        except (OSError, TimeoutError, ValueError) as e:
            raise Unreachable(f"no Dask scheduler answers at {address} (from {source}) within {timeout:.0f} s "
                              f"({type(e).__name__}); start one (`dask scheduler`, then `dask worker ADDRESS`) "
                              f"or leave {source} unset for a local cluster") from None
        with client:
            yield client
        return
    dashboard = importlib.util.find_spec("bokeh") is not None
    with LocalCluster(n_workers=jobs, threads_per_worker=1, processes=False, memory_limit=0,
                      dashboard_address=":0", scheduler_kwargs={"dashboard": dashboard},
                      silence_logs=logging.CRITICAL) as local, Client(local) as client:   # a failed step: our one line
        yield client


def workers(client) -> list[dict]:
    """The workers the client reaches now (they come and go on a cluster)."""
    return list(client.scheduler_info(n_workers=-1)["workers"].values())


def execute(tasks: list[Task], jobs: int, address: str | None = None, source: str = "--scheduler",
            desc: str = "report", gpu_slots: int | None = None) -> dict:
    """Run the tasks on a Dask cluster (the scheduler at `address`, else a LocalCluster of `jobs` workers):
    each task's seconds, each launched step's peak MB, the wall time, the memory watch and the engine in words."""
    from ..infra.memwatch import PeakMemory
    start, peaks = time.perf_counter(), {}
    seconds, threads, engine = {}, 0, "none: every step reused"
    with PeakMemory(every=10.0) as watch:    # a tree PSS costs about 30 ms per GB held (memwatch)
        if tasks:                            # else no cluster is started
            with cluster(jobs, address, source) as client:
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
