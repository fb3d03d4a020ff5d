"""The worker rule (vaelib.pipeline.workers): tasks from cores and memory, threads from what is left,
GPU tasks from the GPU's memory; checked on given machines, none of which need to be this one."""

import pytest

from vaelib.pipeline import workers
from vaelib.pipeline.workers import GPU_TASK_MB, RUNNER_MB, TASK_MB, plan

PER_TASK = max(TASK_MB.values())


@pytest.mark.parametrize("cores, memory_gb, jobs, threads", [
    (2, 24, 2, 1),        # this kind of machine: two single-thread tasks, as before
    (8, 32, 8, 1),        # a laptop: one task per core
    (16, 64, 16, 1),      # a workstation
    (1, 8, 1, 1),
])
def test_one_single_thread_task_per_core_when_memory_allows(cores, memory_gb, jobs, threads):
    got = plan(cores, memory_gb * 1024)
    assert (got.jobs, got.threads) == (jobs, threads)
    assert f"{cores} core(s)" in got.reason


def test_memory_caps_the_tasks_and_the_cores_left_become_threads():
    memory = RUNNER_MB + 4 * PER_TASK + 10          # room for four tasks
    got = plan(16, memory)
    assert (got.jobs, got.threads) == (4, 4)
    assert plan(16, RUNNER_MB + 1).jobs == 1        # too little memory for even one: still one, all cores
    assert plan(16, RUNNER_MB + 1).threads == 16


@pytest.mark.parametrize("gpus, slots, devices", [
    (1, 2, ["cuda:0", "cuda:0", "cuda:0"]),               # one GPU: two tasks share it, no more
    (4, 8, ["cuda:0", "cuda:1", "cuda:2", "cuda:3", "cuda:0"]),    # four: two each, spread in turn
])
def test_16_cores_and_large_gpus_get_gpu_slots_apart_from_the_cpu_steps(gpus, slots, devices):
    got = plan(16, 128 * 1024, gpus=gpus, gpu_memory_mb=140 * 1024)
    assert (got.jobs, got.threads, got.gpu_slots, got.gpus) == (16, 1, slots, gpus)
    from vaelib.config.sweep import Sweep
    from vaelib.pipeline.tasks import run_devices      # the runs take the plan's devices in turn
    sweep = Sweep.from_params({"archs": ["linear"], "dims": [2, 3, 5, 10, 50], "seeds": [0], "datasets": ["mnist"],
                               "extras": []})
    assert list(run_devices(sweep, "auto", got.gpus).values())[:len(devices)] == devices
    assert f"{gpus} GPU(s) of 140 GB: {slots} GPU slot(s)" in got.reason


def test_a_small_gpu_or_few_cores_still_leave_a_slot_for_the_cpu_steps():
    small_gpu = plan(16, 128 * 1024, gpus=1, gpu_memory_mb=1.5 * GPU_TASK_MB)
    assert (small_gpu.jobs, small_gpu.gpu_slots) == (16, 1)           # one task fits its memory
    one_core = plan(1, 8 * 1024, gpus=2, gpu_memory_mb=80 * 1024)
    assert (one_core.jobs, one_core.gpu_slots) == (2, 1)              # a GPU task and a CPU step side by side
    assert plan(16, 128 * 1024).gpu_slots == 0 and plan(16, 128 * 1024).gpus == 0


def test_runs_are_spread_over_the_gpus_and_an_explicit_device_is_kept():
    from vaelib.config.sweep import Sweep
    from vaelib.pipeline.tasks import run_devices
    sweep = Sweep.from_params({"archs": ["linear", "conv"], "dims": [2, 5], "seeds": [0], "datasets": ["mnist"],
                               "extras": []})
    spread = run_devices(sweep, "auto", 2)
    assert sorted(spread.values()) == ["cuda:0", "cuda:0", "cuda:1", "cuda:1"]
    assert set(run_devices(sweep, "cuda:1", 2).values()) == {"cuda:1"}
    assert set(run_devices(sweep, "auto", 0).values()) == {"auto"}
    assert set(run_devices(sweep, "cpu", 4).values()) == {"cpu"}

def test_each_task_may_take_its_share_of_the_free_memory_never_less_than_the_largest_planned_peak(monkeypatch):
    largest = max(workers.TASK_MB.values())
    assert workers.share_mb(24_000, 2) == (24_000 - workers.RUNNER_MB) / 2        # a 24 GB machine, 2 workers
    assert workers.share_mb(4_000, 2) == largest                                 # a small one: the plan's peak
    monkeypatch.setenv(workers.BUDGET_ENV, "")
    assert workers.set_budget(2) == float(workers.os.environ[workers.BUDGET_ENV]) >= largest
    monkeypatch.setenv(workers.BUDGET_ENV, "777")                                  # the user's choice stands
    assert workers.set_budget(2) == 777.0
