"""What starting a Python process costs here: the seconds to import what a report's processes import
(each notebook kernel, each training or evaluation task is a fresh process), in fresh interpreters, with
the installed packages' bytecode as it is, and with it ignored (each file compiled from source, as where
PYTHONDONTWRITEBYTECODE is set and nothing was byte-compiled at install: `make venv` byte-compiles once).

    python -m benchmarks.imports                 # 3 fresh processes per module and per case
    python -m benchmarks.imports --repeat 5 --modules torch vaelib.metrics

Prints a table (median wall and CPU seconds) and ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import pandas as pd

MODULES = ["torch", "torchvision", "vaelib.metrics", "vaelib.notebook.setup"]


def import_seconds(module: str, from_source: bool) -> tuple[float, float]:
    """Wall and CPU seconds of `python -c "import module"` in a fresh interpreter; `from_source` points
    the bytecode cache at an empty folder, so that every file is compiled again."""
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as empty:
        if from_source:
            env.update(PYTHONPYCACHEPREFIX=empty, PYTHONDONTWRITEBYTECODE="1")
        before = os.times()
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}"], env=env, check=True)
        wall = time.perf_counter() - start
        after = os.times()
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.imports", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modules", nargs="+", default=MODULES)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    rows = []
    for module in args.modules:
        for from_source in (False, True):
            times = [import_seconds(module, from_source) for _ in range(args.repeat)]
            rows.append({"module": module, "bytecode": "compiled from source" if from_source else "the venv's bytecode",
                         "wall_s": statistics.median(t[0] for t in times),
                         "cpu_s": statistics.median(t[1] for t in times)})
    table = pd.DataFrame(rows)
    print(f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}; "
          f"median of {args.repeat} fresh processes each")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(json.dumps({"repeat": args.repeat, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
