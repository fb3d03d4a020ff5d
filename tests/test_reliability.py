"""Failure cases: bad input, interrupted and diverging runs, conflicting folders, wrong weights."""

import json
import os
import subprocess
import sys

import pandas as pd
import papermill as pm
import pytest
import torch
from conftest import kill_once
from vaelib.training import runs
from vaelib.config import ConfigError, RunConfig
from vaelib.core.models import load_model
from vaelib.training.engine import DivergenceError, train

LOSS_COLUMNS = ["train_loss", "train_recon", "train_kl", "test_loss", "test_recon", "test_kl"]
NOTEBOOKS = os.path.join(os.path.dirname(__file__), "..", "notebooks")


@pytest.mark.parametrize("params,message", [
    ({"arch": "mlp"}, "arch='mlp' is not allowed; expected one of: linear, conv"),
    ({"latent_dim": 0}, "latent_dim=0 is not allowed; expected an integer >= 1"),
    ({"latent_dim": 2.5}, "latent_dim=2.5 is not allowed; expected an integer >= 1"),
    ({"latent_dim": "two"}, "latent_dim='two' is not allowed; expected an integer >= 1"),
    ({"epochs": 0}, "epochs=0 is not allowed; expected an integer >= 1"),
    ({"batch_size": -8}, "batch_size=-8 is not allowed; expected an integer >= 1"),
    ({"lr": 0}, "lr=0 is not allowed; expected a number > 0"),
    ({"lr": "-1e-3"}, "lr='-1e-3' is not allowed; expected a number > 0"),
    ({"dataset": "cifar10"}, "dataset='cifar10' is not allowed; expected one of: mnist, fashion"),
    ({"latent_dmi": 2}, "unknown parameter(s) latent_dmi"),
])
def test_bad_parameters_are_refused_by_name(params, message):
    with pytest.raises(ConfigError) as err:
        RunConfig.from_params(**{"arch": "linear", "latent_dim": 2, **params})
    assert message in str(err.value)


def test_papermill_strings_are_coerced():
    config = RunConfig.from_params(arch="conv", latent_dim="5", epochs="3", lr="1e-3", train_limit="None")
    assert (config.latent_dim, config.epochs, config.lr, config.train_limit) == (5, 3, 1e-3, None)


def test_cli_rejects_bad_input_before_creating_anything(tmp_path):
    result = subprocess.run([sys.executable, "-m", "vaelib", "train", "--arch", "linear", "--latent-dim", "0",
                             "--runs-dir", str(tmp_path / "runs")], capture_output=True, text=True)
    assert result.returncode == 2
    assert "latent_dim=0 is not allowed" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()


def test_notebook_fails_in_its_first_cells_on_a_bad_parameter(tmp_path):
    with pytest.raises(pm.PapermillExecutionError) as err:
        pm.execute_notebook(os.path.join(NOTEBOOKS, "01_train.ipynb"), str(tmp_path / "out.ipynb"),
                            parameters={"latent_dim": -1, "runs_dir": str(tmp_path / "runs"), "smoke_test": True},
                            cwd=NOTEBOOKS, progress_bar=False, kernel_name="python3")
    assert err.value.ename == "ConfigError" and "latent_dim=-1 is not allowed" in err.value.evalue
    assert err.value.exec_count <= 3          # parameters, injected parameters, then this check
    assert not (tmp_path / "runs").exists()


def small(**kw):
    base = dict(arch="conv", latent_dim=2, epochs=4, train_limit=6000, test_limit=500, num_threads=1)
    return RunConfig(**{**base, **kw})


@pytest.mark.parametrize("arch,d,dataset,batch_size", [("conv", 2, "mnist", 128),
                                                    # dynamic binarization: its draws resume exactly too
                                                    ("burda", 50, "mnist-binarized", 20)])
