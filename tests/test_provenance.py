"""Every cached thing knows which versions made it; nothing made by another version is silently reused, and a
bumped metric recomputes only itself."""

import json

import pytest

from vaelib.config import RunConfig
from vaelib.evaluation import classifier, metrics
from vaelib.infra import provenance
from vaelib.training import runs
from vaelib.training.engine import TRAINING_VERSION, train


def small(**kw):
    return RunConfig(arch="linear", latent_dim=2, epochs=1, train_limit=500, test_limit=200, num_threads=1, **kw)


def pretend_version(path, versions, code="000000000000"):
    saved = json.loads(path.read_text())
    made_by = saved.get("provenance", saved)
    made_by.update(versions=versions, code=code)
    path.write_text(json.dumps(saved))


def test_a_run_records_its_version_commit_torch_cpu_device_precision_and_threads(tmp_path):
    folder = train(small(), tmp_path, progress=False).folder
    saved = runs.read_provenance(folder)
    assert saved["versions"] == {"training": TRAINING_VERSION} and saved["code"] == f"training {TRAINING_VERSION}"
    assert saved["torch"] and saved["device"] == "cpu" and saved["precision"]["tf32_matmul"] is False
    assert saved["cpu"]["model"] and isinstance(saved["cpu"]["flags"], list)
    assert saved["threads"] == 1 and saved["threads_reason"] == "num_threads=1 asked"
    assert "commit" in saved and "dirty" in saved      # the project is a git checkout


def test_a_run_of_another_training_version_is_refused_then_retrained_or_kept_knowingly(tmp_path):
    folder = train(small(), tmp_path, progress=False).folder
    pretend_version(folder / "provenance.json", {"training": TRAINING_VERSION + 1})
    assert runs.is_stale(folder, TRAINING_VERSION)
    with pytest.raises(runs.StaleRunError, match=r"made by other training code .*--force.*--keep-stale"):
        train(small(), tmp_path, progress=False)
    kept = train(small(), tmp_path, progress=False, keep_stale=True)      # reused as it is
    assert runs.read_provenance(kept.folder)["code"] == "000000000000"
    train(small(), tmp_path, progress=False, force=True)                   # retrained, old one kept aside
    assert runs.read_provenance(folder)["versions"] == {"training": TRAINING_VERSION}
    aside = list(tmp_path.glob("linear_2_s0.replaced-*"))
    assert len(aside) == 1 and runs.read_provenance(aside[0])["code"] == "000000000000"


def test_records_made_before_versions_count_by_the_fingerprints_that_gave_version_1():
    """The migration of records that name their code by fingerprint (infra.provenance.BEFORE_VERSIONS): the
    committed literature run's and NLL estimates' fingerprints are version 1, an unknown one is nothing."""
    assert provenance.is_fresh({"code": "eb45c9d8a09d"}, {"training": 1})
    assert provenance.is_fresh({"code": "90a2123682e0", "reproduced_by": {"567c4126ee69": "replayed"}}, {"nll": 1})
    assert provenance.is_fresh({"provenance": {"code": "dab34ae98e79"}}, metrics.versions("linear"))
    assert not provenance.is_fresh({"provenance": {"code": "dab34ae98e79"}}, metrics.versions("conv"))   # its bound
    assert not provenance.is_fresh({"code": "000000000000"}, {"training": 1})
    assert not provenance.is_fresh({"code": "eb45c9d8a09d"}, {"training": 2})
    assert not provenance.is_fresh({"code": "eb45c9d8a09d"}, {"training": 1}, settings={"k": 5})


def test_a_bumped_metric_is_computed_again_alone_and_the_classifier_by_its_version(tmp_path, monkeypatch):
    folder = train(small(), tmp_path, progress=False).folder
    clf = tmp_path / "clf.pt"
    info = classifier.ensure(clf, train_limit=500, epochs=1, progress=False)
    assert info["provenance"]["versions"] == {"classifier": classifier.VERSION}
    first = metrics.evaluate_run(folder, clf, iwae_k=5)
    assert metrics.evaluate_run(folder, clf, iwae_k=5) == first   # cached
    settings = metrics.settings_of(runs.read_config(folder), 5)
    assert metrics.fresh_part(folder, settings)[1] == set(metrics.versions("linear"))
    assert metrics.fresh_part(folder, metrics.settings_of(runs.read_config(folder), 7))[1] == set()

    from vaelib.core import iwae
    monkeypatch.setattr(iwae.LayerDecoder, "VERSION", iwae.LayerDecoder.VERSION + 1)   # a faster bound, say
    iwae.version.cache_clear()
    def untouched(*_, **__):
        raise AssertionError("a fresh metric was computed again")
    monkeypatch.setattr(metrics, "knn_predict", untouched)
    monkeypatch.setattr(metrics, "reconstruction_accuracy", untouched)
    monkeypatch.setattr(metrics, "latent_diagnostics", untouched)
    monkeypatch.setattr(metrics, "mean_loss", untouched)
    again = metrics.evaluate_run(folder, clf, iwae_k=5)
    assert again["provenance"]["versions"] == metrics.versions("linear")
    iwae.version.cache_clear()
    assert again["iwae_bound"] == first["iwae_bound"]              # the same code under a new number
    assert {k: again[k] for k in ("test_elbo", "knn_accuracy", "recon_accuracy", "kl_per_dim")} == \
        {k: first[k] for k in ("test_elbo", "knn_accuracy", "recon_accuracy", "kl_per_dim")}

    assert classifier.is_fresh(clf, "mnist", 500)
    monkeypatch.setattr(classifier, "VERSION", classifier.VERSION + 1)
    assert not classifier.is_fresh(clf, "mnist", 500)


def test_a_retrained_run_makes_its_metrics_stale(tmp_path):
    folder = train(small(), tmp_path, progress=False).folder
    clf = tmp_path / "clf.pt"
    classifier.ensure(clf, train_limit=500, epochs=1, progress=False)
    metrics.evaluate_run(folder, clf, iwae_k=5)
    saved = json.loads((folder / "metrics.json").read_text())
    (folder / "weights.pt").write_bytes((folder / "weights.pt").read_bytes() + b" ")   # other weights
    assert metrics.fresh_part(folder, saved["settings"])[1] == set()


def test_vaelib_has_no_import_cycle():
    """Every import, at module level or inside a function, read by import-linter's grimp: no module reaches
    itself again."""
    import grimp
    graph = grimp.build_graph("vaelib")
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            chain = graph.find_shortest_chain(importer=imported, imported=module)
            assert chain is None, f"import cycle: {module} -> {' -> '.join(chain)}"
