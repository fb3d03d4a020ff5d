"""What an analysis notebook does first: its sweep and folders from its parameters, and under CI the
tiny runs it reads (trained and evaluated by the same steps as the runner's, in this process)."""

from __future__ import annotations

from ..config.sweep import Sweep
from ..infra import logs, paths
from ..pipeline.schedule import run_here
from ..pipeline.tasks import build_tasks


def notebook_setup(sweep, smoke_test: bool, runs_dir=None, figures_dir=None, results_dir=None,
                   executed_dir=None) -> tuple[Sweep, paths.Paths]:
    """What an analysis notebook does first: its sweep and folders from its parameters (and, under CI,
    the tiny runs it reads)."""
    logs.show()
    sweep = Sweep.from_params(sweep, smoke=smoke_test)
    where = paths.resolve(smoke_test, None, runs_dir, figures_dir, results_dir, executed_dir).make()
    if smoke_test:
        prepare_smoke(sweep, where)
    return sweep, where


def prepare_smoke(sweep: Sweep, where: paths.Paths) -> None:
    """For a notebook run alone under CI: the tiny runs it reads (seconds; reused after), by the report's own
    task graph up to its results tables, each step in this process (Dask's synchronous scheduler)."""
    with logs.quiet():
        run_here([t for t in build_tasks(sweep, where, None, False, False, set(), estimate=False) if t.here])
