"""Every table in results/, written by one pipeline step ("results tables") from the runs and their
metrics; the notebooks and the write-up only read them.

Base tables come from the runs (histories, metrics.json, the 2-D models' test-set means, the digit
classifier); the claims and verdicts are then computed from the base tables *as saved* (rounded),
so that what a reader can recompute from results/ is what the write-up says.
"""

from __future__ import annotations

import fnmatch
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import stats

from ..config.sweep import EXTRAS, Sweep
from ..core.models import SWEEP_ARCHS, load_model
from ..data import datasets as data
from ..evaluation import classifier, latent, reading
from ..evaluation import metrics
from ..infra import paths
from ..infra.faults import Refused
from ..training import runs
from . import claims, collapse, coverage, inference, schema, tables

GRID_VALUES = (-2, -1, 0, 1, 2)     # the handout's coarse 5 x 5 latent grid (notebook 03 draws it)
RERUNS = paths.PROJECT / "reruns"   # the same sweep rerun elsewhere (same code and seeds): reruns/README.md


def loss_tables(sweep: Sweep, where: paths.Paths) -> None:
    """histories (every epoch of every run), final_by_seed (grid and extras), params, weights (the summary over
    seeds is derived from final_by_seed as saved: claim_tables)."""
    history = tables.histories(where.runs, sweep)
    tables.save(history[["arch", "latent_dim", "seed", "epoch", "train_loss", "train_recon", "train_kl", "test_loss",
                         "test_recon", "test_kl", "seconds"]], where.results / "histories.csv")
    final = tables.final_by_seed(history)
    tables.save(final, where.results / "final_by_seed.csv")
    tables.save(tables.params(list(dict.fromkeys(final["arch"])), sweep.dims), where.results / "params.csv")
    tables.save(weights_table(sweep, where.runs), where.results / "weights.csv")


def weights_table(sweep: Sweep, runs_dir: Path) -> pd.DataFrame:
    """The sha256 of every run's weights.pt: what the site's exported decoders are checked against (runs/ is
    not in git; vaelib.site)."""
    return pd.DataFrame([{"run": c.name, "weights_sha256": runs.weights_sha256(Path(runs_dir) / c.name)}
                         for c in sweep.configs() if (Path(runs_dir) / c.name / "weights.pt").is_file()])


def latent_tables(sweep: Sweep, where: paths.Paths) -> None:
    """latent_diagnostics, kl_per_dim; for the 2-D models of every seed digit_geometry, edge_ranks (with
    bootstrap intervals) and latent_confusions; for the first seed's 2-D models what the classifier reads
    in every cell of the coarse grid (grid_cells); and what it reads in the prior samples and interpolations
    of the first seed's smallest- and largest-d models (prior_reads, interpolation_reads)."""
    folders = tables.run_folders(where.runs, sweep)
    scores = tables.metrics_table(where.runs, sweep)
    tables.save(latent_diagnostics(scores), where.results / "latent_diagnostics.csv")
    tables.save(tables.kl_per_dim(where.runs, sweep), where.results / "kl_per_dim.csv")
    x_test, y_test = data.load(sweep.dataset, train=False, limit=sweep.test_limit)
    clf = classifier.load(classifier.classifier_path(where.runs, sweep.classifier_images))
    first = sweep.seeds[0]
    corners = {(a, d): load_model(folders[(a, d, first)]) for a, d in sweep.corners()}
    tables.save(pd.concat([reading.read_prior(m, clf).assign(arch=a, latent_dim=d, seed=first)
                           for (a, d), m in corners.items()], ignore_index=True), where.results / "prior_reads.csv")
    tables.save(pd.concat([reading.read_interpolations(m, clf, x_test, y_test).assign(arch=a, latent_dim=d, seed=first)
                           for (a, d), m in corners.items()], ignore_index=True),
                where.results / "interpolation_reads.csv")
    if not sweep.has_2d():
        return
    geometry, edges = [], []
    for a in sweep.archs:
        for s in sweep.seeds:
            z = latent.encode_means(load_model(folders[(a, 2, s)]), x_test)
            geometry.append(latent.digit_geometry(z, y_test).reset_index().assign(arch=a, seed=s))
            edges.append(claims.edge_ranks(z.numpy(), y_test.numpy(), seed=s).assign(arch=a, seed=s))
    tables.save(pd.concat(geometry, ignore_index=True), where.results / "digit_geometry.csv")
    tables.save(pd.concat(edges, ignore_index=True), where.results / "edge_ranks.csv")
    tables.save(confusions(folders, sweep, "knn_confusion"), where.results / "latent_confusions.csv")
    tables.save(confusion_intervals(folders, sweep, "knn_confusion"), where.results / "latent_confusion_intervals.csv")
    tables.save(pd.concat([reading.read_grid(load_model(folders[(a, 2, first)]), clf, GRID_VALUES).assign(arch=a, seed=first)
                           for a in sweep.archs], ignore_index=True), where.results / "grid_cells.csv")


