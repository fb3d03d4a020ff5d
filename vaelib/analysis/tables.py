"""results/*.csv from finished runs and their metrics: per-seed rows, and mean and spread over seeds."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..config.sweep import Sweep
from ..core.models import ARCHS, build_model, count_params
from ..evaluation import metrics
from ..infra import paths
from ..infra.atomic import atomic_write_text
from ..training import runs
from . import schema

KEYS = ["arch", "latent_dim"]
OLD_ACTIVE_RULE = "variance of the posterior mean > 0.01"   # what metrics made before evaluation.latent.ACTIVE_RULE counted


def in_order(table: pd.DataFrame, by=KEYS + ["seed"]) -> pd.DataFrame:
    """Rows in the report's order: architectures as in models.ARCHS (linear, then conv), then d, then seed."""
    keys = [k for k in by if k in table.columns]
    rank = table["arch"].map({a: i for i, a in enumerate(ARCHS)})
    return table.assign(_arch=rank).sort_values(["_arch"] + keys[1:], ignore_index=True).drop(columns="_arch")


def run_folders(runs_dir: Path | str, sweep: Sweep) -> dict:
    """{(arch, d, seed): folder} of the sweep's grid, all finished, or an error naming what is missing."""
    found, missing = {}, []
    for config in sweep.configs():
        if config.dataset != sweep.dataset:
            continue
        folder = Path(runs_dir) / config.name
        if runs.is_finished(folder):
            found[(config.arch, config.latent_dim, config.seed)] = folder
        else:
            missing.append(config.name)
    if missing:
        raise runs.MissingRun(f"no finished run for {', '.join(missing)} in {runs_dir}; run `make report` "
                                f"(or notebook 01) for them first")
    return found


def histories(runs_dir: Path | str, sweep: Sweep) -> pd.DataFrame:
    """Every history of the sweep's grid, with arch, latent_dim and seed columns."""
    frames = [runs.load_history(folder).assign(arch=a, latent_dim=d, seed=s)
              for (a, d, s), folder in run_folders(runs_dir, sweep).items()]
    return in_order(pd.concat(frames, ignore_index=True), KEYS + ["seed", "epoch"])


def params(archs, dims) -> pd.DataFrame:
    """Parameter count of each (arch, d), and its ratio to the linear model's at the same d."""
    counts = {(a, d): count_params(build_model(a, d)) for a in archs for d in dims}
    return pd.DataFrame([{"arch": a, "latent_dim": d, "params": n,
                          "ratio_to_linear": n / count_params(build_model("linear", d))}
                         for (a, d), n in counts.items()])


def final_by_seed(history: pd.DataFrame) -> pd.DataFrame:
    """Last-epoch test metrics and mean seconds per training epoch, one row per run."""
    keys = KEYS + ["seed"]
    last = history.sort_values("epoch").groupby(keys, as_index=False).last()
    seconds = history.groupby(keys, as_index=False)["seconds"].mean().rename(columns={"seconds": "s_per_epoch"})
    out = last[keys + ["epoch", "test_loss", "test_recon", "test_kl", "train_loss"]].rename(columns={"epoch": "epochs"})
    return in_order(out.merge(seconds, on=keys))


def mean_std(table: pd.DataFrame, columns, by=KEYS) -> pd.DataFrame:
    """Per group: number of seeds, then `{col}_mean` and `{col}_std` (sample std; NaN with one seed)."""
    grouped = table.groupby(by)
    out = grouped.size().rename("seeds").to_frame()
    for col in columns:
        out[f"{col}_mean"] = grouped[col].mean()
        out[f"{col}_std"] = grouped[col].std(ddof=1)
    return in_order(out.reset_index(), by)


def summary(final: pd.DataFrame) -> pd.DataFrame:
    """Per (arch, d): the mean and seed-to-seed std of the final test metrics (the expected run), their median,
    quartiles (numpy's linear quantiles), least and largest value (a typical run, and every seed's range), and
    the parameter counts."""
    metrics = ["test_loss", "test_recon", "test_kl"]
    out = mean_std(final, metrics + ["s_per_epoch"])
    grouped = final.groupby(KEYS)
    spread = pd.concat({f"{m}_{name}": grouped[m].quantile(q) for m in metrics
                        for name, q in (("min", 0), ("q1", 0.25), ("median", 0.5), ("q3", 0.75), ("max", 1))}, axis=1)
    out = out.merge(spread.reset_index(), on=KEYS)
    return in_order(out.merge(params(out["arch"].unique(), out["latent_dim"].unique()), on=KEYS))


def metrics_table(runs_dir: Path | str, sweep: Sweep) -> pd.DataFrame:
    """One row per run of the grid from its metrics.json (the evaluation step)."""
    rows = []
    for (a, d, s), folder in run_folders(runs_dir, sweep).items():
        m = metrics.read(folder)
        rows.append({"arch": a, "latent_dim": d, "seed": s, "test_elbo": m["test_elbo"],
                     "iwae_bound": m.get("iwae_bound"), "iwae_k": m["settings"]["iwae_k"],
                     "recon_accuracy": m["recon_accuracy"], "knn_accuracy": m["knn_accuracy"],
                     "active_units": m["active_units"], "max_kl_dim": max(m["kl_per_dim"]),
                     "active_rule": m.get("active_rule", OLD_ACTIVE_RULE),
                     "code": m["provenance"]["code"], "run_code": m["run_code"],
                     **{f"{k}_s": v for k, v in m["seconds"].items()}})
    out = in_order(pd.DataFrame(rows))
    out["iwae_gain"] = out["iwae_bound"] - out["test_elbo"]
    return out


