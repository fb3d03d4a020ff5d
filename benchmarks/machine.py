"""This machine's two limits, measured in the process that uses them (its speed drifts, and other work shares it):
the float32 peak of its math library and the memory bandwidth of a STREAM-like copy."""

from __future__ import annotations

import time

import torch


def matmul_rate(sizes=(512, 1024, 1536), trials: int = 5, repeats: int = 5) -> float:
    """GFLOP/s of large square float32 matrix products on one thread, the best of a few sizes and trials
    (this machine's speed drifts): the most its math library does, the ceiling for every layer."""
    best, threads = 0.0, torch.get_num_threads()
    torch.set_num_threads(1)         # per core: a caller's default of all cores measured them all together
    try:
        for size in sizes:
            a, b = torch.randn(size, size), torch.randn(size, size)
            a @ b
            for _ in range(trials):
                start = time.perf_counter()
                for _ in range(repeats):
                    a @ b
                best = max(best, 2 * size ** 3 * repeats / (time.perf_counter() - start) / 1e9)
    finally:
        torch.set_num_threads(threads)
    return best


SIZES_MIB = (1, 4, 16, 64, 256)       # a core's L2 (1 MiB here), the shared L3 (32 MiB), main memory


def copy_bandwidth(threads: int = 1, mib: int = 256, trials: int = 7) -> float:
    """GB/s of memory moved by torch's copy of one float32 array of `mib` MiB into another (STREAM's Copy: a read
    and a write of every element, counted as 2 x 4 bytes, the write-allocate read not counted), on `threads`
    threads, the best of a few trials. 256 MiB arrays are far larger than any cache: main memory's bandwidth;
    smaller ones measure the caches they fit in."""
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    repeats = max(1, 256 // mib)
    try:
        a = torch.rand(mib * 2 ** 18)
        b = torch.empty_like(a)
        b.copy_(a)
        best = float("inf")
        for _ in range(trials):
            start = time.perf_counter()
            for _ in range(repeats):
                b.copy_(a)
            best = min(best, (time.perf_counter() - start) / repeats)
    finally:
        torch.set_num_threads(old)
    return 2 * a.numel() * 4 / best / 1e9


def bandwidths(jobs: int = 1) -> dict[int, float]:
    """{array MiB: GB/s} for one job of `jobs` running at once: the lesser of one thread's copy and all threads'
    copy shared by the jobs (with one job: one thread's)."""
    threads = torch.get_num_threads()
    return {mib: min(copy_bandwidth(1, mib), copy_bandwidth(threads, mib) / jobs if jobs > 1 else float("inf"))
            for mib in SIZES_MIB}


def bandwidth_for(table: dict[int, float], moved: float) -> float:
    """Bytes/s for an operation that moves `moved` bytes in one call: the copy bandwidth measured at the smallest
    array size that holds half of them (a copy of n bytes moves 2n), main memory's beyond the largest."""
    for mib in sorted(table):
        if moved / 2 <= mib * 2 ** 20:
            return table[mib] * 1e9
    return table[max(table)] * 1e9
