"""What watching a step's memory costs the runner: CPU seconds per minute of watching, by how often PSS is read.

    python -m benchmarks.watch [--mb 1000] [--seconds 20]

Starts a child that holds `--mb` of touched memory (a training step's size) and watches it with the runner's
MemoryBudget (vaelib.pipeline.schedule) for `--seconds` at each setting: PSS every 0.5 s (the rule before this
session), every 2 s, and every 10 s (today's), the RSS read every 0.5 s in the last two. Prints the runner's
CPU time (user + kernel: reading PSS is the kernel walking the child's page tables) per minute watched, and
per PSS read. The report runs two such watchers at once, and its own whole-tree reading beside them.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time

from vaelib.pipeline.schedule import MemoryBudget

HOLD = "import sys, time; b = bytearray({n}); b[::4096] = b'x' * len(b[::4096]); print('ready', flush=True); time.sleep(3600)"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.watch", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    child = subprocess.Popen([sys.executable, "-c", HOLD.format(n=args.mb * 2 ** 20)], stdout=subprocess.PIPE, text=True)
    try:
        child.stdout.readline()
        print(f"a child holding {args.mb:,} MB, watched {args.seconds:.0f} s per setting")
        print("| PSS read every | RSS read every | runner CPU s per minute watched | peak PSS seen (MB) |")
        print("|---:|---:|---:|---:|")
        for pss_every in (0.5, 2.0, 10.0):
            watch = MemoryBudget(child.pid, budget_mb=10 ** 9, every=0.5, pss_every=pss_every)
            before = cpu_seconds()
            watch.start()
            time.sleep(args.seconds)
            watch.stop()
            spent = cpu_seconds() - before
            print(f"| {pss_every:g} s | 0.5 s | {60 * spent / args.seconds:.2f} | {watch.peak_mb:,.0f} |")
    finally:
        child.kill()


if __name__ == "__main__":
    main()
