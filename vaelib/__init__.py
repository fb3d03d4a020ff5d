"""vaelib: variational auto-encoders on MNIST, and the notebook report built on them.

The package by role, lower floors never importing higher ones (checked by import-linter, `make test`):

    notebook             the notebooks' set-up (the report's task graph, run in the kernel) and widgets
    pipeline             the runner: the task graph, its executors, the steps' launcher, report, reference
    analysis             tables, claims, figures, the write-up
    evaluation           the evaluation step, the digit classifier, latent tools, samples, the NLL estimate
    training             the training engine and run folders
    config               RunConfig (one run), Sweep (a whole report), the reference's protocol
    core | data          the VAE (models, loss, bounds) | the datasets and their fetching
    infra                atomic files, folders, provenance, locks, CPU sharing, memory

The commands are modules of their own: `python -m vaelib` (train, params), `vaelib.report`,
`vaelib.reference`, `vaelib.metrics`, `vaelib.classifier`, `vaelib.data`, `vaelib.writeup`.
The names a notebook or a user needs are here: `from vaelib import RunConfig, Sweep, train, load_model`.
"""

from importlib import import_module

_EXPORTS = {
    "RunConfig": "vaelib.config.run", "ConfigError": "vaelib.config.run", "Sweep": "vaelib.config.sweep",
    "build_model": "vaelib.core.models", "load_model": "vaelib.core.models", "count_params": "vaelib.core.models",
    "vae_loss": "vaelib.core.losses", "iwae_bound": "vaelib.core.iwae", "load_data": "vaelib.data.datasets",
    "train": "vaelib.training.engine", "evaluate_run": "vaelib.evaluation.metrics",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    """Exports load on first use, so `import vaelib.infra.paths` does not import torch and the trainer."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vaelib' has no attribute {name!r}")
    attr = "load" if name == "load_data" else name
    return getattr(import_module(_EXPORTS[name]), attr)
