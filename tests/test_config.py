"""One config object end to end: notebook 01's parameters are RunConfig's defaults, and what the report trains
follows RunConfig, not a literal typed elsewhere."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys

import papermill

from vaelib.config import RunConfig, Sweep
from vaelib.infra.paths import PROJECT


def test_notebook_01_parameters_are_runconfigs_defaults():
    found = papermill.inspect_notebook(PROJECT / "notebooks" / "01_train.ipynb")
    defaults = {f.name: f.default for f in dataclasses.fields(RunConfig) if f.default is not dataclasses.MISSING}
    shared = set(found) & set(defaults)
    assert {"epochs", "batch_size", "lr", "seed", "dataset", "train_limit", "test_limit"} <= shared
    for name in shared:
        assert eval(found[name]["default"]) == defaults[name], name      # noqa: S307 (the cell's own literal)
    assert Sweep().epochs == RunConfig.epochs


TRAIN_ONE = """
import json, sys
from pathlib import Path
from vaelib.config import Sweep
from vaelib.infra import paths
from vaelib.pipeline.tasks import build_tasks
sweep = Sweep.from_params({"archs": ["linear"], "dims": [2], "seeds": [0], "datasets": ["mnist"], "extras": []},
                          smoke=True)
where = paths.resolve(out=sys.argv[1]).make()
task = next(t for t in build_tasks(sweep, where, 1, False, False, set(), estimate=False) if t.name.startswith("train"))
task.run()
print(json.dumps(json.loads((where.runs / "linear_2_s0" / "config.json").read_text())))
"""


def test_a_changed_runconfig_default_is_what_the_report_trains(tmp_path):
    """A newcomer's check: in a scratch copy of the package, RunConfig's default lr changed; the report's
    training step (notebook 01 under papermill, as `make report` runs it) trains with it."""
    shutil.copytree(PROJECT / "vaelib", tmp_path / "vaelib", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "notebooks").mkdir()
    shutil.copy(PROJECT / "notebooks" / "01_train.ipynb", tmp_path / "notebooks")
    run_py = tmp_path / "vaelib" / "config" / "run.py"
    text = run_py.read_text()
    assert "    lr: float = 1e-3\n" in text
    run_py.write_text(text.replace("    lr: float = 1e-3\n", "    lr: float = 2.5e-3\n"))
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "VAELIB_DATA": str(PROJECT / "data")}
    out = subprocess.run([sys.executable, "-c", TRAIN_ONE, str(tmp_path / "report")], capture_output=True,
                         text=True, env=env, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    saved = json.loads(out.stdout.strip().splitlines()[-1])
    assert saved["lr"] == 2.5e-3 and saved["batch_size"] == RunConfig.batch_size


def test_the_quick_look_is_a_preset_that_flags_given_override():
    from vaelib.config.sweep import QUICK
    from vaelib.pipeline.report import parse
    quick = parse(["--quick"])
    assert quick.epochs == QUICK["epochs"] and quick.dims == list(QUICK["dims"]) and quick.extras == []
    assert quick.out == str(PROJECT / "quick")              # never the project's runs/: the same run names
    mine = parse(["--quick", "--epochs", "3", "--out", "/tmp/q"])
    assert mine.epochs == "3" and mine.out == "/tmp/q" and mine.classifier_limit == QUICK["classifier_limit"]
    assert Sweep(classifier_limit=10000).classifier_images == 10000          # the classifier's images, alone
    assert Sweep(classifier_limit=10000, train_limit=2000).classifier_images == 2000   # never more than the runs'
    assert Sweep().classifier_images is None
