"""The cost a report says before it starts (pipeline.cost): the wall time of a task graph on its workers, and
each step's seconds timed from a little of its own work on this machine."""

import dataclasses

import pytest

from vaelib.config.run import RunConfig
from vaelib.pipeline import cost
from vaelib.pipeline.schedule import Task


def test_the_wall_time_follows_the_runners_order():
    # two workers: "train c" heads the costliest chain (5 + 100), so it starts first and its evaluation follows
    # it on the same worker while the other trainings share the second: 105 s, where the other order gives 120
    tasks = [Task("train a", print, cost=10), Task("train b", print, cost=10), Task("train c", print, cost=5),
             Task("evaluate c", print, cost=100, deps=("train c",))]
    assert cost.wall(tasks, 2) == 105
    assert cost.wall(tasks, 1) == 125
    waits = [Task("a", print, cost=3), Task("b", print, cost=1), Task("c", print, cost=1, deps=("a",))]
    assert cost.wall(waits, 2) == 4         # the worker that finished "b" waits for "a" before "c"
    minutes = cost.summary(tasks + [Task("02_compare_losses", print, cost=60, deps=("evaluate c",)),
                                    Task("results tables", print, cost=6)], 2)
    assert minutes["task_minutes"] == pytest.approx({"classifier": 0, "train": 25 / 60, "evaluate": 100 / 60,
                                                     "notebooks": 1})


def test_a_steps_seconds_scale_with_the_work_it_does():
    config = RunConfig("linear", 2, epochs=1, train_limit=2000, test_limit=500, device="cpu")
    one = cost.train_seconds(config, 1) - cost.startup("train")
    four = cost.train_seconds(dataclasses.replace(config, epochs=4), 1) - cost.startup("train")
    assert 0 < one and four == pytest.approx(4 * one)          # the same timing, four epochs of it
    bigger = cost.train_seconds(dataclasses.replace(config, train_limit=4000), 1) - cost.startup("train")
    assert bigger > one
    plain, bound = (cost.evaluate_seconds(config, k, 1) for k in (0, 100))
    assert cost.startup("evaluate") < plain < bound


def test_the_report_says_its_cost_and_stops_when_asked(tmp_path, capsys, monkeypatch):
    from vaelib.pipeline import report
    from vaelib.pipeline.workers import BUDGET_ENV
    monkeypatch.setenv(BUDGET_ENV, "4000")     # the plan sets it in this process's environment: undone after
    args = ["--smoke", "--archs", "linear", "--dims", "2", "--seeds", "0", "--datasets", "mnist", "--extras",
            "--iwae-k", "0", "--jobs", "16", "--estimate", "--out", str(tmp_path)]
    assert report.main(args) == 0
    said = capsys.readouterr().out
    assert "estimate on this machine: 8 step(s)" in said and "on 16 worker(s) (more than this machine's" in said
    assert not list((tmp_path / "runs").glob("linear_*")) and not (tmp_path / "REPORT.md").exists()


def test_timings_run_beside_the_other_workers_busy_and_stop_with_the_block():
    import torch
    from vaelib.infra.cpushare import available_cores
    if available_cores() < 2:
        pytest.skip("one core: the report has no other worker to run beside")
    with cost.beside_the_other_workers(1):
        assert cost._neighbours["running"] is None            # nothing timed yet: nothing started
        assert cost.timed(lambda: None, torch.device("cpu"), at_least=0.01) >= 0
        neighbours = cost._neighbours["running"]
        assert len(neighbours) == available_cores() - 1 and all(p.poll() is None for p in neighbours)
    assert all(p.poll() is not None for p in neighbours) and cost._neighbours["running"] is None
    with cost.beside_the_other_workers(None):                 # a cluster's workers: timed alone
        cost.timed(lambda: None, torch.device("cpu"), at_least=0.01)
        assert cost._neighbours["running"] is None


def test_a_neighbour_stops_when_its_parent_is_gone(capsys):
    cost.busy(parent=-1, n_threads=1)                         # no process has pid -1: one batch, then it returns
    assert capsys.readouterr().out == "training\n"
