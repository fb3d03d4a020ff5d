"""Which code made a result: a fingerprint of the sources that decide it, the git commit, torch, device.

A finished run (or a cached metric) is reused only when the fingerprint of the code that produced it
equals today's. The fingerprint hashes the *sources* that determine the numbers (not the commit), so a
change to the README or to a plot does not invalidate hours of training, while a change to the model,
the loss or the training loop does.
"""

from __future__ import annotations

import hashlib
import subprocess
from functools import lru_cache
from pathlib import Path

import torch

PACKAGE = Path(__file__).resolve().parent
# The modules whose code decides a trained model's numbers, and those that decide a metric's.
TRAINING_CODE = ("models.py", "losses.py", "train.py", "data.py", "config.py")
EVALUATION_CODE = TRAINING_CODE + ("metrics.py", "classifier.py")


def fingerprint(modules=TRAINING_CODE) -> str:
    """A short hash of the given vaelib source files (their bytes, in order)."""
    digest = hashlib.sha256()
    for name in modules:
        digest.update(name.encode() + b"\0" + (PACKAGE / name).read_bytes() + b"\0")
    return digest.hexdigest()[:12]


@lru_cache(maxsize=1)
def git_commit() -> dict:
    """The project's commit and whether tracked vaelib files differ from it ({} without git)."""
    root = PACKAGE.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "vaelib"], cwd=root, capture_output=True,
                               text=True, timeout=10, check=True).stdout.strip() != ""
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"commit": commit, "dirty": dirty}


def record(modules=TRAINING_CODE, device: str | torch.device = "cpu", **extra) -> dict:
    """The provenance written beside a result."""
    return {"code": fingerprint(modules), **git_commit(), "torch": str(torch.__version__), "device": str(device), **extra}


def describe(saved: dict | None) -> str:
    if not saved:
        return "unknown code (no provenance recorded)"
    commit = saved.get("commit", "no git")
    return f"code {saved.get('code')} (commit {commit}{'+dirty' if saved.get('dirty') else ''})"
