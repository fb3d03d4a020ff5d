"""Runs are portable between devices: every random draw comes from a CPU generator (the same streams and
checkpoints on any device), the numerics are fixed and recorded, results made on different device types
are never tabulated together. The CUDA tests are in test_cuda.py."""

import json

import pytest
import torch

from vaelib.analysis import results
from vaelib.config import RunConfig
from vaelib.config.sweep import Sweep
from vaelib.infra import numerics, paths
from vaelib.infra.atomic import torch_load
from vaelib.training import runs
from vaelib.training.engine import resolve_device, train


def small(device="cpu", epochs=1, arch="linear", **kw):
    return RunConfig(arch=arch, latent_dim=2, epochs=epochs, train_limit=1000, test_limit=300, num_threads=1,
                     device=device, **kw)


def test_a_checkpoint_holds_only_cpu_generator_states_so_it_resumes_on_any_device(tmp_path):
    folder = train(small(dataset="mnist-binarized"), tmp_path, progress=False).folder
    saved = torch_load(folder / "checkpoint.pt", weights_only=False)
    cpu_state = torch.Generator().get_state()
    assert set(saved["rng"]) == {"perm", "noise", "binarize"}
    assert all(state.dtype == cpu_state.dtype and state.shape == cpu_state.shape for state in saved["rng"].values())


def test_auto_is_the_cpu_in_tests_and_the_numerics_are_fixed_and_recorded(tmp_path):
    assert resolve_device("auto") == torch.device("cpu")
    assert numerics.state() == {"tf32_matmul": False, "tf32_cudnn": False, "cudnn_deterministic": True}
    folder = train(small(), tmp_path, progress=False).folder
    assert runs.read_provenance(folder)["precision"] == numerics.state()


def test_runs_of_two_device_types_are_refused_in_one_table_with_one_line(tmp_path):
    sweep = Sweep.from_params({"archs": ["linear"], "dims": [2], "seeds": [0, 1], "epochs": 1,
                               "train_limit": 1000, "test_limit": 300, "datasets": ["mnist"], "iwae_k": 0,
                               "extras": []})
    where = paths.resolve(runs_dir=tmp_path / "runs", results_dir=tmp_path / "results",
                          figures_dir=tmp_path / "figures", executed_dir=tmp_path / "executed").make()
    for c in sweep.configs():
        train(c, where.runs, progress=False)
    assert set(results.device_types(sweep, where)) == {"cpu"}
    made = where.runs / sweep.configs()[1].name / "provenance.json"
    saved = json.loads(made.read_text())
    made.write_text(json.dumps({**saved, "device": "cuda:0"}))      # as if trained on a GPU
    with pytest.raises(results.MixedDevices) as refused:
        results.write_all(sweep, where)
    line = str(refused.value)
    assert "\n" not in line and "cpu: linear_2_s0 (1)" in line and "cuda: linear_2_s1 (1)" in line
    assert not (where.results / "metrics.csv").exists(), "a table was written from mixed runs"
