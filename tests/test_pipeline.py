"""The whole report runner (papermill, the evaluation step, the write-up) on subsets of the sweep.

The full default sweep runs in smoke mode under nbval (each notebook alone); here the runner itself,
on the subsets users ask for: one architecture with d=2 and two seeds, and a sweep with no 2-D model.
"""

import json
import subprocess
import sys

import pandas as pd

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


def test_one_architecture_two_seeds(tmp_path):
    report(tmp_path, "--archs", "conv", "--dims", "2", "5", "--seeds", "0", "1")
    sweep = Sweep.from_params({"archs": ["conv"], "dims": [2, 5], "seeds": [0, 1]}, smoke=True)
    assert figures_made(tmp_path) == set(expected_figures(sweep))
    for name in expected_figures(sweep):
        assert (tmp_path / "figures" / name).read_bytes()[:8] == PNG_MAGIC
    summary = pd.read_csv(tmp_path / "results" / "summary.csv")
    assert list(summary["seeds"]) == [2, 2] and summary["test_loss_std"].notna().all()
    scores = pd.read_csv(tmp_path / "results" / "metrics.csv")
    assert len(scores) == 4 and scores["run_code"].nunique() == 1
    assert scores.loc[scores["seed"] == 0, "iwae_bound"].notna().all()      # the bound on the first seed only
    assert scores.loc[scores["seed"] == 1, "iwae_bound"].isna().all()
    # 4 MNIST runs + the Fashion-MNIST appendix model, each through notebook 01, then 02-05
    assert len(list((tmp_path / "executed").glob("01_train_*.ipynb"))) == 5
    assert len(list((tmp_path / "executed").glob("0[2-5]_*.ipynb"))) == 4
    info = json.loads((tmp_path / "results" / "run.json").read_text())
    assert info["sweep"]["seeds"] == [0, 1] and info["runs_code"] and info["torch"]
    text = (tmp_path / "REPORT.md").read_text()
    assert "recon_falls_with_d" not in text and "Verdict" in text and "fashion" in text.lower()
    assert "conv vs linear" not in text           # one architecture: no comparison claimed
    index = (tmp_path / "figures" / "README.md").read_text()
    assert all(name in index for name in expected_figures(sweep))


def test_a_sweep_without_a_2d_model_says_so_and_skips(tmp_path):
    report(tmp_path, "--archs", "linear", "--dims", "5", "10", "--seeds", "0", "--datasets", "mnist")
    made = figures_made(tmp_path)
    assert {"loss_curves.png", "final_by_dim.png", "latent_pca.png", "active_units.png"} <= made
    assert not made & {name for name in FIGURES if "_grid" in name or "embedding" in name}
    text = (tmp_path / "REPORT.md").read_text()
    assert "no model with d = 2" in text and "untested (one seed)" in text
    executed = (tmp_path / "executed" / "03_explore_latent_space.ipynb").read_text()
    assert "no 2-D model in this sweep" in executed
