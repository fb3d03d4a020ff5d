"""A small scheduler for the report: tasks with dependencies, run `jobs` at a time, costliest first.

Each task is a callable (usually one that starts a subprocess, so that a task gets its own
interpreter, memory and thread settings). A task starts when all its dependencies are done; among
the ready ones the one heading the costliest chain of work (its own estimate plus the costliest chain
of tasks waiting on it: the "upward rank") starts first, so that a cheap training that unlocks a long
evaluation goes before other trainings, and long tasks do not end up alone at the end. One progress
bar for the whole report.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from tqdm.auto import tqdm


@dataclass
class Task:
    name: str
    run: callable
    cost: float = 1.0                      # estimated seconds, for ordering
    deps: tuple = ()
    seconds: float = field(default=0.0, init=False)


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


def run_all(tasks: list[Task], jobs: int = 2, log=tqdm.write) -> dict[str, float]:
    """Run every task respecting dependencies; returns each task's wall seconds. Stops at the first failure."""
    by_name = {t.name: t for t in tasks}
    for t in tasks:
        missing = [d for d in t.deps if d not in by_name]
        if missing:
            raise ValueError(f"task {t.name} depends on unknown task(s) {missing}")
    ranks = upward_ranks(tasks)
    done, running, failed = set(), set(), []
    wake = threading.Condition()
    bar = tqdm(total=len(tasks), desc="report", unit="task", smoothing=0)

    def worker():
        while True:
            with wake:
                while True:
                    if failed or len(done) == len(tasks):
                        return
                    ready = _ready()
                    if ready:
                        task = max(ready, key=lambda t: ranks[t.name])
                        running.add(task.name)
                        bar.set_postfix_str(", ".join(sorted(running)), refresh=True)
                        break
                    if not running:   # nothing ready and nothing that could make something ready
                        failed.append(("scheduler", RuntimeError("dependency cycle among the remaining tasks")))
                        wake.notify_all()
                        return
                    wake.wait()
            start = time.perf_counter()
            try:
                task.run()
            except BaseException as e:  # noqa: BLE001 (reported, then re-raised by run_all)
                with wake:
                    failed.append((task.name, e))
                    running.discard(task.name)
                    wake.notify_all()
                return
            task.seconds = time.perf_counter() - start
            with wake:
                running.discard(task.name)
                done.add(task.name)
                bar.update(1)
                bar.set_postfix_str(", ".join(sorted(running)), refresh=True)
                log(f"  {task.name}: {task.seconds:.0f}s")
                wake.notify_all()

    def _ready():
        return [t for t in tasks if t.name not in done and t.name not in running
                and all(d in done for d in t.deps)]

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, jobs))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    bar.close()
    if failed:
        name, error = failed[0]
        raise TaskFailed(f"{name} failed: {error}") from error
    return {t.name: t.seconds for t in tasks}
