"""The report's engine on a Dask LocalCluster: dependencies respected, the costliest chain first,
failures named. Tasks are real subprocesses (vaelib.pipeline.schedule.python) that note when they ran in a file."""

import pytest

from vaelib.pipeline.schedule import Task, TaskFailed, check_graph, cluster, python, run_all, upward_ranks



def noting(log_file, name, seconds=0.3):
    code = (f"import time; start = time.time(); time.sleep({seconds}); "
            f"open({str(log_file)!r}, 'a').write(f'{name},{{start}},{{time.time()}}\\n')")
    return lambda: python(["-c", code], name)


def read(log_file):
    rows = [line.split(",") for line in log_file.read_text().splitlines()]
    return {name: (float(start), float(end)) for name, start, end in rows}


@pytest.fixture(scope="module")
def one_worker():
    with cluster(jobs=1) as client:
        yield client


@pytest.fixture(scope="module")
def two_workers():
    with cluster(jobs=2) as client:
        yield client


def test_a_cheap_task_that_unlocks_a_long_one_goes_first(tmp_path, one_worker):
    log = tmp_path / "log"
    tasks = [Task("train a", noting(log, "train a"), cost=10), Task("train b", noting(log, "train b"), cost=10),
             Task("train c", noting(log, "train c"), cost=5),
             Task("evaluate c", noting(log, "evaluate c"), cost=100, deps=("train c",))]
    assert upward_ranks(tasks)["train c"] == 105
    run_all(tasks, one_worker)
    order = sorted(read(log), key=lambda n: read(log)[n][0])
    assert order[:2] == ["train c", "evaluate c"]


def test_dependencies_are_respected_and_both_workers_are_used(tmp_path, two_workers):
    log = tmp_path / "log"
    spec = [("a", 1, ()), ("b", 3, ()), ("c", 1, ("a", "b")), ("d", 9, ("c",))]
    seconds = run_all([Task(n, noting(log, n, 1.0), cost=c, deps=d) for n, c, d in spec], two_workers)
    times = read(log)
    assert times["a"][1] <= times["c"][0] and times["b"][1] <= times["c"][0] and times["c"][1] <= times["d"][0]
    assert times["a"][0] < times["b"][1] and times["b"][0] < times["a"][1], "a and b did not run side by side"
    assert set(seconds) == {"a", "b", "c", "d"} and all(s >= 1.0 for s in seconds.values())


def test_a_failing_task_stops_the_run_and_is_named(tmp_path, two_workers):
    log = tmp_path / "log"
    boom = Task("evaluate x", lambda: python(["-c", "raise SystemExit('no data')"], "evaluate x"))
    with pytest.raises(TaskFailed, match="(?s)evaluate x failed.*no data"):
        run_all([boom, Task("later", noting(log, "later"), deps=("evaluate x",))], two_workers)
    assert not log.exists(), "a task that depends on a failed one ran"


@pytest.mark.parametrize("tasks, message", [
    ([Task("a", print, deps=("b",))], "unknown task"),
    ([Task("a", print, deps=("b",)), Task("b", print, deps=("a",))], "cycle"),
    ([Task("a", print, cost=0)], "positive"),
    ([Task("a", print), Task("a", print)], "used twice"),
])
def test_a_bad_graph_is_refused_before_anything_runs(tasks, message):
    with pytest.raises(ValueError, match=message):
        check_graph(tasks)


def test_gpu_tasks_never_exceed_their_slots_while_cpu_tasks_pass_them(tmp_path, two_workers):
    log = tmp_path / "log"
    tasks = [Task(f"train {i}", noting(log, f"train {i}", 0.6), cost=10, gpu=True) for i in range(3)]
    tasks.append(Task("notebook", noting(log, "notebook", 0.6), cost=1))
    run_all(tasks, two_workers, gpu_slots=1)
    times = read(log)
    gpu = sorted(times[f"train {i}"] for i in range(3))
    assert all(a[1] <= b[0] for a, b in zip(gpu, gpu[1:])), "two GPU tasks held the one slot at once"
    assert times["notebook"][0] < gpu[-1][0], "the CPU task waited behind the GPU tasks"
