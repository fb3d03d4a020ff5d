"""The worker rule (vaelib.pipeline.workers): tasks from cores and memory, threads from what is left,
GPU tasks from the GPU's memory; checked on given machines, none of which need to be this one."""

import pytest

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


def test_with_a_gpu_its_memory_bounds_the_tasks_plus_one_cpu_step():
    small_gpu = plan(16, 128 * 1024, gpus=1, gpu_memory_mb=3 * GPU_TASK_MB)
    assert small_gpu.jobs == 3 + 1 and small_gpu.threads == 4
    big_gpu = plan(16, 128 * 1024, gpus=1, gpu_memory_mb=140 * 1024)
    assert big_gpu.jobs == 16                       # the cores bound it first
    assert "1 GPU(s)" in big_gpu.reason
