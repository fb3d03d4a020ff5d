"""checkpoint.pt, written and read here only: the state after the last finished epoch (weights,
optimizer, every random generator, the history so far), so that a resumed run ends exactly as an
uninterrupted one. The previous epoch's checkpoint is kept beside it (checkpoint.prev.pt, a few MB):
a damaged latest checkpoint falls back one epoch instead of losing the run."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..infra.atomic import atomic_torch_save, torch_load
from ..infra.faults import DamagedFile

logger = logging.getLogger(__name__)
NAME, PREVIOUS = "checkpoint.pt", "checkpoint.prev.pt"


def save(folder: Path, epoch: int, model, optimizer, generators: dict, history: list[dict]) -> None:
    """Atomically, the last one kept as the previous: a crash or a full disk leaves a good checkpoint."""
    folder = Path(folder)
    if (folder / NAME).is_file():
        os.replace(folder / NAME, folder / PREVIOUS)
    atomic_torch_save({"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                       "rng": {name: g.get_state() for name, g in generators.items()}, "history": history},
                      folder / NAME)


def restore(folder: Path, model, optimizer, generators: dict) -> list[dict] | None:
    """Load the newest good checkpoint of `folder` into the model, optimizer and generators; its history
    (None when there is no checkpoint). Raises DamagedFile, naming the way back, when none reads back."""
    folder = Path(folder)
    found = [folder / n for n in (NAME, PREVIOUS) if (folder / n).is_file()]
    if not found:
        return None
    problems = []
    for path in found:
        try:
            saved = torch_load(path, weights_only=False)
        except DamagedFile as e:
            problems.append(str(e))
            continue
        if problems:
            logger.warning(f"{problems[0]}; resuming from the previous epoch's checkpoint {path.name} instead")
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        for name, g in generators.items():
            g.set_state(saved["rng"][name])
        return saved["history"]
    raise DamagedFile(f"run {folder.name} cannot resume: {'; '.join(problems)}. Retrain it with --force "
                      f"(the old folder is kept aside as {folder.name}.replaced-<time>)")
