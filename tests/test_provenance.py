"""Every cached thing knows which code made it; nothing made by other code is silently reused."""

import json
import shutil

import pytest

from vaelib.evaluation import classifier, metrics
from vaelib.infra import provenance
from vaelib.training import runs
from vaelib.config import RunConfig
from vaelib.training.engine import train


def small(**kw):
    return RunConfig(arch="linear", latent_dim=2, epochs=1, train_limit=500, test_limit=200, num_threads=1, **kw)


def pretend_other_code(path):
    saved = json.loads(path.read_text())
    saved["code"] = "000000000000"
    path.write_text(json.dumps(saved))


def test_a_run_records_code_commit_torch_device_and_threads(tmp_path):
    folder = train(small(), tmp_path, progress=False).folder
    saved = runs.read_provenance(folder)
    assert saved["code"] == provenance.fingerprint() and saved["torch"] and saved["device"] == "cpu"
    assert saved["threads"] == 1 and saved["threads_reason"] == "num_threads=1 asked"
    assert "commit" in saved and "dirty" in saved      # the project is a git checkout


def pretend_other_numbers(folder):
    """As if the run were trained by code that computes other numbers: another fingerprint, another witness."""
    pretend_other_code(folder / "provenance.json")
    saved = json.loads((folder / "witness.json").read_text())
    saved["from_start"] = "0" * 16
    (folder / "witness.json").write_text(json.dumps(saved))


def test_a_run_made_by_other_training_code_is_refused_then_retrained_or_kept_knowingly(tmp_path):
    folder = train(small(), tmp_path, progress=False).folder
    pretend_other_numbers(folder)
    assert runs.is_stale(folder)
    with pytest.raises(runs.StaleRunError, match=r"made by other training code .*--force.*--keep-stale"):
        train(small(), tmp_path, progress=False)
    kept = train(small(), tmp_path, progress=False, keep_stale=True)      # reused as it is
    assert runs.read_provenance(kept.folder)["code"] == "000000000000"
    train(small(), tmp_path, progress=False, force=True)                   # retrained, old one kept aside
    assert runs.read_provenance(folder)["code"] == provenance.fingerprint()
    aside = list(tmp_path.glob("linear_2_s0.replaced-*"))
    assert len(aside) == 1 and runs.read_provenance(aside[0])["code"] == "000000000000"


def test_cached_metrics_and_classifier_are_recomputed_when_their_code_changed(tmp_path):
    folder = train(small(), tmp_path, progress=False).folder
    clf = tmp_path / "clf.pt"
    info = classifier.ensure(clf, train_limit=500, epochs=1, progress=False)
    assert info["provenance"]["code"] == provenance.fingerprint(provenance.CLASSIFIER)
    first = metrics.evaluate_run(folder, clf, iwae_k=5)
    assert metrics.evaluate_run(folder, clf, iwae_k=5) == first   # cached
    assert metrics.cached(folder, metrics.settings_of(runs.read_config(folder), 5)) is not None
    saved = json.loads((folder / "metrics.json").read_text())
    saved["provenance"]["code"] = "000000000000"
    (folder / "metrics.json").write_text(json.dumps(saved))
    assert metrics.cached(folder, metrics.settings_of(runs.read_config(folder), 5)) is None
    again = metrics.evaluate_run(folder, clf, iwae_k=5)
    assert again["provenance"]["code"] == provenance.fingerprint(provenance.EVALUATION)
    assert metrics.cached(folder, metrics.settings_of(runs.read_config(folder), 7)) is None   # other settings


def test_a_run_whose_code_changed_but_trains_it_the_same_stays_fresh_and_is_marked(tmp_path):
    """The freshness rule by replay: another fingerprint (code moved, renamed, or an architecture this run
    does not use edited), the same numbers on the run's witness: fresh, and recorded so."""
    folder = train(small(), tmp_path, progress=False).folder
    assert json.loads((folder / "witness.json").read_text())["code"] == provenance.fingerprint()
    pretend_other_code(folder / "provenance.json")
    assert not runs.is_stale(folder)
    saved = runs.read_provenance(folder)
    assert saved["code"] == "000000000000" and provenance.fingerprint() in saved["reproduced_by"]
    assert train(small(), tmp_path, progress=False).folder == folder        # reused, not refused


def test_a_run_whose_loss_changed_is_stale_by_its_witness(tmp_path, monkeypatch):
    from vaelib.training import plain
    folder = train(small(), tmp_path, progress=False).folder
    pretend_other_code(folder / "provenance.json")
    loss = plain.vae_loss
    monkeypatch.setattr(plain, "vae_loss", lambda *a: tuple(t * 1.0001 for t in loss(*a)))
    assert runs.is_stale(folder)
    assert "reproduced_by" not in runs.read_provenance(folder)


