"""Run folders: one per config, written atomically, never silently overwritten.

A run folder holds config.json, status.json ("running", "finished" or "failed"), history.csv,
checkpoint.pt (the last finished epoch), weights.pt (once finished) and the reconstruction grids.
"""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

import pandas as pd
import torch

from .config import IDENTITY, RunConfig

RUNS_DIR = Path("runs")


class RunConflictError(RuntimeError):
    """A run folder holds a different config; nothing was touched."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file beside `path`, then rename: a crash leaves the old file or the new one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_torch_save(obj, path: Path) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def read_config(folder: Path) -> dict | None:
    path = Path(folder) / "config.json"
    return json.loads(path.read_text()) if path.is_file() else None


def read_status(folder: Path) -> dict:
    path = Path(folder) / "status.json"
    return json.loads(path.read_text()) if path.is_file() else {"status": "missing"}


def write_status(folder: Path, status: str, **extra) -> None:
    atomic_write_text(Path(folder) / "status.json",
                      json.dumps({"status": status, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **extra}))


def is_finished(folder: Path) -> bool:
    folder = Path(folder)
    return read_status(folder)["status"] == "finished" and (folder / "weights.pt").is_file()


def config_differences(saved: dict, config: RunConfig) -> dict:
    wanted = config.identity()
    return {k: (saved.get(k), wanted[k]) for k in IDENTITY if saved.get(k) != wanted[k]}


def _ensure_writable(folder: Path, what: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PermissionError(f"cannot create the {what} {folder}: {e}") from e
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"the {what} {folder} is not writable; choose another runs_dir")


def prepare(config: RunConfig, runs_dir: Path | str = RUNS_DIR, force: bool = False) -> tuple[Path, str]:
    """The run folder for `config` and what to do there: "new", "resume" or "finished".

    A folder holding another config raises RunConflictError unless `force`, which moves the old
    folder aside (to NAME.replaced-TIMESTAMP) rather than deleting it.
    """
    runs_dir = Path(runs_dir)
    _ensure_writable(runs_dir, "runs folder")
    folder = runs_dir / config.name
    saved = read_config(folder)
    if saved is None and folder.exists() and any(folder.iterdir()):
        raise RunConflictError(f"{folder} exists but holds no config.json; move it away or choose another runs_dir")
    if saved is not None:
        diff = config_differences(saved, config)
        if diff and not force:
            lines = ", ".join(f"{k}: {old!r} there, {new!r} asked" for k, (old, new) in diff.items())
            raise RunConflictError(
                f"{folder} holds a run with a different config ({lines}). Nothing was changed. "
                f"Choose another runs_dir, or pass force=True (--force) to retrain: the old folder "
                f"is then kept as {folder.name}.replaced-<time>.")
        if force:
            aside = folder.with_name(f"{folder.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
            os.replace(folder, aside)
        elif is_finished(folder):
            return folder, "finished"
        else:
            return folder, "resume"
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "config.json", config.to_json())
    write_status(folder, "running")
    return folder, "new"


def load_history(folder: Path | str) -> pd.DataFrame:
    return pd.read_csv(Path(folder) / "history.csv")


def list_runs(runs_dir: Path | str = RUNS_DIR, finished_only: bool = True) -> pd.DataFrame:
    """One row per run folder: its config, status and path."""
    rows = []
    for cfg_path in sorted(Path(runs_dir).glob("*/config.json")):
        folder = cfg_path.parent
        if ".replaced-" in folder.name:   # an old run kept aside by force=True
            continue
        status = read_status(folder)["status"]
        if finished_only and not is_finished(folder):
            continue
        rows.append({**json.loads(cfg_path.read_text()), "status": status, "path": str(folder)})
    return pd.DataFrame(rows)
