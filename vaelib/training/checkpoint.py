"""checkpoint.pt, written and read here only: the state after the last finished epoch (weights,
optimizer, every random generator, the history so far), so that a resumed run ends exactly as an
uninterrupted one."""

from __future__ import annotations

from pathlib import Path

import torch

from ..infra.atomic import atomic_torch_save

NAME = "checkpoint.pt"


def save(folder: Path, epoch: int, model, optimizer, generators: dict, history: list[dict]) -> None:
    """Atomically: a crash leaves the previous epoch's checkpoint or this one."""
    atomic_torch_save({"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                       "rng": {name: g.get_state() for name, g in generators.items()}, "history": history},
                      Path(folder) / NAME)


def restore(folder: Path, model, optimizer, generators: dict) -> list[dict] | None:
    """Load the checkpoint of `folder` into the model, optimizer and generators; its history (None: none)."""
    path = Path(folder) / NAME
    if not path.is_file():
        return None
    saved = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    for name, g in generators.items():
        g.set_state(saved["rng"][name])
    return saved["history"]
