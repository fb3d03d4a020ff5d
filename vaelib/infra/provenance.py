"""Which code made a result, and the one reuse rule.

A cached thing (a run, each metric of its evaluation, the classifier, an NLL estimate) records the version of
each computation that made it: `TRAINING_VERSION` beside the training engine, one version per evaluation
metric (evaluation.metrics.versions; the IWAE bound's is its decoder form's, core.iwae.version, shared with the
NLL estimates),
the classifier's. It is reused when its settings and its versions equal today's (`is_fresh`). A version is
bumped by hand, in the commit that changes a number; the golden tests (tests/test_golden.py) hold every
versioned number bit for bit per CPU model, so that a change that moves one without a bump fails `make test`.
Beside the versions a record keeps what else can move a float's last bit: git commit, torch, CPU model and
instruction-set flags, device, precision.
"""

from __future__ import annotations

import platform
import subprocess
from functools import lru_cache
from pathlib import Path

import torch

PACKAGE = Path(__file__).resolve().parent.parent

# Records made before versions existed (commit 2a642a5 and earlier) name their code by a fingerprint of its
# source. These fingerprints gave version 1's numbers bit for bit, as that code's own rule established:
# training, the 8 codes that trained the committed runs (results/code_versions.csv retrains one run of each
# bit for bit; the literature run's witness was replayed by each); the evaluation, its last fingerprint and the
# wider one its earlier records carry; the NLL estimates and the classifier, their last fingerprints.
EVALUATION_METRICS = ("elbo", "iwae", "recon_accuracy", "knn", "latent")
BEFORE_VERSIONS = {
    **{code: {"training": 1} for code in ("eb45c9d8a09d", "b1aeffb4bbde", "a0c4374cb9ef", "d2657ff53a52",
                                          "454879fe4dde", "6d91435c461d", "da089c52d03b", "572730d2cbb5")},
    **{code: dict.fromkeys(EVALUATION_METRICS, 1) for code in ("dab34ae98e79", "d230d22a1783")},
    "567c4126ee69": {"nll": 1}, "79eba0a1162f": {"classifier": 1},
}


def versions_of(saved: dict | None) -> dict:
    """The versions a record (or a result holding one under "provenance") was made by."""
    made_by = (saved or {}).get("provenance", saved or {})
    if "versions" in made_by:
        return made_by["versions"]
    found: dict = {}
    for code in (made_by.get("code"), *made_by.get("reproduced_by", {})):
        found.update(BEFORE_VERSIONS.get(code, {}))
    return found


def is_fresh(saved: dict | None, versions: dict, **same) -> bool:
    """The one reuse rule: `saved` was made by today's `versions` of its computations, for the same settings
    (each of `same` equals the saved field of that name)."""
    if not saved or not all(saved.get(k) == v for k, v in same.items()):
        return False
    made = versions_of(saved)
    return all(made.get(name) == version for name, version in versions.items())


def label(versions: dict) -> str:
    """The versions in a few characters, for tables and messages: "training 1"."""
    return ", ".join(f"{name} {version}" for name, version in sorted(versions.items()))


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


# The CPU's instruction-set extensions that choose torch's kernels and so can change a float's last bit.
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
             "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve")


@lru_cache(maxsize=1)
def cpu() -> dict:
    """The CPU a result was made on: its model name, its vendor, and which of ISA_FLAGS it has (from
    /proc/cpuinfo; the platform's words elsewhere), beside torch's own choice of kernels."""
    info: dict = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    flags = set((info.get("flags") or info.get("Features") or "").split())
    return {"model": info.get("model name") or platform.processor() or platform.machine(),
            "vendor": info.get("vendor_id", ""), "flags": [f for f in ISA_FLAGS if f in flags],
            "torch_capability": torch.backends.cpu.get_cpu_capability()}


def record(versions: dict, device: str | torch.device = "cpu", **extra) -> dict:
    """The provenance written beside a result: its versions, and what else decides its last bits."""
    from .numerics import state
    return {"versions": versions, "code": label(versions), **git_commit(), "torch": str(torch.__version__),
            "device": str(device), "precision": state(), "cpu": cpu(), **extra}


def describe(saved: dict | None) -> str:
    if not saved:
        return "unknown code (no provenance recorded)"
    commit = saved.get("commit", "no git")
    return f"code {saved.get('code')} (commit {commit}{'+dirty' if saved.get('dirty') else ''})"
