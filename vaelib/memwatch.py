"""Peak memory of a process tree and how busy the cores were, for benchmarks and the runner (Linux /proc).

Sums PSS (proportional set size) over this process and all its descendants: shared library pages
count once in total, not once per process, unlike summed RSS. CPU use is the machine's (/proc/stat),
so other work on the machine counts too.
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


def cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of all cores since boot."""
    fields = [float(v) for v in open("/proc/stat").readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)      # idle + iowait
    total = sum(fields[:8])                                          # guest time is inside user already
    return total - idle, total


class PeakMemory:
    """`with PeakMemory() as watch: ...` then `watch.mb`: the largest tree PSS seen, sampled every `every` s;
    `watch.cpu_use`: the machine's mean CPU use (0-1); `watch.all_busy_share`: the share of samples in
    which every core was at least 90% busy."""

    def __init__(self, every: float = 0.5):
        self.every, self.mb, self.cpu_use, self.all_busy_share = every, 0.0, 0.0, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self):
        first = last = cpu_times()
        samples = busy_samples = 0
        while not self._stop.is_set():
            self.mb = max(self.mb, tree_pss_mb())
            self._stop.wait(self.every)
            now = cpu_times()
            if now[1] > last[1]:
                samples += 1
                busy_samples += (now[0] - last[0]) / (now[1] - last[1]) >= 0.9
                self.all_busy_share = busy_samples / samples
                self.cpu_use = (now[0] - first[0]) / max(now[1] - first[1], 1.0)
            last = now

    def __enter__(self):
        if Path("/proc/self/smaps_rollup").exists():
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        return False
