"""One smoke report of a binarized-MNIST model, stopped by Ctrl-C and run again: the stop is one plain line
within seconds and keeps what was written, the same command finishes the report, and that report uses
binary pixels in every step. (One report serves both checks: each whole report costs a minute or more.)"""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from conftest import one_line_error

from vaelib.analysis.figures import expected_figures
from vaelib.config.sweep import Sweep
from vaelib.core.models import load_model
from vaelib.data.datasets import load
from vaelib.evaluation.latent import digit_geometry, encode_means
from vaelib.infra.faults import INTERRUPTED
from vaelib.infra.paths import PROJECT

SETTINGS = {"archs": ["linear"], "dims": [2], "seeds": [0], "datasets": ["mnist-binarized"], "iwae_k": 5}
REPORT = [sys.executable, "-m", "vaelib.report", "--smoke", "--archs", "linear", "--dims", "2", "--seeds", "0",
          "--datasets", "mnist-binarized", "--iwae-k", "5"]


def test_every_notebook_loads_the_sweeps_own_dataset():
    """Never a hard-coded grey-level one: what makes a binarized report binary in every notebook."""
    for path in sorted(PROJECT.glob("notebooks/0*.py")):
        for call in re.findall(r"data\.load\(([^,]+),", path.read_text()):
            assert call.strip() in ("sweep.dataset", "ds"), f"{path.name} loads {call} (not the sweep's dataset)"


@pytest.mark.slow
def test_ctrl_c_stops_a_binarized_report_in_seconds_and_the_rerun_finishes_it_with_binary_pixels_everywhere(
        tmp_path):
    # As in a terminal: Ctrl-C's signal is not ignored. (A test run started in the background, as CI may be,
    # inherits SIGINT ignored, and Python then never raises KeyboardInterrupt.)
    proc = subprocess.Popen(REPORT + ["--out", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    classifier = tmp_path / "runs" / "classifier_mnist_2000.pt"
    deadline = time.time() + 300
    while not (classifier.is_file() and list((tmp_path / "runs").glob("*linear_2_s0/history.csv"))) \
            and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, "the report ended before it could be interrupted"
    good = classifier.read_bytes()
    os.killpg(proc.pid, signal.SIGINT)                       # what Ctrl-C in its terminal does
    start = time.perf_counter()
    out, err = proc.communicate(timeout=60)
    seconds = time.perf_counter() - start
    line = one_line_error(subprocess.CompletedProcess([], proc.returncode, out, err), INTERRUPTED)
    assert "run the same command again to resume" in line and seconds < 30
    assert classifier.read_bytes() == good

    again = subprocess.run(REPORT + ["--out", str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert again.returncode == 0 and "total wall time" in again.stdout, again.stderr[-3000:]
    assert json.loads((tmp_path / "results" / "run.json").read_text())["sweep"]["seeds"] == [0]

    # The finished report is binarized MNIST's in every step: its figures, and tables made of binary test images.
    sweep = Sweep.from_params(SETTINGS, smoke=True)
    assert {p.name for p in (tmp_path / "figures").glob("*.png")} == set(expected_figures(sweep))
    x_test, y_test = load("mnist-binarized", train=False, limit=sweep.test_limit)
    assert set(x_test.unique().tolist()) == {0.0, 1.0}
    model = load_model(tmp_path / "runs" / "mnist-binarized_linear_2_s0")
    want = digit_geometry(encode_means(model, x_test), y_test).reset_index()
    got = pd.read_csv(tmp_path / "results" / "digit_geometry.csv")
    assert got["centroid_norm"].round(3).tolist() == want["centroid_norm"].round(3).tolist()
    assert "The pixels are binary" in (tmp_path / "REPORT.md").read_text()
