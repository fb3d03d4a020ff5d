"""One writer per run: an OS file lock around training or evaluating a run folder (or making a file).

The lock is filelock's (`fcntl.flock` on Linux) on a small file in `.locks/` beside the target, so
the kernel releases it when its holder dies: a killed training leaves no stale lock. A second
process that reaches a locked target says who holds it (pid and host, from a note beside the lock)
and waits; when it gets the lock, it finds the work done (and reuses it) or resumes it. flock works
across processes on one machine and, on Linux, over NFS, the usual shared folder of a lab cluster.
"""

from __future__ import annotations

import logging
import os
import socket
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from .faults import Unwritable

logger = logging.getLogger(__name__)


@contextmanager
def exclusive(target: Path | str):
    """Hold the lock of `target` for the block; wait (and say so) while another process holds it."""
    path = Path(target).parent / ".locks" / f"{Path(target).name}.lock"
    holder = path.with_name(path.name + ".holder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(path)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            who = holder.read_text().strip() if holder.is_file() else "another process"
            logger.info(f"{Path(target).name} is being written by {who or 'another process'}; waiting for it to finish")
            lock.acquire()
            logger.info(f"{Path(target).name} is free again: going on (reusing or resuming what was done)")
    except OSError as e:      # the target lives in a runs folder (a run, its metrics, the classifier)
        raise Unwritable(f"cannot create the runs folder {Path(target).parent} or its lock "
                         f"{path}: {e.strerror or e}; choose another runs_dir") from e
    try:
        holder.write_text(f"pid {os.getpid()} on {socket.gethostname()}")
        yield
    finally:
        lock.release()
