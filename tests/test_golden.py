"""No number moves without its version: a short training of linear and conv d=2 on a real MNIST slice, and
every evaluation metric of it, recorded per CPU model (tests/data/golden_training.json), are reproduced bit for
bit (every history value, a SHA-256 of every weight tensor, every metric) while their versions
(training.engine.TRAINING_VERSION, evaluation.metrics.versions: the bound's by its decoder form) are the
recorded ones.

    python -m tests.test_golden --write     # record this CPU's numbers, after bumping a version

A change that moves a number must bump the version of what it moved (infra.provenance: cached runs and metrics
of the old version are then computed again) and re-record; a bumped part is skipped, with that message,
until it is re-recorded. The kernels MKL and oneDNN choose differ between CPU models (benchmarks.kernels), so
the numbers are recorded per CPU model: on a recorded one they must match bit for bit, on any other the
history is compared to the first recording to 1e-4 relative.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from vaelib.config import RunConfig
from vaelib.evaluation import classifier, metrics
from vaelib.infra.provenance import cpu
from vaelib.training.engine import TRAINING_VERSION, train

GOLDEN = Path(__file__).parent / "data" / "golden_training.json"
COLUMNS = ["train_loss", "train_recon", "train_kl", "test_loss", "test_recon", "test_kl"]
METRICS = {"elbo": ["test_elbo"], "iwae": ["iwae_bound"], "recon_accuracy": ["recon_accuracy", "recon_confusion"],
           "knn": ["knn_accuracy", "knn_confusion"], "latent": ["kl_per_dim", "active_units"]}


def versions(arch: str) -> dict:
    return {"training": TRAINING_VERSION, **({} if arch == "burda" else metrics.versions(arch))}


CONFIGS = {arch: RunConfig(arch=arch, latent_dim=2, epochs=2, train_limit=1000, test_limit=300, num_threads=1)
           for arch in ("linear", "conv")}
# the literature protocol's step (training.lean), optimizer and in-order, binarized batches
CONFIGS["burda"] = RunConfig(arch="burda", latent_dim=5, dataset="mnist-binarized", epochs=2, batch_size=20,
                             train_limit=200, test_limit=50, num_threads=1, protocol="burda")


def record(arch: str, runs_dir: Path) -> dict:
    torch.set_num_threads(1)
    run = train(CONFIGS[arch], runs_dir, progress=False)
    weights = {name: hashlib.sha256(t.detach().contiguous().numpy().tobytes()).hexdigest()
               for name, t in run.model.state_dict().items()}
    if arch == "burda":
        return {"history": {c: [float(v) for v in run.history[c]] for c in COLUMNS}, "weights": weights,
                "versions": versions(arch)}
    clf = runs_dir / "classifier.pt"
    classifier.ensure(clf, train_limit=1000, epochs=1, progress=False, num_threads=1)
    found = metrics.evaluate_run(run.folder, clf, iwae_k=5, num_threads=1)
    return {"history": {c: [float(v) for v in run.history[c]] for c in COLUMNS}, "weights": weights,
            "versions": versions(arch),
            "metrics": {m: {f: found[f] for f in fields} for m, fields in METRICS.items()}}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    recordings = json.loads(GOLDEN.read_text())["recordings"]
    ours = [r for r in recordings if r["cpu"] == cpu()["model"]]
    return (ours[0] if ours else None), recordings[0], tmp_path_factory.mktemp("golden")


@pytest.mark.parametrize("arch", list(CONFIGS))
def test_training_and_evaluation_reproduce_the_recorded_numbers(arch, recorded):
    ours, first, runs_dir = recorded
    got = record(arch, runs_dir)
    if ours is None or arch not in ours["runs"]:
        if arch not in first["runs"]:
            pytest.skip(f"no recording of {arch} yet: `python -m tests.test_golden --write` on this CPU")
        want = first["runs"][arch]
        for c in COLUMNS:
            assert got["history"][c] == pytest.approx(want["history"][c], rel=1e-4), c
        return
    want = ours["runs"][arch]
    made = want.get("versions", {"training": 1})      # recorded before versions: training 1 (infra.provenance)
    now = versions(arch)
    bumped = [name for name, v in now.items() if name in made and made[name] != v]
    if made.get("training") == TRAINING_VERSION:
        assert got["history"] == want["history"], "training numbers moved: bump TRAINING_VERSION and re-record"
        assert got["weights"] == want["weights"], "weights moved: bump TRAINING_VERSION and re-record"
        for metric, values in want.get("metrics", {}).items():
            if made.get(metric) == now[metric]:
                assert got["metrics"][metric] == values, f"{metric} moved: bump its version and re-record"
    if bumped:
        pytest.skip(f"{', '.join(bumped)} bumped since the recording on {ours['cpu']}: re-record with "
                    f"`python -m tests.test_golden --write`")


if __name__ == "__main__" and "--write" in sys.argv:
    saved = json.loads(GOLDEN.read_text())["recordings"] if GOLDEN.is_file() else []
    with tempfile.TemporaryDirectory() as tmp:
        new = {"cpu": cpu()["model"], "isa": cpu()["flags"], "torch": torch.__version__,
               "runs": {arch: record(arch, Path(tmp)) for arch in CONFIGS}}
    recordings = [r for r in saved if r["cpu"] != new["cpu"]] + [new]
    GOLDEN.write_text(json.dumps({"recordings": recordings}, indent=1) + "\n")
    print(f"wrote {GOLDEN}: {', '.join(r['cpu'] for r in recordings)}")
