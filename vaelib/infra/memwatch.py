"""Peak memory of a process tree and how busy the cores were, for benchmarks and the runner (psutil).

Sums PSS (proportional set size) over this process and all its descendants: shared library pages
count once in total, not once per process, unlike summed RSS. CPU use is the machine's, so other work
on the machine counts too.
"""

from __future__ import annotations

import threading

import psutil


def tree_pss_mb(root: int | None = None) -> float:
    """PSS of `root` (default: this process) and all its descendants, in MB (RSS where PSS is not known).
    Costly: the kernel walks each process's page tables (about 30 ms for a process holding 1 GB)."""
    return _tree_sum(root, lambda proc: getattr(info := proc.memory_full_info(), "pss", info.rss))


def tree_rss_mb(root: int | None = None) -> float:
    """RSS of the same tree, in MB: a bound from above on its PSS (shared pages count in full in each
    process), read for almost nothing (/proc/PID/statm)."""
    return _tree_sum(root, lambda proc: proc.memory_info().rss)


def _tree(root: int | None) -> list:
    """`root` (default: this process) and all its descendants, children first ([] when it has ended)."""
    try:
        top = psutil.Process(root)
        return [*top.children(recursive=True), top]
    except psutil.Error:
        return []


def _tree_sum(root, measure) -> float:
    total = 0
    for proc in _tree(root):
        try:
            total += measure(proc)
        except psutil.Error:       # it ended meanwhile, or is not ours to read
            continue
    return total / 2 ** 20


def kill_tree(root: int) -> None:
    """SIGKILL `root` and all its descendants (children first found, then killed together)."""
    for proc in _tree(root):
        try:
            proc.kill()
        except psutil.Error:
            continue


class PeakMemory:
    """`with PeakMemory() as watch: ...` then `watch.mb`: the largest tree PSS seen, sampled every `every` s;
    `watch.cpu_use`: the machine's mean CPU use (0-1); `watch.all_busy_share`: the share of samples in
    which every core was at least 90% busy."""

    def __init__(self, every: float = 0.5):
        self.every, self.mb, self.cpu_use, self.all_busy_share = every, 0.0, 0.0, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self):
        first = psutil.cpu_times()
        psutil.cpu_percent(interval=None)          # starts psutil's own interval
        samples = busy_samples = 0
        while not self._stop.is_set():
            self.mb = max(self.mb, tree_pss_mb())
            self._stop.wait(self.every)
            samples += 1
            busy_samples += psutil.cpu_percent(interval=None) >= 90
            self.all_busy_share = busy_samples / samples
            self.cpu_use = _busy_share(first, psutil.cpu_times())

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        return False


def _busy_share(first, now) -> float:
    """The share of CPU time between two psutil.cpu_times() readings that was not idle."""
    def idle(t):
        return t.idle + getattr(t, "iowait", 0.0)
    total = sum(now) - sum(first)
    return 1.0 - (idle(now) - idle(first)) / total if total > 0 else 0.0
