"""Share the CPU cores fairly between vaelib jobs running at the same time.

torch's OpenMP threads spin while they wait; two processes that each take every core spin against
each other, many times slower than one alone (benchmarks/cpushare.py measures it). Each
training or evaluation registers itself in a small registry of running jobs (one file per process,
held with an OS lock, so a killed job counts no more) and uses cores // jobs threads, re-checked
every second, so a job alone keeps every core and yields them when another starts.

A thread count the user set (num_threads, or OMP_NUM_THREADS) is obeyed as it is.
VAELIB_CPUSHARE=off turns sharing off (torch's default: every core), for comparison.
"""

from __future__ import annotations

import logging
import fcntl
import os
import tempfile
import time
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

REGISTRY_ENV = "VAELIB_JOBS_DIR"
SWITCH_ENV = "VAELIB_CPUSHARE"


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def running_jobs(folder: Path) -> int:
    """Live registered jobs (this one included: its own lock, taken through another open file, blocks too):
    a file whose lock can be taken belongs to a dead job."""
    count = 0
    for path in folder.glob("*.job"):
        try:
            with open(path, "a") as f:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                path.unlink(missing_ok=True)          # its owner died: clean up
        except BlockingIOError:
            count += 1                                # locked: alive
        except OSError:
            continue
    return count


class CpuShare:
    """`with CpuShare(num_threads) as share:` then `share.adjust()` in the loop (cheap, every call).

    `share.threads` and `share.reason` say what was chosen and why (logged and recorded by the run).
    """

    INTERVAL = 1.0      # seconds between two counts of the running jobs

    def __init__(self, num_threads: int = 0, report: bool = False):
        self.cores, self.report, self.jobs, self._next = available_cores(), report, 1, 0.0
        env = os.environ.get("OMP_NUM_THREADS", "").strip()
        if num_threads:
            self.fixed, self.reason = int(num_threads), f"num_threads={num_threads} asked"
        elif os.environ.get(SWITCH_ENV, "").lower() == "off":
            self.fixed, self.reason = torch.get_num_threads(), f"sharing off ({SWITCH_ENV}=off): torch's default"
        elif env.isdigit() and int(env) > 0:
            self.fixed, self.reason = int(env), f"OMP_NUM_THREADS={env} set"
        else:
            self.fixed, self.reason = None, ""
        self.threads = torch.get_num_threads()

    def __enter__(self) -> "CpuShare":
        registry = Path(os.environ.get(REGISTRY_ENV) or Path(tempfile.gettempdir()) / f"vaelib-jobs-{os.getuid()}")
        registry.mkdir(parents=True, exist_ok=True)
        self._path = registry / f"{os.getpid()}-{id(self)}.job"
        self._file = open(self._path, "w")
        fcntl.flock(self._file, fcntl.LOCK_EX)
        self.adjust(force=True)
        return self

    def __exit__(self, *exc):
        self._path.unlink(missing_ok=True)
        self._file.close()
        return False

    def adjust(self, force: bool = False) -> int:
        """Re-count the running jobs (at most once per INTERVAL s) and set torch's thread count."""
        now = time.monotonic()
        if not force and now < self._next:
            return self.threads
        self._next = now + self.INTERVAL
        if self.fixed is not None:
            threads = self.fixed
        else:
            self.jobs = running_jobs(self._path.parent)
            threads = max(1, self.cores // self.jobs)
            self.reason = f"{self.cores} cores shared by {self.jobs} running vaelib job(s)"
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)
            if self.report and not force:
                logger.info(f"threads: {threads} ({self.reason})")
        self.threads = threads
        return threads

    def record(self) -> dict:
        return {"threads": self.threads, "threads_reason": self.reason}
