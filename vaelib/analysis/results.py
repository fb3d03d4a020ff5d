"""Every table in results/, written by one pipeline step ("results tables") from the runs and their
metrics; the notebooks and the write-up only read them.

Base tables come from the runs (histories, metrics.json, the 2-D models' test-set means, the digit
classifier); the claims and verdicts are then computed from the base tables *as saved* (rounded),
so that what a reader can recompute from results/ is what the write-up says.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import torch

from ..config.sweep import Sweep
from ..core.models import load_model
from ..data import datasets as data
from ..evaluation import classifier, latent
from ..evaluation import evaluate as metrics
from ..infra import paths
from ..infra.atomic import atomic_write_text
from ..training import runs
from . import claims, tables

GRID_VALUES = (-2, -1, 0, 1, 2)     # the seed's coarse 5 x 5 latent grid (notebook 03 draws it)


def loss_tables(sweep: Sweep, where: paths.Paths) -> None:
    """final_by_seed, summary (mean and sd over seeds), params."""
    final = tables.final_by_seed(tables.histories(where.runs, sweep))
    tables.save(final, where.results / "final_by_seed.csv")
    tables.save(tables.summary(final), where.results / "summary.csv")
    tables.save(tables.params(sweep.archs, sweep.dims), where.results / "params.csv")


def latent_tables(sweep: Sweep, where: paths.Paths) -> None:
    """digit_geometry and latent_confusions (2-D models, every seed), latent_diagnostics, kl_per_dim,
    grid_digits (what the classifier reads at the coarse grid's corners and centre, first seed)."""
    folders = tables.run_folders(where.runs, sweep)
    scores = tables.metrics_table(where.runs, sweep)
    tables.save(tables.mean_std(scores, ["active_units", "knn_accuracy", "recon_accuracy", "test_elbo"]),
                where.results / "latent_diagnostics.csv")
    tables.save(tables.kl_per_dim(where.runs, sweep), where.results / "kl_per_dim.csv")
    if not sweep.has_2d():
        return
    x_test, y_test = data.load(sweep.dataset, train=False, limit=sweep.test_limit)
    geometry = pd.concat([latent.digit_geometry(latent.encode_means(load_model(folders[(a, 2, s)]), x_test), y_test)
                          .reset_index().assign(arch=a, seed=s) for a in sweep.archs for s in sweep.seeds],
                         ignore_index=True)
    tables.save(geometry, where.results / "digit_geometry.csv")
    tables.save(confusions(folders, sweep, "knn_confusion"), where.results / "latent_confusions.csv")
    clf = classifier.load(classifier.classifier_path(where.runs, sweep.train_limit))
    models = {a: load_model(folders[(a, 2, sweep.seeds[0])]) for a in sweep.archs}
    tables.save(latent.read_grid_points(models, clf, GRID_VALUES), where.results / "grid_digits.csv")


def confusions(folders: dict, sweep: Sweep, matrix: str) -> pd.DataFrame:
    """Every confusion of every 2-D model and seed, from the evaluation step's confusion matrices."""
    return pd.concat([tables.confusion_rates(metrics.read(folders[(a, 2, s)])[matrix]).assign(arch=a, seed=s)
                      for a in sweep.archs for s in sweep.seeds], ignore_index=True)


def metric_tables(sweep: Sweep, where: paths.Paths) -> None:
    """classifier.json, metrics_summary (seed means beside the first seed's IWAE bound), recon_confusions,
    and one table per appendix dataset (its final epoch)."""
    info = classifier.read_info(classifier.classifier_path(where.runs, sweep.train_limit))
    atomic_write_text(where.results / "classifier.json", json.dumps(
        {k: info[k] for k in ("train_images", "test_images", "test_accuracy")}, indent=1) + "\n")
    scores = tables.metrics_table(where.runs, sweep)
    summary = tables.mean_std(scores, ["test_elbo", "recon_accuracy", "knn_accuracy"])
    iwae = scores[scores["seed"] == sweep.seeds[0]][["arch", "latent_dim", "test_elbo", "iwae_bound", "iwae_gain",
                                                     "iwae_k"]]
    summary = summary.merge(iwae.rename(columns={"test_elbo": "first_seed_elbo"}), on=["arch", "latent_dim"])
    summary["recon_minus_knn"] = summary["recon_accuracy_mean"] - summary["knn_accuracy_mean"]
    tables.save(summary, where.results / "metrics_summary.csv")
    if sweep.has_2d():
        tables.save(confusions(tables.run_folders(where.runs, sweep), sweep, "recon_confusion"),
                    where.results / "recon_confusions.csv")
    arch, d, seed = sweep.appendix
    for ds in sweep.datasets[1:]:
        history = runs.load_history(runs.find(where.runs, sweep.config(arch, d, seed, dataset=ds)))
        tables.save(history.tail(1).assign(dataset=ds, arch=arch, latent_dim=d, seed=seed), where.results / f"{ds}.csv")


def claim_tables(results_dir: Path | str) -> None:
    """The seed's claims and their verdicts, from the saved base tables (summary, digit_geometry, the
    confusions): claims, verdicts, seed_batch, claims_edge, claims_*_confusion, largest_*_confusions."""
    results = Path(results_dir)

    def base(name):
        path = results / f"{name}.csv"
        return pd.read_csv(path) if path.is_file() else None

    if (summary := base("summary")) is not None:
        checked = claims.loss_claims(summary)
        tables.save(checked, results / "claims.csv")
        tables.save(claims.overall_verdicts(checked), results / "verdicts.csv")
        tables.save(claims.seed_batch_size(summary), results / "seed_batch.csv")
    if (geometry := base("digit_geometry")) is not None:
        tables.save(claims.edge_claim(geometry), results / "claims_edge.csv")
    for source in ("latent", "recon"):
        if (found := base(f"{source}_confusions")) is not None:
            tables.save(claims.confusion_claim(found), results / f"claims_{source}_confusion.csv")
            tables.save(claims.largest_confusions(found), results / f"largest_{source}_confusions.csv")


def write_all(sweep: Sweep, where: paths.Paths) -> None:
    """The pipeline step: metrics.csv, then every other table of results/."""
    tables.write_metrics_table(sweep, where)
    loss_tables(sweep, where)
    with torch.inference_mode():
        latent_tables(sweep, where)
    metric_tables(sweep, where)
    claim_tables(where.results)
