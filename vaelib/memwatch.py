"""Peak memory of a process tree, for benchmarks and the report runner (Linux /proc only).

Sums PSS (proportional set size) over this process and all its descendants: shared library pages
count once in total, not once per process, unlike summed RSS.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


def _children() -> dict:
    kids: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            kids.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return kids


def tree_pss_mb(root: int | None = None) -> float:
    root = root or os.getpid()
    kids, total, todo = _children(), 0.0, [root]
    while todo:
        pid = todo.pop()
        todo += kids.get(pid, [])
        try:
            for line in open(f"/proc/{pid}/smaps_rollup"):
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) / 1024
                    break
        except OSError:
            continue
    return total


class PeakMemory:
    """`with PeakMemory() as peak: ...` then `peak.mb`: the largest tree PSS seen, sampled every `every` s."""

    def __init__(self, every: float = 0.5):
        self.every, self.mb = every, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self):
        while not self._stop.is_set():
            self.mb = max(self.mb, tree_pss_mb())
            self._stop.wait(self.every)

    def __enter__(self):
        if Path("/proc/self/smaps_rollup").exists():
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        return False
