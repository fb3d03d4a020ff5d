"""vaelib's messages go through `logging`, one logger per module under "vaelib"; the commands and the
notebooks show them as plain lines (`show`), and a step that must stay silent lowers them (`quiet`)."""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager

ROOT = logging.getLogger("vaelib")


def show(level: int = logging.INFO, stream=None) -> None:
    """Print vaelib's messages at `level` and above, one plain line each (stdout unless `stream`)."""
    if not any(getattr(h, "vaelib", False) for h in ROOT.handlers):
        handler = logging.StreamHandler(stream or sys.stdout)
        handler.vaelib = True
        handler.setFormatter(logging.Formatter("%(message)s"))
        ROOT.addHandler(handler)
    ROOT.setLevel(level)


@contextmanager
def quiet():
    """Only warnings and errors of vaelib inside the block (the notebooks' smoke set-up)."""
    before = ROOT.level
    ROOT.setLevel(logging.WARNING)
    try:
        yield
    finally:
        ROOT.setLevel(before)
