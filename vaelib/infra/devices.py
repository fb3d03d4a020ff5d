"""Which device a step runs on, with the fp32 numerics fixed for it: one rule for training, evaluation and
the NLL estimate (none of which should import another's code for it)."""

from __future__ import annotations

import os

import torch

from . import numerics

AUTO_DEVICE_ENV = "VAELIB_AUTO_DEVICE"


def resolve_device(name: str = "auto") -> torch.device:
    """The device a step runs on ("auto": CUDA when available, unless $VAELIB_AUTO_DEVICE names another),
    with fp32 numerics fixed for it (infra.numerics)."""
    numerics.fix()
    if name == "auto":
        name = os.environ.get(AUTO_DEVICE_ENV) or ("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def synced(device: torch.device) -> None:
    """Wait for the work queued on `device`: CUDA runs asynchronously, so a timing that does not wait measures
    only the launches."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
