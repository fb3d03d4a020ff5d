"""How many local workers a report (or the reference) runs, and how many torch threads each task gets,
from the machine: its cores, its memory and its GPUs.

The rule: one task per core, as many as memory allows (a task's peak memory, measured per kind by
`python -m benchmarks.taskmem`, the largest kind counting), and any cores left over once memory caps
the tasks go to the tasks as threads. Tasks before threads: a second thread speeds an epoch up by less
than a second task adds work done (benchmarks.scaling). With CUDA, the trainings and evaluations
run on the GPU, several at once where its memory allows (`GPU_TASK_MB` each), the classifier too, and the
CPU-only steps (notebooks) beside them on the remaining workers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

# Peak PSS of one task subprocess of each kind, MB: `python -m benchmarks.taskmem --full`'s figures, rounded up.
TASK_MB = {"train": 1300, "classifier": 1500, "evaluate": 1800, "notebook": 700}   # train, classifier: as seen in
                                                                                   # the smoke and 10-seed reports
RUNNER_MB = 800          # the runner itself (Dask scheduler, workers as threads, progress): an estimate
# The GPU memory a training or an IWAE evaluation may take: torch held at most 430 MB for a full conv epoch and
# 666 MB for conv's K = 1,000 bound over the 10,000 test images (`python -m benchmarks.gpu` on an H200, torch
# 2.11), plus about 600 MB for each process's CUDA context (an allowance, not measured).
GPU_TASK_MB = 1300


BUDGET_ENV = "VAELIB_TASK_MB"
SCHEDULER_ENV = "VAELIB_SCHEDULER"


def task_budget_mb() -> float:
    """The memory one task may take: $VAELIB_TASK_MB (the report and the reference set it to `share_mb`
    of the machine when the user has not), else the largest kind's planned peak. The runner stops a task
    that passes it (pipeline.schedule.MemoryBudget)."""
    value = os.environ.get(BUDGET_ENV, "")
    try:
        return float(value) if value else float(max(TASK_MB.values()))
    except ValueError:
        raise ValueError(f"${BUDGET_ENV}={value!r} is not a number of MB; unset it for the rule's "
                         f"share of the free memory") from None


def share_mb(memory_mb: float, jobs: int) -> float:
    """A task's budget when `jobs` tasks share `memory_mb` of free memory: its equal share after the
    runner's own, never below the largest planned peak. The planned peaks size the workers; the share
    bounds each task, so that the tasks together cannot pass what was free and no task is stopped for
    going a little past a plan when the machine has room."""
    return max(float(max(TASK_MB.values())), (memory_mb - RUNNER_MB) / max(1, jobs))


def set_budget(jobs: int) -> float:
    """Set $VAELIB_TASK_MB for the steps this process launches (its Dask workers are its threads) to the
    share of the memory free now, unless the user has set it; the budget in force."""
    import psutil
    if not os.environ.get(BUDGET_ENV):
        os.environ[BUDGET_ENV] = str(round(share_mb(psutil.virtual_memory().available / 2 ** 20, jobs)))
    return task_budget_mb()


GPU_TASKS_PER_DEVICE = 2  # trainings or evaluations sharing one GPU: a second overlaps the first's host work;
                          # more only time-slice the device (an estimate until benchmarks.gpu measures it)
RULE = ("one task per core, as many as free memory allows at the largest task's peak, leftover cores as "
        "threads per task; with CUDA, GPU slots apart: up to two GPU tasks per device as its memory allows, "
        "spread over the devices in turn, and at least one slot left for the CPU-only steps")


@dataclass(frozen=True)
class Plan:
    jobs: int            # local Dask workers, one task each
    threads: int         # torch CPU threads per task
    reason: str
    gpu_slots: int = 0   # of the jobs, how many may hold a GPU at once (trainings, evaluations)
    gpus: int = 0        # CUDA devices, used in turn by the runs (pipeline.tasks.run_devices)


def plan(cores: int, memory_mb: float, gpus: int = 0, gpu_memory_mb: float = 0.0) -> Plan:
    """The workers and threads for a machine with `cores`, `memory_mb` available and `gpus` of
    `gpu_memory_mb` each (see the module docstring for the rule)."""
    cores = max(1, int(cores))
    per_task = max(TASK_MB.values())
    by_memory = max(1, int((memory_mb - RUNNER_MB) // per_task))
    jobs = min(cores, by_memory)
    why = f"{cores} core(s), {memory_mb / 1024:.1f} GB free at {per_task} MB per task"
    slots = 0
    if gpus:
        per_device = min(GPU_TASKS_PER_DEVICE, max(1, int(gpu_memory_mb // GPU_TASK_MB)))
        jobs = max(jobs, 2)                 # a GPU task and a CPU-only step side by side
        slots = min(gpus * per_device, jobs - 1)
        why += (f", {gpus} GPU(s) of {gpu_memory_mb / 1024:.0f} GB: {slots} GPU slot(s) "
                f"({per_device} per device at most, {GPU_TASK_MB} MB each)")
    threads = max(1, cores // jobs)
    return Plan(jobs, threads, f"{jobs} worker(s) x {threads} thread(s): {why}", slots, gpus)


def engine_options(parser, folders: tuple[str, ...], out: str) -> None:
    """The options of a command whose steps run on the engine (the report, the reference): its workers
    (--jobs, --scheduler), the device of its runs, and its folders (--out, then --NAME-dir for each of `folders`)."""
    parser.add_argument("--jobs", type=int, default=None,
                        help=f"local workers, one task each (default: from the machine: {RULE})")
    parser.add_argument("--device", default="auto", help="where training and evaluation run: auto (CUDA when "
                                                         "available), cpu or cuda[:N]")
    parser.add_argument("--scheduler", default=os.environ.get(SCHEDULER_ENV),
                        help=f"address of a running Dask scheduler whose workers share these folders "
                             f"(default: ${SCHEDULER_ENV}; unset: a local cluster of --jobs workers)")
    parser.add_argument("--out", default=None, help=f"put {out} here")
    for name in folders:
        parser.add_argument(f"--{name}-dir", default=None)


def local_workers(jobs: int | None, address: str | None) -> tuple[Plan, int, int | None, float]:
    """This machine's plan; the local workers (`jobs`, else the plan's); the torch threads per task (the rule's
    share of the cores; None on a scheduler's workers, whose tasks share their own machines' cores); and the
    memory budget per task, set for the steps this process launches (set_budget)."""
    from ..infra.cpushare import available_cores
    machine = this_machine()
    jobs = jobs or machine.jobs
    threads = None if address else max(1, available_cores() // jobs)
    return machine, jobs, threads, set_budget(jobs)


def this_machine() -> Plan:
    """The plan for the machine this runs on (free memory now, CUDA devices if any)."""
    import psutil
    import torch

    from ..infra.cpushare import available_cores
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    gpu_mb = torch.cuda.get_device_properties(0).total_memory / 2 ** 20 if gpus else 0.0
    return plan(available_cores(), psutil.virtual_memory().available / 2 ** 20, gpus, gpu_mb)
