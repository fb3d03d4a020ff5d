"""Run folders: one per config, written atomically, never silently overwritten.

A run folder holds config.json, provenance.json (which code, torch and device made it),
status.json ("running", "finished" or "failed"), history.csv, checkpoint.pt (the last finished
epoch), weights.pt (once finished) and the reconstruction grids. A run made by another training version
is "stale": it is never reused or resumed silently.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..config.run import IDENTITY, RunConfig
from ..infra import paths, provenance
from ..infra.faults import Fault, Refused, Unwritable
from ..infra.atomic import atomic_write_text

if TYPE_CHECKING:
    import pandas

RUNS_DIR = paths.resolve().runs      # <project>/runs, from any current folder


class RunConflictError(Refused):
    """A run folder holds a different config; nothing was touched."""


class MissingRun(Fault, FileNotFoundError):
    """A run that a step reads is not there (or not finished); the message says how to make it."""


class StaleRunError(RunConflictError):
    """A run folder was made by other training code; nothing was touched."""


def read_config(folder: Path) -> RunConfig | None:
    path = Path(folder) / "config.json"
    return RunConfig.from_json(path.read_text()) if path.is_file() else None


def read_status(folder: Path) -> dict:
    path = Path(folder) / "status.json"
    return json.loads(path.read_text()) if path.is_file() else {"status": "missing"}


def write_status(folder: Path, status: str, **extra) -> None:
    atomic_write_text(Path(folder) / "status.json",
                      json.dumps({"status": status, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **extra}))


def is_finished(folder: Path) -> bool:
    folder = Path(folder)
    return read_status(folder)["status"] == "finished" and (folder / "weights.pt").is_file()


def read_provenance(folder: Path) -> dict | None:
    path = Path(folder) / "provenance.json"
    return json.loads(path.read_text()) if path.is_file() else None


def is_stale(folder: Path, version: int) -> bool:
    """True when the folder holds a run that training version `version` did not make (the reuse rule,
    infra.provenance.is_fresh)."""
    return read_config(folder) is not None and not provenance.is_fresh(read_provenance(folder), {"training": version})


def config_differences(saved: RunConfig, config: RunConfig) -> dict:
    old, wanted = saved.identity(), config.identity()
    return {k: (old[k], wanted[k]) for k in IDENTITY if old[k] != wanted[k]}


def prepare(config: RunConfig, version: int, runs_dir: Path | str = RUNS_DIR, force: bool = False,
            keep_stale: bool = False, extend: bool = False) -> tuple[Path, str]:
    """The run folder for `config` and what to do there: "new", "resume" or "finished".

    A folder holding another config raises RunConflictError, and one made by another training `version`
    StaleRunError, unless `force`, which moves the old folder aside (to NAME.replaced-TIMESTAMP)
    rather than deleting it; `keep_stale` reuses (or resumes) a stale run knowingly; `extend` lets a run
    that differs only by fewer epochs go on to `config.epochs` (its last weights kept as a snapshot).
    """
    runs_dir = Path(runs_dir)
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise Unwritable(f"cannot create the runs folder {runs_dir}: {e.strerror}; choose another runs_dir") from e
    if not os.access(runs_dir, os.W_OK):
        raise Unwritable(f"the runs folder {runs_dir} is not writable; choose another runs_dir")
    folder = runs_dir / config.name
    saved = read_config(folder)
    if saved is None and folder.exists() and any(folder.iterdir()):
        raise RunConflictError(f"{folder} exists but holds no config.json; move it away or choose another runs_dir")
    if saved is not None:
        diff = config_differences(saved, config)
        if extend and not force and set(diff) == {"epochs"} and saved.epochs < config.epochs:
            _extend(folder, saved.epochs, config)
            diff = {}
        if diff and not force:
            lines = ", ".join(f"{k}: {old!r} there, {new!r} asked" for k, (old, new) in diff.items())
            raise RunConflictError(
                f"{folder} holds a run with a different config ({lines}). Nothing was changed. "
                f"Choose another runs_dir, or pass force=True (--force) to retrain: the old folder "
                f"is then kept as {folder.name}.replaced-<time>.")
        if is_stale(folder, version) and not (force or keep_stale):
            raise StaleRunError(
                f"{folder} holds a run made by other training code ({provenance.describe(read_provenance(folder))}; "
                f"today: training {version}). Nothing was changed. Pass force=True (--force) to "
                f"retrain it (the old folder is kept as {folder.name}.replaced-<time>), or keep_stale=True "
                f"(--keep-stale) to use it as it is.")
        if not force:
            return folder, "finished" if is_finished(folder) else "resume"
        os.replace(folder, folder.with_name(f"{folder.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}"))  # kept
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "config.json", config.to_json())
    write_provenance(folder, version)
    write_status(folder, "running")
    return folder, "new"


def _extend(folder: Path, epochs_done: int, config: RunConfig) -> None:
    """Turn a run of `epochs_done` epochs into an unfinished one of config.epochs: it resumes from its checkpoint."""
    if (folder / "weights.pt").is_file():
        os.replace(folder / "weights.pt", folder / f"weights_epoch{epochs_done}.pt")
    atomic_write_text(folder / "config.json", config.to_json())
    write_status(folder, "running", extended_from=epochs_done)


def write_provenance(folder: Path, version: int, **extra) -> None:
    atomic_write_text(Path(folder) / "provenance.json",
                      json.dumps(provenance.record({"training": version}, **extra), indent=1, sort_keys=True))


def find(runs_dir: Path | str, config: RunConfig) -> Path:
    """The finished run of `config`, or an error saying how to make it."""
    folder = Path(runs_dir) / config.name
    if not is_finished(folder):
        raise MissingRun(f"no finished run {config.name} in {runs_dir}; run `make report`, or notebook "
                                f"01 with arch={config.arch!r}, latent_dim={config.latent_dim}, seed={config.seed}")
    return folder


def load_history(folder: Path | str) -> "pandas.DataFrame":
    import pandas as pd     # here: an evaluation step never reads a history, and pandas is 0.17 s of its start-up
    return pd.read_csv(Path(folder) / "history.csv")


def weights_sha256(folder: Path | str) -> str:
    """The sha256 of a run's final weights.pt: what results/ records and the site's exported decoders carry."""
    return file_sha256(Path(folder) / "weights.pt")


def file_sha256(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def weights_of(folder: Path, epoch: int, last: int) -> Path:
    return folder / ("weights.pt" if epoch == last else f"weights_epoch{epoch}.pt")
