"""Collect finished runs into tables: all histories, and one summary row per model."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from . import runs
from .models import build_model, count_params


def histories(runs_dir: Path | str, dataset: str = "mnist") -> pd.DataFrame:
    """Every finished run's history on `dataset`, with its arch and latent_dim, sorted by model."""
    table = runs.list_runs(runs_dir)
    table = table[table["dataset"] == dataset] if not table.empty else table
    if table.empty:
        raise FileNotFoundError(f"no finished run in {runs_dir}; run `make report` or notebook 01 first")
    frames = [runs.load_history(row.path).assign(arch=row.arch, latent_dim=row.latent_dim)
              for row in table.itertuples()]
    return pd.concat(frames, ignore_index=True).sort_values(["arch", "latent_dim", "epoch"], ignore_index=True)


def summary(history: pd.DataFrame) -> pd.DataFrame:
    """Final-epoch test metrics, parameter count and training time per model."""
    last = history.sort_values("epoch").groupby(["arch", "latent_dim"], as_index=False).last()
    time = history.groupby(["arch", "latent_dim"], as_index=False)["seconds"].mean()
    out = last[["arch", "latent_dim", "epoch", "test_loss", "test_recon", "test_kl", "train_loss"]]
    out = out.rename(columns={"epoch": "epochs"}).merge(time.rename(columns={"seconds": "s_per_epoch"}))
    out.insert(2, "params", [count_params(build_model(a, d)) for a, d in zip(out["arch"], out["latent_dim"])])
    return out.sort_values(["arch", "latent_dim"], ignore_index=True)


def last_epoch(folder: Path | str) -> int:
    return int(runs.load_history(folder)["epoch"].max())


def arch_comparison(summary: pd.DataFrame) -> pd.DataFrame:
    """Per d: linear and conv final test recon and KL, and how much lower conv's values are."""
    wide = summary.pivot(index="latent_dim", columns="arch", values=["test_recon", "test_kl", "params"])
    out = pd.DataFrame(index=wide.index)
    for metric in ("test_recon", "test_kl"):
        out[f"{metric} linear"] = wide[(metric, "linear")]
        out[f"{metric} conv"] = wide[(metric, "conv")]
        out[f"{metric} conv_gain"] = wide[(metric, "linear")] - wide[(metric, "conv")]
    out["params conv/linear"] = wide[("params", "conv")] / wide[("params", "linear")]
    return out


def side_by_side(tables: dict) -> pd.DataFrame:
    """Tables with the same index, their columns grouped under each key."""
    return pd.concat(tables, axis=1)


def knn_table(predictions: dict, labels) -> pd.DataFrame:
    """k-NN accuracy of each (arch, d)'s latent means."""
    rows = [{"arch": a, "latent_dim": d, "knn_accuracy": (pred == labels).float().mean().item()}
            for (a, d), pred in predictions.items()]
    return pd.DataFrame(rows).sort_values(["arch", "latent_dim"], ignore_index=True)


def beyond_table(runs_dir: Path | str) -> pd.DataFrame:
    """The metrics.json of every finished MNIST run (vaelib.beyond): ELBO, IWAE, accuracies, times."""
    rows = []
    for row in runs.list_runs(runs_dir).itertuples():
        if row.dataset != "mnist" or not (Path(row.path) / "metrics.json").is_file():
            continue
        m = read_metrics(row.path)
        rows.append({"arch": m["arch"], "latent_dim": m["latent_dim"],
                     "params": count_params(build_model(m["arch"], m["latent_dim"])),
                     "test_elbo": m["test_elbo"], "iwae_bound": m["iwae_bound"],
                     "iwae_gain": m["iwae_bound"] - m["test_elbo"], "recon_accuracy": m["recon_accuracy"],
                     "knn_accuracy": m["knn_accuracy"], "iwae_k": m["settings"]["iwae_k"],
                     **{f"{k}_s": v for k, v in m["seconds"].items()}})
    return pd.DataFrame(rows).sort_values(["arch", "latent_dim"], ignore_index=True)


def read_metrics(folder: Path | str) -> dict:
    return json.loads((Path(folder) / "metrics.json").read_text())
