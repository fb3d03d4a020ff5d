"""The whole papermill pipeline in smoke mode, in a temporary folder."""

import subprocess
import sys

import pandas as pd

from vaelib.report import FIGURES, TABLES

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_report_pipeline_makes_every_figure(tmp_path):
    result = subprocess.run([sys.executable, "-m", "vaelib.report", "--smoke", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "total wall time" in result.stdout
    for name in FIGURES:
        path = tmp_path / "figures" / name
        assert path.is_file(), f"{name} was not made"
        assert path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG_MAGIC, name
    for name in TABLES:
        assert len(pd.read_csv(tmp_path / "results" / name)) == 10, name
    # the ten MNIST models and the Fashion-MNIST appendix model
    assert len(list((tmp_path / "runs").glob("*/weights.pt"))) == 11
    assert len(list((tmp_path / "executed").glob("*.ipynb"))) == 11 + 4
    index = (tmp_path / "figures" / "README.md").read_text()
    assert all(name in index for name in FIGURES)
