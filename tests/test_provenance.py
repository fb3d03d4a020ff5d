"""Every cached thing knows which code made it; nothing made by other code is silently reused."""

import json

import pytest

from vaelib import classifier, metrics, provenance, runs
from vaelib.config import RunConfig
from vaelib.train import train


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


def test_a_run_made_by_other_training_code_is_refused_then_retrained_or_kept_knowingly(tmp_path):
    folder = train(small(), tmp_path, progress=False).folder
    pretend_other_code(folder / "provenance.json")
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
    info = classifier.ensure(clf, train_limit=500, epochs=1, progress=False, log=lambda *_: None)
    assert info["provenance"]["code"] == provenance.fingerprint(classifier.CODE)
    first = metrics.evaluate_run(folder, clf, iwae_k=5, log=lambda *_: None)
    assert metrics.evaluate_run(folder, clf, iwae_k=5, log=lambda *_: None) == first   # cached
    assert metrics.cached(folder, metrics.settings_of(runs.read_config(folder), 5)) is not None
    saved = json.loads((folder / "metrics.json").read_text())
    saved["provenance"]["code"] = "000000000000"
    (folder / "metrics.json").write_text(json.dumps(saved))
    assert metrics.cached(folder, metrics.settings_of(runs.read_config(folder), 5)) is None
    again = metrics.evaluate_run(folder, clf, iwae_k=5, log=lambda *_: None)
    assert again["provenance"]["code"] == provenance.fingerprint(provenance.EVALUATION_CODE)
    assert metrics.cached(folder, metrics.settings_of(runs.read_config(folder), 7)) is None   # other settings


def test_the_fingerprint_follows_the_sources(tmp_path, monkeypatch):
    for name in provenance.TRAINING_CODE:
        (tmp_path / name).write_text((provenance.PACKAGE / name).read_text())
    monkeypatch.setattr(provenance, "PACKAGE", tmp_path)
    before = provenance.fingerprint()
    (tmp_path / "losses.py").write_text((tmp_path / "losses.py").read_text() + "\n# changed\n")
    assert provenance.fingerprint() != before