@pytest.fixture
def package_copy(tmp_path):
    """A copy of vaelib's sources to edit; the fingerprint reads it in place of the installed package."""
    root = tmp_path / "vaelib"
    shutil.copytree(provenance.PACKAGE, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def edit(path, old, new):
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def test_a_function_moved_between_modules_keeps_runs_fresh(tmp_path, package_copy):
    folder = train(small(), tmp_path / "runs", progress=False).folder
    assert provenance.fingerprint(root=package_copy) == provenance.fingerprint()
    # resolve_device moves from infra/devices.py into core/models.py; the engine imports it from there
    devices, engine, models = (package_copy / "infra" / "devices.py", package_copy / "training" / "engine.py",
                               package_copy / "core" / "models.py")
    source = devices.read_text()
    start = source.index("def resolve_device")
    moved = source[start:].rstrip("\n")
    devices.write_text(source[:start].rstrip("\n") + "\n")
    edit(engine, "from ..infra.devices import AUTO_DEVICE_ENV, resolve_device",
         "from ..infra.devices import AUTO_DEVICE_ENV\nfrom ..core.models import resolve_device")
    models.write_text(models.read_text() + "\n\n" + moved.replace("numerics.fix()", "fix()") + "\n")
    edit(models, "from ..infra.atomic import", "import os\nfrom ..infra.devices import AUTO_DEVICE_ENV\n"
                                                "from ..infra.numerics import fix\nfrom ..infra.atomic import")
    edit(package_copy / "core" / "losses.py", '"""', '"""Reworded docstring. ')    # prose decides nothing
    edit(package_copy / "data" / "fetch.py", "timeout=300", "timeout=600")           # a download route
    moved_code = provenance.fingerprint(root=package_copy)
    assert moved_code == provenance.fingerprint()
    assert not runs.is_stale(folder, code=moved_code)


def test_a_change_of_the_training_step_leaves_the_evaluations_fingerprint(package_copy):
    """Evaluation and NLL estimates follow their own code, not the training code (a run's own freshness and
    the run_code they record cover the run): a new training step changes the training fingerprint only."""
    edit(package_copy / "training" / "plain.py", "optimizer.step()\n", "optimizer.step()\n    optimizer.step()\n")
    assert provenance.fingerprint(root=package_copy) != provenance.fingerprint()
    for entries in (provenance.EVALUATION, provenance.NLL):
        assert provenance.fingerprint(entries, root=package_copy) == provenance.fingerprint(entries)
    assert not {"vaelib.training.engine", "vaelib.training.plain"} & set(provenance.closure(provenance.EVALUATION))


def test_evaluations_made_under_the_earlier_wider_closure_are_vouched_once(tmp_path):
    """A metrics.json recording the fingerprint of the closure the evaluation followed until 2026-12 (training
    code included), computed from today's code, is vouched for today's fingerprint by the report's first
    step and is fresh after; one recording any other code is left stale."""
    from vaelib.config.sweep import Sweep
    from vaelib.pipeline.tasks import vouch_legacy
    folder = train(small(), tmp_path, progress=False).folder
    clf = tmp_path / "clf.pt"
    classifier.ensure(clf, train_limit=500, epochs=1, progress=False)
    metrics.evaluate_run(folder, clf, iwae_k=5)
    sweep = Sweep(archs=("linear",), dims=(2,), seeds=(0,), epochs=1, train_limit=500, test_limit=200,
                  datasets=("mnist",), extras=())
    settings = metrics.settings_of(runs.read_config(folder), 5)
    path = folder / "metrics.json"
    for code, kept in (("000000000000", False), (provenance.fingerprint(provenance.LEGACY[provenance.EVALUATION]), True)):
        saved = json.loads(path.read_text())
        saved["provenance"] = {**saved["provenance"], "code": code, "reproduced_by": {}}
        path.write_text(json.dumps(saved))
        assert metrics.cached(folder, settings) is None                # stale to the metrics step itself
        assert vouch_legacy(sweep, tmp_path) == int(kept)
        assert (metrics.cached(folder, settings) is not None) == kept
    assert vouch_legacy(sweep, tmp_path) == 0                          # once


def test_a_changed_loss_makes_runs_stale(tmp_path, package_copy):
    folder = train(small(), tmp_path / "runs", progress=False).folder
    edit(package_copy / "core" / "losses.py", "beta * kl", "beta * kl * 2")
    changed = provenance.fingerprint(root=package_copy)
    assert changed != provenance.fingerprint()
    assert runs.is_stale(folder, code=changed)
    assert provenance.fingerprint(provenance.CLASSIFIER, root=package_copy) == \
        provenance.fingerprint(provenance.CLASSIFIER)                 # the classifier does not use the loss


def test_the_closure_follows_imports_not_file_names():
    modules = provenance.closure(provenance.TRAINING)
    assert {"vaelib.core.losses", "vaelib.core.models", "vaelib.data.datasets", "vaelib.training.engine"} <= set(modules)
    assert "vaelib.data.fetch" not in modules and "vaelib.analysis.plots" not in modules
