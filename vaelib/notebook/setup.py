"""What an analysis notebook does first: its sweep and folders from its parameters, and under CI the
tiny runs it reads (trained and evaluated by the same steps as the runner's, in this process)."""

from __future__ import annotations

from ..analysis.results import write_all
from ..config.sweep import Sweep
from ..evaluation import classifier
from ..evaluation.classifier import classifier_path
from ..evaluation.metrics import evaluate_run
from ..infra import logs, paths
from ..training.engine import train


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
    """For a notebook run alone under CI: train and evaluate the tiny runs it reads (seconds; reused after).

    The same steps as the runner's (training, classifier, evaluation, results tables), in this process.
    """
    with logs.quiet():
        for config in sweep.configs():
            train(config, where.runs, progress=False)
        clf = classifier_path(where.runs, sweep.train_limit)
        classifier.ensure(clf, train_limit=sweep.train_limit, progress=False)
        for config in sweep.configs():
            if config.dataset == sweep.dataset:
                evaluate_run(where.runs / config.name, clf, iwae_k=sweep.iwae_k_for(config) or None)
        write_all(sweep, where)
