"""The floating-point settings every vaelib step runs with, set at its start and recorded in its provenance.

fp32 everywhere: on a GPU, torch lets cuDNN's convolutions use TF32 (10-bit mantissas) by default, so conv
models would train and decode at a lower precision than on a CPU. vaelib turns TF32 off (parity with the
CPU's fp32, the precision every number of the report was made at) and asks cuDNN for deterministic
algorithms (the same numbers when the same run is repeated on one GPU). `state()` is what
infra.provenance records beside every run and cached result.
"""

from __future__ import annotations

import torch


def fix() -> dict:
    """Set fp32 matrix products and convolutions (no TF32) and deterministic cuDNN; the settings now."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    return state()


def state() -> dict:
    """The settings that decide the precision of a CUDA step (on a CPU they change nothing)."""
    return {"tf32_matmul": torch.backends.cuda.matmul.allow_tf32, "tf32_cudnn": torch.backends.cudnn.allow_tf32,
            "cudnn_deterministic": torch.backends.cudnn.deterministic}