def kl_per_dim(runs_dir: Path | str, sweep: Sweep) -> pd.DataFrame:
    """Long table: KL (nats) of each latent dimension, sorted high to low, per run."""
    rows = [{"arch": a, "latent_dim": d, "seed": s, "rank": i + 1, "kl": kl}
            for (a, d, s), folder in run_folders(runs_dir, sweep).items()
            for i, kl in enumerate(metrics.read(folder)["kl_per_dim"])]
    return pd.DataFrame(rows)


def confusion_rates(matrix, top: int | None = None) -> pd.DataFrame:
    """Off-diagonal cells of a confusion matrix as % of the true digit, largest first."""
    import torch
    m = torch.as_tensor(matrix, dtype=torch.float64)
    percent = 100 * m / m.sum(1, keepdim=True)
    rows = [{"true": i, "predicted": j, "count": int(m[i, j]), "percent_of_true": float(percent[i, j])}
            for i in range(len(m)) for j in range(len(m)) if i != j]
    out = pd.DataFrame(rows).sort_values(["percent_of_true", "true", "predicted"], ascending=[False, True, True],
                                         ignore_index=True)
    out.insert(0, "rank", range(1, len(out) + 1))
    return out.head(top) if top else out


def read(path: Path | str):
    """A table of results/ as the pipeline's results step wrote it (a record, for a .json), checked against
    its declaration (vaelib.analysis.schema): schema.BadTable, one line, when it is missing or damaged."""
    return schema.read(path)


WRITING = f"Nothing was written: the code that makes it, or its declaration in {schema.HERE}, is wrong"


def as_saved(table: pd.DataFrame, name: str, where, digits: int = 4) -> pd.DataFrame:
    """`table` as `save` writes it to results/`name` and a reader reads it back (rounded, checked)."""
    return schema.read_text(name, table.round(digits).to_csv(index=False), where)


def save_text(text: str, path: Path | str) -> Path:
    """A file of results/ written atomically, once what it holds, read back, passes its declaration
    (vaelib.analysis.schema): else schema.BadTable, and the old file stays as it was."""
    path = Path(path)
    where = f"{path} (as it would be written)"
    if path.suffix == ".json":
        schema.check_record(path.name, json.loads(text), where, then=WRITING)
    else:
        schema.read_text(path.name, text, where, then=WRITING)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    return path


def save(table: pd.DataFrame, path: Path | str, digits: int = 4) -> Path:
    """A results table, with floats rounded so that the file is what the write-up quotes (checked, atomic)."""
    return save_text(table.round(digits).to_csv(index=False), path)


def save_record(record: dict, path: Path | str, **dumps) -> Path:
    """A results record: json with an indent of 1 and a final newline (checked, atomic)."""
    return save_text(json.dumps(record, indent=1, **dumps) + "\n", path)


def write_metrics_table(sweep: Sweep, where: paths.Paths) -> None:
    save(metrics_table(where.runs, sweep), where.results / "metrics.csv")


# What the write-up says of its pictures, computed from what the digit classifier reads in them
# (evaluation.reading): how many cells of a latent grid and how many prior samples read as a digit, which
# classes appear and which are missing, which digits an interpolation passes through.
DIGITS = tuple(range(10))


def _classes(reads: pd.DataFrame) -> tuple[str, str]:
    seen = sorted(set(reads.loc[reads["confident"].astype(bool), "digit"].astype(int)))
    return " ".join(map(str, seen)) or "none", " ".join(str(d) for d in DIGITS if d not in seen) or "none"


def read_summary(reads: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per group: images, how many read as a digit (confidently), the share, the classes seen and missing."""
    rows = []
    for key, g in reads.groupby(by, sort=False):
        seen, missing = _classes(g)
        rows.append({**dict(zip(by, key if isinstance(key, tuple) else (key,))), "images": len(g),
                     "digits": int(g["confident"].sum()), "unclear": int((~g["confident"].astype(bool)).sum()),
                     "share_digits": g["confident"].mean(), "classes": seen, "missing": missing})
    return pd.DataFrame(rows)


def path_of(steps: pd.DataFrame) -> str:
    """The digits along one interpolation, runs collapsed, "?" for an unclear step: "7 -> ? -> 9"."""
    marks = [str(int(d)) if c else "?" for d, c in zip(steps["digit"], steps["confident"].astype(bool))]
    path = [m for i, m in enumerate(marks) if i == 0 or m != marks[i - 1]]
    return " -> ".join(path)


def interpolation_summary(reads: pd.DataFrame) -> pd.DataFrame:
    """Per (arch, d, pair): the true digits at its ends, the path read along it, and whether it passes
    through a third digit (a confident reading of neither end's digit)."""
    rows = []
    for (arch, d, seed, pair), g in reads.sort_values(["pair", "step"]).groupby(["arch", "latent_dim", "seed", "pair"],
                                                                                 sort=False):
        ends = {int(g["start_digit"].iloc[0]), int(g["end_digit"].iloc[0])}
        third = sorted(set(g.loc[g["confident"].astype(bool), "digit"].astype(int)) - ends)
        rows.append({"arch": arch, "latent_dim": d, "seed": seed, "pair": pair,
                     "start_digit": int(g["start_digit"].iloc[0]), "end_digit": int(g["end_digit"].iloc[0]),
                     "path": path_of(g), "third_digits": " ".join(map(str, third)) or "none",
                     "passes_third": bool(third)})
    return pd.DataFrame(rows)


def interpolation_counts(summary: pd.DataFrame) -> pd.DataFrame:
    """Per (arch, d): how many of the paths pass through a third digit."""
    return (summary.groupby(["arch", "latent_dim", "seed"], sort=False)
            .agg(paths=("pair", "size"), through_third=("passes_third", "sum")).reset_index())
