"""What the notebooks share: where things go, the smoke configuration, and finding runs.

Under CI (`smoke_test = "CI" in os.environ`, a notebook parameter) the notebooks train on a few
thousand images for one epoch, in a separate runs folder, so that nbval runs them in minutes and
never touches the real runs or the committed figures.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from . import runs
from .config import RunConfig
from .train import train

PROJECT = Path(__file__).resolve().parent.parent
SMOKE = {"epochs": 1, "train_limit": 2000, "test_limit": 500}


def dirs(smoke_test: bool, runs_dir=None, figures_dir=None, results_dir=None) -> SimpleNamespace:
    """Folders for runs, figures and result tables; smoke runs keep all three apart."""
    default_runs = PROJECT / ("runs-smoke" if smoke_test else "runs")
    runs_path = Path(runs_dir) if runs_dir else default_runs
    base = runs_path if smoke_test else PROJECT
    out = SimpleNamespace(runs=runs_path,
                          figures=Path(figures_dir) if figures_dir else base / "figures",
                          results=Path(results_dir) if results_dir else base / "results")
    for path in vars(out).values():
        path.mkdir(parents=True, exist_ok=True)
    return out


def training_config(smoke_test: bool, **params) -> RunConfig:
    """Validate the notebook's parameters (strings from papermill welcome), then apply smoke sizes."""
    config = RunConfig.from_params(**params)       # bad input fails here, in the first cells
    if smoke_test:
        config = RunConfig.from_params(**{**params, **SMOKE})
    return config


def run_folder(runs_dir: Path, arch: str, latent_dim: int, smoke_test: bool = False,
               dataset: str = "mnist") -> Path:
    """The finished run of (arch, d); in smoke mode a missing one is trained (seconds)."""
    config = training_config(smoke_test, arch=arch, latent_dim=latent_dim, dataset=dataset)
    folder = Path(runs_dir) / config.name
    if runs.is_finished(folder):
        return folder
    if smoke_test:
        return train(config, runs_dir, progress=False, log=lambda *_: None).folder
    raise FileNotFoundError(f"no finished run for arch={arch!r}, latent_dim={latent_dim}, dataset={dataset!r} "
                            f"in {runs_dir}; run `make report`, or notebook 01 with these parameters")


def epochs_to_show(epochs: int) -> list[int]:
    """The seed's snapshots (epochs 1, 5, 10 and the last) that exist in a run of `epochs`."""
    return sorted({e for e in (1, 5, 10, epochs) if e <= epochs})