def latent_diagnostics(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd over seeds of the latent diagnostics of metrics.csv's runs, per (arch, d), and the active
    units' median, least and largest count (the seeds of a setting sit on a ladder of counts)."""
    out = tables.mean_std(scores, ["active_units", "knn_accuracy", "recon_accuracy", "test_elbo"])
    units = scores.groupby(tables.KEYS)["active_units"].agg(active_units_median="median", active_units_min="min",
                                                            active_units_max="max").reset_index()
    return tables.in_order(out.merge(units, on=tables.KEYS))


def metrics_summary(scores: pd.DataFrame, first_seed: int) -> pd.DataFrame:
    """Seed means of metrics.csv's metrics, and the first seed's ELBO, IWAE bound and their gap (quantities of
    the same runs), per (arch, d)."""
    summary = tables.mean_std(scores, ["test_elbo", "recon_accuracy", "knn_accuracy"])
    iwae = scores[scores["seed"] == first_seed][["arch", "latent_dim", "test_elbo", "iwae_bound", "iwae_gain",
                                                 "iwae_k"]]
    summary = summary.merge(iwae.rename(columns={"test_elbo": "first_seed_elbo"}), on=["arch", "latent_dim"])
    summary["recon_minus_knn"] = summary["recon_accuracy_mean"] - summary["knn_accuracy_mean"]
    return summary


def confusions(folders: dict, sweep: Sweep, matrix: str) -> pd.DataFrame:
    """Every confusion of every 2-D model and seed, from the evaluation step's confusion matrices."""
    return pd.concat([tables.confusion_rates(metrics.read(folders[(a, 2, s)])[matrix]).assign(arch=a, seed=s)
                      for a in sweep.archs for s in sweep.seeds], ignore_index=True)


def confusion_intervals(folders: dict, sweep: Sweep, matrix: str) -> pd.DataFrame:
    """The handout's confusion pairs in every 2-D model and seed, with bootstrap intervals (claims)."""
    return pd.concat([claims.confusion_intervals(metrics.read(folders[(a, 2, s)])[matrix], seed=s).assign(arch=a, seed=s)
                      for a in sweep.archs for s in sweep.seeds], ignore_index=True)


def metric_tables(sweep: Sweep, where: paths.Paths) -> None:
    """classifier.json, metrics_summary (seed means, and the first seed's ELBO, IWAE bound and their gap:
    quantities of the same runs), recon_confusions (and intervals), and one table per appendix dataset."""
    info = classifier.read_info(classifier.classifier_path(where.runs, sweep.classifier_images))
    tables.save_record({k: info[k] for k in ("train_images", "test_images", "test_accuracy")},
                       where.results / "classifier.json")
    tables.save(metrics_summary(tables.metrics_table(where.runs, sweep), sweep.seeds[0]),
                where.results / "metrics_summary.csv")
    if sweep.has_2d():
        folders = tables.run_folders(where.runs, sweep)
        tables.save(confusions(folders, sweep, "recon_confusion"), where.results / "recon_confusions.csv")
        tables.save(confusion_intervals(folders, sweep, "recon_confusion"),
                    where.results / "recon_confusion_intervals.csv")
    arch, d, seed = sweep.appendix
    for ds in sweep.datasets[1:]:
        history = runs.load_history(runs.find(where.runs, sweep.config(arch, d, seed, dataset=ds)))
        tables.save(history.tail(1).assign(dataset=ds, arch=arch, latent_dim=d, seed=seed), where.results / f"{ds}.csv")


def rerun_elsewhere(final: pd.DataFrame, sweep: Sweep | None, reruns: Path = RERUNS) -> tuple[pd.DataFrame | None, dict]:
    """The per-seed final table of the same sweep rerun on another machine (reruns/final_by_seed.csv and its
    machine.json, which says how its code was checked to train with today's numerics), when it is of this
    sweep's size; else None, and why."""
    table, info = reruns / "final_by_seed.csv", reruns / "machine.json"
    if not table.is_file() or not info.is_file():
        return None, {"used": False, "why": "there is no rerun on another machine in reruns/"}
    there, about = pd.read_csv(table), json.loads(info.read_text())
    size = {k: about.get("sweep", {}).get(k) for k in ("epochs", "train_limit", "test_limit")}
    ours = {k: getattr(sweep, k) for k in size} if sweep is not None else None
    if size != ours:
        return None, {**about, "used": False, "why": f"it is of another sweep size (epochs, train and test images: "
                                                      f"{', '.join(map(str, size.values()))} there, "
                                                      f"{', '.join(map(str, (ours or {}).values())) or 'unknown'} here)"}
    keys = ["arch", "latent_dim", "seed"]
    both = final[keys].merge(there[keys], on=keys)
    return there, {**about, "used": True, "runs_in_both": int(len(both)),
                   "seeds_in_both": sorted(int(s) for s in both["seed"].unique())}


DERIVED = ("summary.csv", "claims.csv", "verdicts.csv", "seed_batch.csv", "machines.csv", "rerun.json", "inference.json",
           "claims_extras.csv", "grid_summary.csv", "prior_summary.csv", "interpolation_summary.csv",
           "interpolation_counts.csv", "claims_edge.csv", "claims_*_confusion.csv", "largest_*_confusions.csv",
           "convergence.csv", "collapse.csv", "collapse_signature.csv", "unit_slopes.csv", "coverage.csv",
           "collapse_experiment.csv", "collapse_factors.csv", "collapse_effects.csv", "collapse_new_seeds.json",
           "coverage_summary.csv")


def claim_tables(results_dir: Path | str, sweep: Sweep | None = None, reruns: Path = RERUNS) -> None:
    """The handout's claims and their verdicts, from the saved base tables (final_by_seed, metrics, edge_ranks,
    the confusion intervals): claims, verdicts, claims_extras, machines, seed_batch, claims_edge,
    claims_*_confusion, largest_*_confusions."""
    results = Path(results_dir)
    for stale in DERIVED:                  # what an earlier sweep derived and this one may not
        for path in results.glob(stale):
            path.unlink()

    def base(name):
        path = results / f"{name}.csv"
        return tables.read(path) if path.is_file() else None

    if (final := base("final_by_seed")) is not None:
        tables.save(tables.summary(final), results / "summary.csv")
        elsewhere, about = rerun_elsewhere(final, sweep, reruns)
        checked = claims.on_another_machine(claims.loss_claims(final), elsewhere, final)
        tables.save(checked, results / "claims.csv")
        tables.save(claims.overall_verdicts(checked), results / "verdicts.csv")
        summary = base("summary")       # the handout's end points are the grid's: no extra arch averaged in
        grid = list(sweep.archs) if sweep is not None else list(SWEEP_ARCHS)
        tables.save(claims.seed_batch_size(summary[summary["arch"].isin(grid)]), results / "seed_batch.csv")
        shift = claims.machine_shift(final, elsewhere) if elsewhere is not None else None
        if shift is not None:
            tables.save(shift, results / "machines.csv")
            about["changes"] = {a: {"runs": int(len(g)), "sd": float(g["change"].std(ddof=1)),
                                    "max_abs": float(g["change"].abs().max())} for a, g in shift.groupby("arch")}
        tables.save_record(about, results / "rerun.json")
        tables.save_record(
            {"level": inference.LEVEL, "family": int(checked["p"].notna().sum()), "margins": inference.MARGINS,
             "families": {f: int(n) for f, n in checked[checked["p"].notna()].groupby("family", sort=False).size().items()},
             "max_seeds": inference.MAX_SEEDS, "power": inference.POWER, "trim": inference.TRIM,
             "seeds_for_a_share_verdict": inference.seeds_for_a_share_verdict(),
             "bootstrap_resamples": inference.RESAMPLES, "confident": reading.CONFIDENT}, results / "inference.json")
        scores = base("metrics")
        extras = claims.all_extra_claims(final, scores, EXTRAS)
        if len(extras):
            shared = ["holm_p", "holm_equivalence_p", "holm_verdict", "holm_reading", "sentence", "cell"]
            grid = checked.set_index(["claim", "arch", "setting"])[shared]
            owned = extras.set_index(["claim", "arch", "setting"]).index.isin(grid.index)    # one verdict each
            keys = list(zip(extras.loc[owned, "claim"], extras.loc[owned, "arch"], extras.loc[owned, "setting"]))
            extras.loc[owned, shared] = grid.loc[keys].to_numpy()
            tables.save(extras, results / "claims_extras.csv")
    if final is not None:
        collapse_tables(results, final, base("metrics"), base("histories"), base("kl_per_dim"))
    if (history := base("histories")) is not None and len(converged := claims.convergence(history)):
        tables.save(converged, results / "convergence.csv")
    if (cells := base("grid_cells")) is not None:
        tables.save(tables.read_summary(cells, ["arch", "seed"]), results / "grid_summary.csv")
    if (prior := base("prior_reads")) is not None:
        tables.save(tables.read_summary(prior, ["arch", "latent_dim", "seed"]), results / "prior_summary.csv")
    if (paths_read := base("interpolation_reads")) is not None:
        walks = tables.interpolation_summary(paths_read)
        tables.save(walks, results / "interpolation_summary.csv")
        tables.save(tables.interpolation_counts(walks), results / "interpolation_counts.csv")
    if (ranks := base("edge_ranks")) is not None:     # claim 4's rows: one Holm family
        tables.save(inference.holm_shares(claims.edge_claim(ranks)), results / "claims_edge.csv")
    readings = {source: claims.confusion_claim(found) for source in ("latent", "recon")
                if (found := base(f"{source}_confusion_intervals")) is not None}
    if readings:                                      # claim 5's rows, both readings: one Holm family
        family = inference.holm_shares(pd.concat(readings, names=["source", "row"]).reset_index(level=0))
        for source in readings:
            tables.save(family[family["source"] == source].drop(columns="source"),
                        results / f"claims_{source}_confusion.csv")
    for source in ("latent", "recon"):
        if (found := base(f"{source}_confusions")) is not None:
            tables.save(claims.largest_confusions(found), results / f"largest_{source}_confusions.csv")


def collapse_tables(results: Path, final: pd.DataFrame, scores, history, kl) -> None:
    """The runs that collapse (analysis.collapse): the count per setting, the collapsed runs' signature, the
    loss per active unit, the coverage of the verdict's intervals (analysis.coverage), and the experiment
    against its predictions (predictions.csv, collapse_runs.csv) where it has run."""
    flagged = collapse.flag(final)
    tables.save(collapse.counts(flagged), results / "collapse.csv")
    simulated = coverage.simulate(final)
    tables.save(simulated, results / "coverage.csv")
    tables.save(coverage.summary(simulated), results / "coverage_summary.csv")
    if scores is None:
        return
    tables.save(collapse.unit_slopes(final, scores), results / "unit_slopes.csv")
    if history is not None and kl is not None:
        tables.save(collapse.signature(flagged, scores, history, kl), results / "collapse_signature.csv")
    predicted, trained = results / "predictions.csv", results / "collapse_runs.csv"
    if not (predicted.is_file() and trained.is_file()):
        return
    p_table = tables.read(predicted)
    runs_ = collapse.experiment(p_table, tables.read(trained), final, tables.read(results / "weights.csv"), scores)
    tables.save(runs_, results / "collapse_experiment.csv")
    cells = collapse.factors(runs_)
    tables.save(cells, results / "collapse_factors.csv")
    tables.save(collapse.factor_effects(cells), results / "collapse_effects.csv")
    arch, d = collapse.SETTING
    setting = flagged[(flagged["arch"] == arch) & (flagged["latent_dim"] == d)]
    new = runs_[runs_["role"] == "new seed"]
    k, n = int(setting["collapsed"].sum() + new["collapsed"].sum()), len(setting) + len(new)
    share = stats.binomtest(k, n).proportion_ci(inference.LEVEL, method="exact")
    every = np.concatenate([setting["test_loss"].to_numpy(), new["test_loss"].to_numpy()])
    own = collapse.threshold(every)           # the rule over all the seeds, new ones included
    tables.save_record({**collapse.new_seeds(runs_, p_table), "all_collapsed": k, "all_runs": n, "all_share": k / n,
                        "all_low": float(share.low), "all_high": float(share.high), "rule": collapse.RULE,
                        "all_threshold": own, "all_collapsed_by_all": int((every > own).sum())},
                       results / "collapse_new_seeds.json")


# The tables the results step derives from the runs before rounding, which it also saves rounded beside their
# sources: re-derived from the saved sources they agree within the rounding (TOLERANCE).
FIRST_FLOOR = ("final_by_seed.csv", "latent_diagnostics.csv", "metrics_summary.csv", "summary.csv")
TOLERANCE = 3e-4          # the tables are saved to 4 digits: a mean or sd of rounded values moves by about 1e-4


def rederived(results_dir: Path | str, sweep: Sweep, reruns: Path = RERUNS) -> dict:
    """Every table and record of results_dir that is computed from others there, as vaelib derives it today
    from them ({file name: DataFrame or dict}, as a reader reads them back): the claim tables (claim_tables,
    into a copy), and the first floor (FIRST_FLOOR) from histories.csv, final_by_seed.csv and metrics.csv.
    predictions.csv is derived too but pre-registered (python -m vaelib.collapse predict): never re-derived."""
    results = Path(results_dir)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(shutil.copytree(results, Path(tmp) / "results"))
        claim_tables(copy, sweep, reruns)
        for path in sorted(copy.iterdir()):
            if any(fnmatch.fnmatch(path.name, pattern) for pattern in DERIVED):
                out[path.name] = tables.read(path)

    def base(name):
        return tables.read(results / name) if (results / name).is_file() else None

    made = {}
    if (history := base("histories.csv")) is not None:
        made["final_by_seed.csv"] = tables.final_by_seed(history)
    if (final := base("final_by_seed.csv")) is not None:
        made["summary.csv"] = tables.summary(final)
    if (scores := base("metrics.csv")) is not None:
        made["latent_diagnostics.csv"] = latent_diagnostics(scores)
        made["metrics_summary.csv"] = metrics_summary(scores, sweep.seeds[0])
    return out | {name: tables.as_saved(t, name, f"{name} as re-derived") for name, t in made.items()}


def _same(here, there) -> np.ndarray | bool:
    if isinstance(here, pd.Series):
        if pd.api.types.is_numeric_dtype(here) and pd.api.types.is_numeric_dtype(there) \
                and not pd.api.types.is_bool_dtype(here) and not pd.api.types.is_bool_dtype(there):
            return np.isclose(here.astype(float), there.astype(float), rtol=0, atol=TOLERANCE, equal_nan=True)
        return ((here.astype(str) == there.astype(str)) | (here.isna() & there.isna())).to_numpy()
    if isinstance(here, (int, float)) and isinstance(there, (int, float)) and not isinstance(here, bool):
        return bool(np.isclose(here, there, rtol=0, atol=TOLERANCE, equal_nan=True))
    return here == there


def difference(name: str, here, there) -> str | None:
    """Where a file of results/ (`here`, as read) first differs from its re-derivation (`there`), in words."""
    if isinstance(here, dict) or isinstance(there, dict):
        def flat(record, prefix=""):
            return {k: v for key, value in record.items()
                    for k, v in (flat(value, f"{prefix}{key}.").items() if isinstance(value, dict)
                                 else [(f"{prefix}{key}", value)])}
        a, b = flat(here), flat(there)
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b or not _same(a.get(key), b.get(key)):
                return f"key {key}: {a.get(key, 'absent')!r} here, {b.get(key, 'absent')!r} re-derived"
        return None
    if list(here.columns) != list(there.columns):
        return f"its columns are {', '.join(here.columns)}; re-derived: {', '.join(there.columns)}"
    if len(here) != len(there):
        return f"it holds {len(here)} rows, {len(there)} re-derived"
    key = [k for k in schema.TABLES[name].key if k in here.columns]
    for column in here.columns:
        same = _same(here[column], there[column])
        if not same.all():
            i = int(np.argmax(~same))
            where = f" ({', '.join(f'{k}={here[k].iloc[i]}' for k in key)})" if key else ""
            return f"line {i + 2}{where}, column {column}: {here[column].iloc[i]} here, {there[column].iloc[i]} re-derived"
    return None


def derived_problem(results_dir: Path | str, sweep: Sweep, reruns: Path = RERUNS) -> str | None:
    """None when every derived table and record of results_dir is what its sources there give today (values
    within the rounding); else one line naming the first that is not (the first floor first), where it
    differs, which others differ too, and the way back."""
    results = Path(results_dir)
    again = rederived(results, sweep, reruns)
    present = {p.name for p in results.iterdir() if any(fnmatch.fnmatch(p.name, d) for d in DERIVED)}
    problems = []
    for name in sorted(set(again) | present, key=lambda n: (n not in FIRST_FLOOR, FIRST_FLOOR.index(n)
                                                             if n in FIRST_FLOOR else 0, n)):
        if name not in again:
            problems.append((name, "vaelib derives no such file from results/ today"))
        elif name not in present and name not in FIRST_FLOOR:
            problems.append((name, "it is missing"))
        elif (words := difference(name, schema.read(results / name), again[name])) is not None:
            problems.append((name, words))
    if not problems:
        return None
    (name, words), others = problems[0], [n for n, _ in problems[1:]]
    sources = schema.declared(name).sources if schema.declared(name) else ()
    line = (f"{results / name} is not what vaelib derives from {' and '.join(sources) or 'the other tables'} "
            f"today: {words}")
    if others:
        line += f"; {', '.join(others[:6])}{f' and {len(others) - 6} more' if len(others) > 6 else ''} differ too"
    return (line + ". A hand edit, or code changed since results/ was made: `make report` re-derives them; "
            "`git checkout results/` restores the committed ones")


class MixedDevices(Refused):
    """The runs or their metrics were made on different device types: their numbers are other random
    experiments (other kernels, other rounding) and are not tabulated together."""


def device_types(sweep: Sweep, where: paths.Paths) -> dict[str, list[str]]:
    """Each device type ("cpu", "cuda") that trained or evaluated a run of the sweep, and those runs."""
    found: dict[str, list[str]] = {}
    for c in sweep.configs():
        folder = where.runs / c.name
        made = [(runs.read_provenance(folder) or {}).get("device", "cpu")]
        if (folder / "metrics.json").is_file():
            made.append(metrics.read(folder).get("provenance", {}).get("device", "cpu"))
        for device in {str(d).split(":")[0] for d in made}:
            found.setdefault(device, []).append(c.name)
    return found


def check_one_device(sweep: Sweep, where: paths.Paths) -> None:
    """Refuse, with one line, to tabulate runs made on different device types together."""
    found = device_types(sweep, where)
    if len(found) > 1:
        parts = "; ".join(f"{device}: {', '.join(names[:4])}{' ...' if len(names) > 4 else ''} ({len(names)})"
                          for device, names in sorted(found.items()))
        raise MixedDevices(f"the runs in {where.runs} were trained or evaluated on more than one device type "
                           f"({parts}); tables would mix them. Retrain those of one type on the other "
                           f"(the report with --device cpu --force, for example) or keep each in its own --out folder")


def write_all(sweep: Sweep, where: paths.Paths) -> None:
    """The pipeline step: metrics.csv, then every other table of results/ (from runs of one device type)."""
    check_one_device(sweep, where)
    tables.write_metrics_table(sweep, where)
    loss_tables(sweep, where)
    with torch.inference_mode():
        latent_tables(sweep, where)
    metric_tables(sweep, where)
    claim_tables(where.results, sweep)
