"""The whole report runner (papermill, the evaluation step, the write-up) on subsets of the sweep.

The full default sweep runs in smoke mode under nbval (each notebook alone); here the runner itself,
on the subsets users ask for: one architecture with d=2 and two seeds, and a sweep with no 2-D model.
"""

import json
import subprocess
import sys

import pandas as pd
import pytest

from vaelib.analysis.figures import FIGURES, expected_figures
from vaelib.config.sweep import Sweep

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def report(out, *args):
    result = subprocess.run([sys.executable, "-m", "vaelib.report", "--smoke", "--out", str(out), *args],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "total wall time" in result.stdout
    return result


def figures_made(out):
    return {p.name for p in (out / "figures").glob("*.png")}


@pytest.mark.slow
def test_one_architecture_two_seeds(tmp_path):
    report(tmp_path, "--archs", "conv", "--dims", "2", "5", "--seeds", "0", "1", "--device", "cpu")
    sweep = Sweep.from_params({"archs": ["conv"], "dims": [2, 5], "seeds": [0, 1]}, smoke=True)
    assert figures_made(tmp_path) == set(expected_figures(sweep))
    for name in expected_figures(sweep):
        assert (tmp_path / "figures" / name).read_bytes()[:8] == PNG_MAGIC
    summary = pd.read_csv(tmp_path / "results" / "summary.csv")
    assert list(summary["seeds"]) == [2] * 6 and summary["test_loss_std"].notna().all()   # conv and the two extras
    assert sorted(summary["arch"]) == ["conv", "conv", "convch", "convch", "convwide", "convwide"]
    scores = pd.read_csv(tmp_path / "results" / "metrics.csv")
    assert len(scores) == 12 and scores["run_code"].nunique() == 1   # 4 grid runs, 4 wide-dense, 4 of its control
    grid = scores["arch"] == "conv"
    assert scores.loc[grid & (scores["seed"] == 0), "iwae_bound"].notna().all()   # the bound: grid, first seed
    assert scores.loc[~grid | (scores["seed"] == 1), "iwae_bound"].isna().all()
    extras = pd.read_csv(tmp_path / "results" / "claims_extras.csv")
    assert set(extras["claim"]) == {"extra_lowers_loss", "loss_falls_with_d", "extra_gains_more_with_d",
                                    "extra_uses_more_units", "extra_gains_more_than_control"} \
        and extras["ci_low"].notna().all()
    assert set(extras["family"]) == {"wide dense layer", "loss falls with d"}     # the control in the hypothesis'
    # 4 MNIST runs, 8 extra runs and the Fashion-MNIST appendix model, each through notebook 01, then 02-05
    assert len(list((tmp_path / "executed").glob("01_train_*.ipynb"))) == 13
    assert len(list((tmp_path / "executed").glob("0[2-5]_*.ipynb"))) == 4
    info = json.loads((tmp_path / "results" / "run.json").read_text())
    assert info["sweep"]["seeds"] == [0, 1] and info["runs_code"] and info["torch"]
    assert info["devices"] == ["cpu"] and info["evaluation_devices"] == ["cpu"]     # --device cpu, everywhere
    text = (tmp_path / "REPORT.md").read_text()
    assert "recon_falls_with_d" not in text and "## How verdicts are reached" in text and "fashion" in text.lower()
    assert "Does a wider dense layer let conv use d = 50?" in text
    assert "conv vs linear" not in text           # one architecture: no comparison claimed
    assert (tmp_path / "results" / "histories.csv").is_file()
    assert not (tmp_path / "results" / "convergence.csv").exists()       # one smoke epoch has no slope: not said
    assert "Did training converge" not in text
    index = (tmp_path / "figures" / "README.md").read_text()
    assert all(name in index for name in expected_figures(sweep))
    assert "The control: the dense layer's width, or the parameters it adds?" in text
    from vaelib.site import build       # the report ends with its page, current with its write-up
    assert build.check(tmp_path / "REPORT.md", tmp_path / "results", tmp_path / "site") == []
    # a run's numbers do not depend on what shared its worker: trained alone, here, with the thread count the
    # report gave it (recorded in its provenance: conv's numbers differ between 1 and 2 threads in the last
    # bits, so a run left to share the cores, num_threads 0, follows what else runs), it has the same history
    import dataclasses
    from vaelib.training.engine import train
    config = next(c for c in sweep.configs() if c.name == "conv_5_s1")
    threads = json.loads((tmp_path / "runs" / config.name / "provenance.json").read_text())["threads"]
    alone = train(dataclasses.replace(config, num_threads=threads), tmp_path / "alone", progress=False).history
    inside = pd.read_csv(tmp_path / "runs" / config.name / "history.csv")
    columns = [c for c in alone.columns if c.startswith(("train_", "test_"))]
    pd.testing.assert_frame_equal(alone[columns], inside[columns], check_exact=True)


@pytest.mark.slow
def test_a_sweep_without_a_2d_model_or_a_bound_says_so_and_skips(tmp_path):
    out = report(tmp_path, "--archs", "linear", "--dims", "5", "10", "--seeds", "0", "--datasets", "mnist",
                 "--iwae-k", "0").stdout
    said = out.index("estimate on this machine: 10 step(s)")      # the cost, before the first step ends
    assert said < out.index("[1/10]") and "estimate against what it took (task-min): classifier" in out
    estimate = json.loads((tmp_path / "results" / "run.json").read_text())["estimate"]
    assert estimate["workers"] >= 1 and all(estimate["task_minutes"][k] > 0 for k in ("train", "evaluate"))
    made = figures_made(tmp_path)
    assert {"loss_curves.png", "final_by_dim.png", "latent_pca.png", "active_units.png"} <= made
    assert not made & {name for name in FIGURES if "_grid" in name or "embedding" in name}
    text = (tmp_path / "REPORT.md").read_text()
    assert "no model with d = 2" in text and "untested (one seed)" in text
    assert "No IWAE bound in this report" in text and "iwae_vs_elbo.png" not in made
    executed = (tmp_path / "executed" / "03_explore_latent_space.ipynb").read_text()
    assert "no 2-D model in this sweep" in executed


def test_a_device_this_machine_lacks_is_refused_before_any_work(tmp_path):
    result = subprocess.run([sys.executable, "-m", "vaelib.report", "--smoke", "--out", str(tmp_path), "--device",
                             "cuda:7"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "device='cuda:7' is not available here" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "runs").exists()
