"""One writer per run: an OS file lock around training or evaluating a run folder (or making a file).

The lock is `fcntl.flock` on a small file in `.locks/` beside the target, so the kernel releases it
when its holder dies: a killed training leaves no stale lock. A second process that reaches a locked
target says who holds it and waits; when it gets the lock, it finds the work done (and reuses it) or
resumes it. flock works across processes on one machine and, on Linux, over NFS (emulated with
POSIX locks), the usual shared folder of a lab cluster.
"""

from __future__ import annotations

import fcntl
import os
import socket
from contextlib import contextmanager
from pathlib import Path


def lock_path(target: Path | str) -> Path:
    target = Path(target)
    return target.parent / ".locks" / f"{target.name}.lock"


@contextmanager
def exclusive(target: Path | str, log=print):
    """Hold the lock of `target` for the block; wait (and say so) while another process holds it."""
    path = lock_path(target)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        f = open(path, "a+")
    except OSError as e:      # the target lives in a runs folder (a run, its metrics, the classifier)
        raise PermissionError(f"cannot create the runs folder {Path(target).parent} or its lock "
                              f"{path}: {e}; choose another runs_dir") from e
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            log(f"{Path(target).name} is being written by {f.read().strip() or 'another process'}; "
                f"waiting for it to finish")
            fcntl.flock(f, fcntl.LOCK_EX)
            log(f"{Path(target).name} is free again: going on (reusing or resuming what was done)")
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on {socket.gethostname()}")
        f.flush()
        try:
            yield
        finally:
            f.truncate(0)
            fcntl.flock(f, fcntl.LOCK_UN)
