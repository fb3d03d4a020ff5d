"""Moving code must not change a number: a short training of linear and conv d=2 on a real MNIST slice,
recorded by the code before the package was laid out by role (tests/data/golden_training.json), is
reproduced bit for bit (every history value, a SHA-256 of every weight tensor).

    python -m tests.test_golden --write     # record this CPU's numbers (with the code that made the others)

The kernels MKL and oneDNN choose differ between CPU models (benchmarks.kernels), so the numbers are
recorded per CPU model: on a recorded one they must match bit for bit, on any other they are compared
to the first recording to 1e-4 relative and the weights are not hashed.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from vaelib.config import RunConfig
from vaelib.training.engine import train

GOLDEN = Path(__file__).parent / "data" / "golden_training.json"
COLUMNS = ["train_loss", "train_recon", "train_kl", "test_loss", "test_recon", "test_kl"]


def cpu_name() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor()


def record(arch: str, runs_dir: Path) -> dict:
    torch.set_num_threads(1)
    cfg = RunConfig(arch=arch, latent_dim=2, epochs=2, train_limit=1000, test_limit=300, num_threads=1)
    run = train(cfg, runs_dir, progress=False)
    weights = {name: hashlib.sha256(t.detach().contiguous().numpy().tobytes()).hexdigest()
               for name, t in run.model.state_dict().items()}
    return {"history": {c: [float(v) for v in run.history[c]] for c in COLUMNS}, "weights": weights}


@pytest.mark.parametrize("arch", ["linear", "conv"])
def test_training_reproduces_the_recorded_numbers(arch, tmp_path):
    recordings = json.loads(GOLDEN.read_text())["recordings"]
    ours = [r for r in recordings if r["cpu"] == cpu_name()]
    got = record(arch, tmp_path)
    if ours:
        want = ours[0]["runs"][arch]
        assert got["history"] == want["history"]
        assert got["weights"] == want["weights"]
    else:
        want = recordings[0]["runs"][arch]
        for c in COLUMNS:
            assert got["history"][c] == pytest.approx(want["history"][c], rel=1e-4), c


if __name__ == "__main__" and "--write" in sys.argv:
    saved = json.loads(GOLDEN.read_text())["recordings"] if GOLDEN.is_file() else []
    with tempfile.TemporaryDirectory() as tmp:
        new = {"cpu": cpu_name(), "torch": torch.__version__,
               "runs": {arch: record(arch, Path(tmp)) for arch in ("linear", "conv")}}
    recordings = [r for r in saved if r["cpu"] != new["cpu"]] + [new]
    GOLDEN.write_text(json.dumps({"recordings": recordings}, indent=1) + "\n")
    print(f"wrote {GOLDEN}: {', '.join(r['cpu'] for r in recordings)}")