def test_killed_run_resumes_to_the_same_history(tmp_path, arch, d, dataset, batch_size, caplog):
    """Kill a real training process after its first finished epoch, rerun, compare with a clean run."""
    config = small(arch=arch, latent_dim=d, dataset=dataset, batch_size=batch_size)
    cmd = [sys.executable, "-m", "vaelib", "train", "--arch", arch, "--latent-dim", str(d), "--epochs", "4",
           "--dataset", dataset, "--batch-size", str(batch_size),
           "--train-limit", "6000", "--test-limit", "500", "--threads", "1", "--quiet",
           "--runs-dir", str(tmp_path / "killed")]
    folder = tmp_path / "killed" / config.name
    kill_once(cmd, folder / "history.csv")
    done = len(pd.read_csv(folder / "history.csv"))
    assert 1 <= done < 4
    assert runs.read_status(folder)["status"] == "running" and not (folder / "weights.pt").exists()

    with caplog.at_level("INFO", logger="vaelib"):
        resumed = train(config, tmp_path / "killed", progress=False)
    assert any("resuming after epoch" in m for m in caplog.messages)
    clean = train(config, tmp_path / "clean", progress=False)
    assert list(resumed.history["epoch"]) == [1, 2, 3, 4]
    pd.testing.assert_frame_equal(resumed.history[LOSS_COLUMNS], clean.history[LOSS_COLUMNS], check_exact=True)
    assert runs.is_finished(folder)


def test_divergence_stops_names_epoch_and_batch_and_keeps_the_last_good_checkpoint(tmp_path):
    config = small(arch="linear", epochs=2, lr=1e10, train_limit=1000, test_limit=200)
    with pytest.raises(DivergenceError, match=r"at epoch 1, batch \d+") as err:
        train(config, tmp_path, progress=False)
    folder = tmp_path / config.name
    status = runs.read_status(folder)
    assert status["status"] == "failed" and "epoch 1" in status["error"]
    assert not runs.is_finished(folder) and not (folder / "weights.pt").exists()
    assert "last good epoch (0)" in str(err.value)
    with pytest.raises(DivergenceError):       # a failed run is never reused as finished
        train(config, tmp_path, progress=False)


def test_a_divergence_seen_between_two_looks_is_named_with_its_batch_range():
    """On a GPU the losses are looked at every 100 batches (a look makes the host wait); the error then names
    the range in which the sums stopped being finite. On the CPU every batch is looked at."""
    from vaelib.training.plain import check_every, check_sums
    assert check_every(torch.device("cpu")) == 1 and check_every(torch.device("cuda")) == 100
    check_sums(torch.tensor([1.0, 2.0, 3.0]), epoch=2, batch=200, batches=469, every=100)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(DivergenceError, match=r"^loss is not finite at epoch 2, batches 101-200$"):
            check_sums(torch.tensor([bad, 2.0, 3.0]), epoch=2, batch=200, batches=469, every=100)


def test_a_folder_with_another_config_is_never_overwritten(tmp_path):
    first = train(small(arch="linear", epochs=1, train_limit=500, test_limit=100), tmp_path, progress=False)
    weights = (first.folder / "weights.pt").read_bytes()
    with pytest.raises(runs.RunConflictError, match=r"epochs: 1 there, 2 asked"):
        train(small(arch="linear", epochs=2, train_limit=500, test_limit=100), tmp_path, progress=False)
    assert (first.folder / "weights.pt").read_bytes() == weights
    assert json.loads((first.folder / "config.json").read_text())["epochs"] == 1

    train(small(arch="linear", epochs=2, train_limit=500, test_limit=100), tmp_path, force=True, progress=False)
    aside = list(tmp_path.glob("linear_2_s0.replaced-*"))
    assert len(aside) == 1 and (aside[0] / "weights.pt").read_bytes() == weights


def test_weights_of_another_model_are_refused_by_name(tmp_path):
    run = train(small(arch="linear", epochs=1, train_limit=500, test_limit=100), tmp_path, progress=False)
    with pytest.raises(ValueError, match="linear VAE with latent_dim=2, not of the requested conv VAE with latent_dim=2"):
        load_model(run.folder, arch="conv")
    with pytest.raises(ValueError, match="latent_dim=2, not of the requested linear VAE with latent_dim=3"):
        load_model(run.folder, latent_dim=3)


def test_an_unusable_runs_folder_gives_a_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(PermissionError, match="cannot create the runs folder"):
        train(small(arch="linear", epochs=1), blocker / "runs", progress=False)
