"""The report's engine: tasks with dependencies on a Dask distributed cluster, costliest chain first.

Each task is a callable (usually one that starts a subprocess through `vaelib.launch`, so that a task
gets its own interpreter, memory and thread settings). The runner submits every task at once with
its dependencies; Dask starts a task when what it needs is done, on whichever worker is free, and
hands the tasks of a worker that died to another one (a training resumes from its checkpoint). Among
ready tasks the one heading the costliest chain of work (its own estimate plus the costliest chain of
tasks waiting on it: the "upward rank") goes first, as Dask's task priority, so that a cheap training
that unlocks a long evaluation goes before other trainings, and long tasks do not end up alone at
the end. One progress bar for the whole report.

    with cluster(jobs=2) as client:          # a LocalCluster sized to this machine
    with cluster(address="tcp://host:8786"):  # an existing scheduler whose workers share the folders
        seconds = run_all(tasks, client)
"""

from __future__ import annotations

import importlib.util
import logging
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass

from tqdm.auto import tqdm

SCHEDULER_ENV = "VAELIB_SCHEDULER"


@dataclass
class Task:
    name: str
    run: callable
    cost: float = 1.0                      # estimated seconds, for ordering
    deps: tuple = ()


class TaskFailed(RuntimeError):
    pass


def upward_ranks(tasks: list[Task]) -> dict[str, float]:
    """Each task's cost plus the largest rank among the tasks that depend on it."""
    dependents: dict[str, list[str]] = {t.name: [] for t in tasks}
    for t in tasks:
        for d in t.deps:
            dependents[d].append(t.name)
    cost, ranks = {t.name: t.cost for t in tasks}, {}

    def rank(name: str) -> float:
        if name not in ranks:
            ranks[name] = cost[name] + max((rank(n) for n in dependents[name]), default=0.0)
        return ranks[name]

    for t in tasks:
        rank(t.name)
    return ranks


def check_graph(tasks: list[Task]) -> None:
    """Unknown dependencies, cycles and non-positive costs are errors, before anything runs."""
    by_name = {t.name: t for t in tasks}
    for t in tasks:
        missing = [d for d in t.deps if d not in by_name]
        if missing:
            raise ValueError(f"task {t.name} depends on unknown task(s) {missing}")
        if not t.cost > 0:
            raise ValueError(f"task {t.name} has cost {t.cost!r}; expected a positive estimate of its seconds")
    placed: set = set()
    while len(placed) < len(tasks):
        ready = {t.name for t in tasks if t.name not in placed and all(d in placed for d in t.deps)}
        if not ready:
            raise ValueError(f"dependency cycle among the tasks {sorted(set(by_name) - placed)}")
        placed |= ready


def _executing(dask_worker) -> list:
    """The keys a worker is executing now (the scheduler's "processing" also counts queued ones)."""
    return [ts.key for ts in dask_worker.state.executing]


def _timed(run, *_deps) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def has_dashboard() -> bool:
    return importlib.util.find_spec("bokeh") is not None


@contextmanager
def cluster(jobs: int = 2, address: str | None = None):
    """A Dask client: on the scheduler at `address`, or on a LocalCluster of `jobs` single-thread workers.

    Local workers are processes without a memory limit (the work happens in their subprocesses);
    the dashboard is served only when bokeh is installed.
    """
    from distributed import Client, LocalCluster
    if address:
        with Client(address, timeout="30s") as client:
            yield client
        return
    with LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, memory_limit=0,
                      dashboard_address=":0", scheduler_kwargs={"dashboard": has_dashboard()},
                      silence_logs=logging.ERROR) as local, Client(local) as client:
        yield client


def _workers(client) -> list[dict]:
    return list(client.scheduler_info(n_workers=-1)["workers"].values())


def worker_threads(client) -> int:
    """Tasks the cluster runs at once."""
    return sum(w["nthreads"] for w in _workers(client))


def describe(client) -> str:
    """The workers a client reaches, in words (for logs and results/run.json)."""
    workers = _workers(client)
    return (f"{len(workers)} worker(s), {worker_threads(client)} thread(s) in all, "
            f"on {len({w['host'] for w in workers})} host(s)")


def run_all(tasks: list[Task], client, log=tqdm.write) -> dict[str, float]:
    """Run every task on `client`'s cluster, dependencies first; each task's wall seconds.

    Stops at the first failure (cancelling what has not run) and names the task that failed.
    """
    from distributed import wait
    check_graph(tasks)
    ranks = upward_ranks(tasks)
    token = uuid.uuid4().hex[:8]        # two reports on one scheduler never share a task
    futures = {}
    # Costliest chain first, also in the order of submission (the first tasks submitted start at once):
    # with positive costs, a task always ranks above the tasks that depend on it.
    for t in sorted(tasks, key=lambda t: -ranks[t.name]):
        futures[t.name] = client.submit(_timed, t.run, *(futures[d] for d in t.deps), key=f"{t.name} #{token}",
                                        priority=ranks[t.name], pure=False)
    name_of = {f.key: name for name, f in futures.items()}
    seconds, pending = {}, set(futures.values())
    bar = tqdm(total=len(tasks), desc="report", unit="task", smoothing=0)
    if has_dashboard() and "dashboard" in client.scheduler_info().get("services", {}):
        log(f"Dask dashboard: {client.dashboard_link}")
    try:
        while pending:
            try:
                done, pending = wait(pending, timeout=5, return_when="FIRST_COMPLETED")
            except TimeoutError:     # nothing finished in 5 s: refresh the display
                done = set()
            for future in done:
                name = name_of[future.key]
                if future.status != "finished":
                    raise TaskFailed(f"{name} failed: {future.exception()}") from future.exception()
                seconds[name] = future.result()
                log(f"  {name}: {seconds[name]:.0f}s")
                bar.update(1)
            running = sorted(name_of[k] for keys in client.run(_executing).values() for k in keys if k in name_of)
            bar.set_postfix_str(f"{len(running)} running: {', '.join(running)}"[:120], refresh=True)
    except BaseException:
        client.cancel(list(pending))
        raise
    finally:
        bar.close()
    return seconds
