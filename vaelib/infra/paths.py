"""Where everything goes: one resolver for runs, figures, results and executed notebooks.

Every default is anchored to the project root, whatever the current folder (a notebook runs in
notebooks/, the runner anywhere). Smoke output (CI-sized runs) lives under its own root and never
mixes with the full report's folders.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
SMOKE_ROOT_ENV = "VAELIB_SMOKE_ROOT"     # make test points it at a fresh folder


@dataclass(frozen=True)
class Paths:
    runs: Path
    figures: Path
    results: Path
    executed: Path

    def make(self) -> "Paths":
        for folder in (self.runs, self.figures, self.results, self.executed):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    def as_params(self) -> dict:
        """The folders as notebook parameters (papermill passes plain strings)."""
        return {"runs_dir": str(self.runs), "figures_dir": str(self.figures),
                "results_dir": str(self.results), "executed_dir": str(self.executed)}


def resolve(smoke: bool = False, out=None, runs_dir=None, figures_dir=None, results_dir=None,
            executed_dir=None) -> Paths:
    """The four folders: explicit ones win, then `out`/<name>, then the smoke root or the project root."""
    default = (os.environ.get(SMOKE_ROOT_ENV) or PROJECT / "runs-smoke") if smoke else PROJECT
    base = Path(out or default).resolve()

    def pick(explicit, name):
        return Path(explicit).resolve() if explicit not in (None, "", "None") else base / name

    return Paths(runs=pick(runs_dir, "runs"), figures=pick(figures_dir, "figures"),
                 results=pick(results_dir, "results"), executed=pick(executed_dir, "executed"))
