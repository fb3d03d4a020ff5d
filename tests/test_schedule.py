"""The report's scheduler: dependencies respected, the longest chain of work first, failures reported."""

import threading
import time

import pytest

from vaelib.schedule import Task, TaskFailed, run_all, upward_ranks


def test_a_cheap_task_that_unlocks_a_long_one_goes_first():
    order, lock = [], threading.Lock()

    def note(name):
        def run():
            with lock:
                order.append(name)
            time.sleep(0.05)
        return run
    tasks = [Task("train a", note("train a"), cost=10), Task("train b", note("train b"), cost=10),
             Task("train c", note("train c"), cost=5),
             Task("evaluate c", note("evaluate c"), cost=100, deps=("train c",))]
    assert upward_ranks(tasks)["train c"] == 105
    run_all(tasks, jobs=1, log=lambda *_: None)
    assert order[:2] == ["train c", "evaluate c"]


def test_dependencies_are_respected_with_two_workers():
    finished = {}
    tasks = [Task(n, lambda n=n: (time.sleep(0.02), finished.setdefault(n, time.perf_counter())), cost=c, deps=d)
             for n, c, d in [("a", 1, ()), ("b", 3, ()), ("c", 1, ("a", "b")), ("d", 9, ("c",))]]
    run_all(tasks, jobs=2, log=lambda *_: None)
    assert finished["a"] < finished["c"] and finished["b"] < finished["c"] < finished["d"]


def test_a_failing_task_stops_the_run_and_is_named():
    def boom():
        raise RuntimeError("no data")
    with pytest.raises(TaskFailed, match="evaluate x failed: no data"):
        run_all([Task("evaluate x", boom), Task("later", lambda: None, deps=("evaluate x",))], jobs=2,
                log=lambda *_: None)
