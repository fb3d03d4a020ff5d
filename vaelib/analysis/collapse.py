"""Runs that collapse: a rule fixed before it is applied, the count per setting, the runs' signature, how the
loss follows the active units, and the experiment that separates what collapses a run (docs/statistics.md).

The rule (RULE) is on the final test loss alone, so that the active units, read beside it, explain the
collapse rather than define it. It was written after a review named conv d = 10's seeds 4 and 8, so it is
not blind to them; its two parts are conventions fixed outside these results (Tukey's fence for a sample's
bulk, the report's equivalence margin for a difference worth counting), not thresholds fitted to them.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from ..infra.faults import Refused
from ..training import runs
from . import inference, tables

KEYS = ["arch", "latent_dim"]
FENCE = 1.5            # Tukey's inner fence: Q3 + 1.5 IQR
RULE = (f"a run collapses when its final test loss lies more than the equivalence margin "
        f"({inference.MARGINS['test_loss']:g} nat) above its setting's upper Tukey fence (Q3 + {FENCE:g} IQR of "
        f"the setting's final test losses over its seeds, numpy's linear quantiles)")
# The collapse experiment (python -m vaelib.collapse): one setting, two collapsed seeds and two partners (the
# seeds with the most active units, 1 and 9, paired in seed order), and new seeds beyond the report's.
SETTING = ("conv", 10)
PAIRS = ((4, 1), (8, 9))
NEW_SEEDS = tuple(range(10, 20))


def threshold(losses) -> float:
    """The loss above which a run of a setting with these final losses collapses (RULE)."""
    q1, q3 = np.percentile(np.asarray(losses, dtype=float), [25, 75])
    return float(q3 + FENCE * (q3 - q1) + inference.MARGINS["test_loss"])


def flag(final: pd.DataFrame) -> pd.DataFrame:
    """`final` (one row per run) with each setting's collapse threshold and whether the run collapses."""
    out = final.copy()
    out["collapse_above"] = out.groupby(KEYS)["test_loss"].transform(threshold)
    out["collapsed"] = out["test_loss"] > out["collapse_above"]
    return out


def counts(flagged: pd.DataFrame) -> pd.DataFrame:
    """Per setting: collapsed runs k of n with a Clopper-Pearson 95% interval, the threshold, and the seeds."""
    rows = []
    for (arch, d), g in flagged.groupby(KEYS, sort=False):
        k, n = int(g["collapsed"].sum()), len(g)
        ci = stats.binomtest(k, n).proportion_ci(inference.LEVEL, method="exact")
        rows.append({"arch": arch, "latent_dim": d, "runs": n, "collapsed": k, "share": k / n,
                     "share_low": float(ci.low), "share_high": float(ci.high),
                     "collapse_above": g["collapse_above"].iloc[0],
                     "collapsed_seeds": " ".join(str(int(s)) for s in g.loc[g["collapsed"], "seed"]) or "none",
                     "seeds": f"{int(g['seed'].min())}-{int(g['seed'].max())}"})
    return pd.DataFrame(rows)


def kl_per_unit(kl_total: pd.Series, active_units: pd.Series) -> pd.Series:
    """The KL each active unit carries, in nats: none (NaN) for a run with no active unit, where it is undefined
    (a short run can end so: the smoke report's conv d = 2 did)."""
    return kl_total / active_units.where(active_units > 0)


def signature(flagged: pd.DataFrame, scores: pd.DataFrame, history: pd.DataFrame, kl: pd.DataFrame) -> pd.DataFrame:
    """Each collapsed run beside its setting's other runs: active units, KL per active unit, the test loss
    after epoch 1 and at the end (the medians of the setting's other runs beside each)."""
    keys = KEYS + ["seed"]
    first = history[history["epoch"] == 1][keys + ["test_loss"]].rename(columns={"test_loss": "epoch1_loss"})
    total_kl = kl.groupby(keys, as_index=False)["kl"].sum().rename(columns={"kl": "kl_total"})
    runs = (flagged.merge(scores[keys + ["active_units"]], on=keys).merge(first, on=keys).merge(total_kl, on=keys))
    runs["kl_per_unit"] = kl_per_unit(runs["kl_total"], runs["active_units"])
    rows = []
    for _, g in runs.groupby(KEYS, sort=False):
        others = g[~g["collapsed"]]
        for r in g[g["collapsed"]].itertuples():
            rows.append({"arch": r.arch, "latent_dim": r.latent_dim, "seed": r.seed, "test_loss": r.test_loss,
                         "others_loss": others["test_loss"].median(), "active_units": r.active_units,
                         "others_units": others["active_units"].median(), "kl_per_unit": r.kl_per_unit,
                         "others_kl_per_unit": others["kl_per_unit"].median(), "epoch1_loss": r.epoch1_loss,
                         "others_epoch1_loss": others["epoch1_loss"].median(), "others": len(others)})
    return pd.DataFrame(rows, columns=["arch", "latent_dim", "seed", "test_loss", "others_loss", "active_units",
                                       "others_units", "kl_per_unit", "others_kl_per_unit", "epoch1_loss",
                                       "others_epoch1_loss", "others"])


def unit_slopes(final: pd.DataFrame, scores: pd.DataFrame, archs=("conv", "convwide", "convch")) -> pd.DataFrame:
    """How the final test loss follows the active units: per setting of the conv family with some spread of
    units, and pooled over them with one intercept per setting (statsmodels OLS, loss ~ units + setting), the
    slope in nats per active unit with its 95% t interval and the correlation (pooled: the partial
    correlation given the setting; seeds: every run of the setting)."""
    import statsmodels.formula.api as smf
    keys = KEYS + ["seed"]
    runs = final.merge(scores[keys + ["active_units"]], on=keys)
    runs = runs[runs["arch"].isin(archs)].assign(setting=lambda t: t["arch"] + " d=" + t["latent_dim"].astype(str))
    rows, used = [], []
    for setting, g in runs.groupby("setting", sort=False):
        if g["active_units"].nunique() < 3:
            continue
        used.append(setting)
        fit = stats.linregress(g["active_units"], g["test_loss"])
        half = stats.t.ppf(0.5 + inference.LEVEL / 2, len(g) - 2) * fit.stderr
        rows.append({"setting": setting, "runs": len(g), "units": f"{int(g['active_units'].min())}-"
                     f"{int(g['active_units'].max())}", "slope": fit.slope, "slope_low": fit.slope - half,
                     "slope_high": fit.slope + half, "r": fit.rvalue})
    pooled = runs[runs["setting"].isin(used)]
    if len(used) > 1:
        fit = smf.ols("test_loss ~ active_units + C(setting)", data=pooled).fit()
        low, high = fit.conf_int(1 - inference.LEVEL).loc["active_units"]
        rows.append({"setting": "pooled (one intercept per setting)", "runs": len(pooled),
                     "units": f"{int(pooled['active_units'].min())}-{int(pooled['active_units'].max())}",
                     "slope": fit.params["active_units"], "slope_low": low, "slope_high": high,
                     "r": fit.tvalues["active_units"] / math.sqrt(fit.tvalues["active_units"] ** 2 + fit.df_resid)})
    return pd.DataFrame(rows, columns=["setting", "runs", "units", "slope", "slope_low", "slope_high", "r"])


def prediction_interval(x) -> tuple[float, float]:
    """The 95% t prediction interval of one more run's final test loss, from the losses x of a setting's seeds
    (NaN from fewer than two: no spread to predict from)."""
    x = np.asarray(x, dtype=float)
    if len(x) < 2:
        return math.nan, math.nan
    half = stats.t.ppf(0.5 + inference.LEVEL / 2, len(x) - 1) * x.std(ddof=1) * math.sqrt(1 + 1 / len(x))
    return float(x.mean() - half), float(x.mean() + half)


def settings(final: pd.DataFrame) -> dict:
    """Per setting ("arch_d"), what a new run of it is placed against: every seed's final test loss, the 95%
    prediction interval from them, and the collapse threshold (RULE). The site and `python -m vaelib compare`
    both read this, from the committed results/final_by_seed.csv."""
    out = {}
    for (arch, d), g in flag(final).groupby(KEYS, sort=False):
        g = g.sort_values("seed")
        low, high = prediction_interval(g["test_loss"])
        out[f"{arch}_{int(d)}"] = {"arch": arch, "latent_dim": int(d), "seeds": [int(s) for s in g["seed"]],
                                   "losses": [float(v) for v in g["test_loss"]],
                                   "pi": None if math.isnan(low) else [round(low, 4), round(high, 4)],   # one seed: none
                                   "collapse_above": round(float(g["collapse_above"].iloc[0]), 4)}
    return out


def place(setting: dict, loss: float) -> dict:
    """Where one final test loss falls among a setting's seeds (settings()): how many seeds lie below it, the
    seed it equals (to the table's 4 decimals) if any, inside the prediction interval or not, collapsed or not."""
    same = [s for s, v in zip(setting["seeds"], setting["losses"]) if abs(v - loss) < 5e-5]
    return {"below": sum(v < loss for v in setting["losses"]), "of": len(setting["losses"]),
            "same_as_seed": same[0] if same else None,
            "inside_pi": None if setting["pi"] is None else setting["pi"][0] <= loss <= setting["pi"][1],
            "collapsed": loss > setting["collapse_above"]}


def your_runs(source: Path) -> pd.DataFrame:
    """The runs to compare: a run folder (config.json and history.csv: its last epoch's test loss) or a CSV with
    columns arch, latent_dim and test_loss (a line per run; other columns, such as seed, are kept)."""
    if source.is_dir():
        if not (source / "config.json").is_file() or not (source / "history.csv").is_file():
            raise Refused(f"RUN {source} is a folder without config.json and history.csv; expected a run folder "
                          f"(runs/ARCH_D_sSEED) or a CSV with columns arch, latent_dim, test_loss")
        config = runs.read_config(source)
        loss = float(runs.load_history(source)["test_loss"].iloc[-1])
        return pd.DataFrame([{"run": source.name, "arch": config.arch, "latent_dim": config.latent_dim,
                              "test_loss": loss}])
    if not source.is_file():
        raise Refused(f"RUN {source} does not exist; expected a run folder or a CSV with columns arch, latent_dim, "
                      f"test_loss")
    try:
        table = pd.read_csv(source)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise Refused(f"RUN {source} is not a readable CSV ({str(e).splitlines()[0]}); expected columns arch, "
                      f"latent_dim, test_loss") from None
    missing = [c for c in ("arch", "latent_dim", "test_loss") if c not in table.columns]
    if missing or table.empty:
        raise Refused(f"RUN {source} lacks column(s) {', '.join(missing) or '(no rows)'}; expected columns arch, "
                      f"latent_dim, test_loss and a line per run")
    for column in ("latent_dim", "test_loss"):
        bad = pd.to_numeric(table[column], errors="coerce").isna()
        if bad.any():
            raise Refused(f"RUN {source} line {int(bad.idxmax()) + 2}: {column} {table.loc[bad.idxmax(), column]!r} "
                          f"is not a number")
    return table.astype({"latent_dim": int, "test_loss": float})


def compare(table: pd.DataFrame, results: Path) -> list[str]:
    """Each run of `table` placed among the committed seeds of its setting (results/final_by_seed.csv): the
    seeds below it, the 95% prediction interval, and the report's collapse rule (RULE): `python -m vaelib compare`."""
    known = settings(tables.read(results / "final_by_seed.csv"))
    lines = []
    for i, row in enumerate(table.itertuples(), start=2):
        key = f"{row.arch}_{row.latent_dim}"
        if key not in known:
            raise Refused(f"RUN line {i}: arch {row.arch!r} at latent_dim {row.latent_dim} is not a setting of "
                          f"{results / 'final_by_seed.csv'}; allowed: " + ", ".join(k.replace("_", " d=") for k in known))
        s, at = known[key], place(known[key], row.test_loss)
        same = f", the loss of seed {at['same_as_seed']}" if at["same_as_seed"] is not None else ""
        name = getattr(row, "run", None) or (f"seed {row.seed}" if hasattr(row, "seed") else f"line {i}")
        lines.append(f"{name}: {row.arch} d={row.latent_dim}, test loss {row.test_loss:.4f} "
                     f"nats: above {at['below']} of the {at['of']} committed seeds{same}; "
                     + ("no 95% prediction interval (one committed seed); " if s["pi"] is None else
                        f"{'inside' if at['inside_pi'] else 'outside'} the 95% prediction interval "
                        f"[{s['pi'][0]:.2f}, {s['pi'][1]:.2f}]; ")
                     + (f"looks collapsed (above {s['collapse_above']:.2f}, the report's rule: {RULE})"
                        if at["collapsed"] else f"not collapsed (at most {s['collapse_above']:.2f})"))
    return lines


def predictions(final: pd.DataFrame) -> pd.DataFrame:
    """What the report's runs of SETTING predict for each run of the experiment, before it is trained:
    the collapse threshold (RULE over the report's seeds), the probability that a new seed collapses (the
    share of the report's seeds that did) and, for a run of a new seed, the 95% t prediction interval of its
    final test loss from all the report's seeds and from the seeds that did not collapse, and the
    distribution-free interval [min, max] of the report's seeds (coverage (n - 1) / (n + 1)). For a swapped
    run (initial weights of one seed, batch order and noise of another) the collapse each explanation
    predicts: by the initial weights, by the data order and noise."""
    arch, d = SETTING
    g = flag(final[(final["arch"] == arch) & (final["latent_dim"] == d)])
    losses, kept = g["test_loss"].to_numpy(), g.loc[~g["collapsed"], "test_loss"].to_numpy()
    collapsed = set(g.loc[g["collapsed"], "seed"].astype(int))
    n = len(losses)

    common = {"arch": arch, "latent_dim": d, "collapse_above": g["collapse_above"].iloc[0],
              "p_collapse": len(collapsed) / n, "from_seeds": f"{int(g['seed'].min())}-{int(g['seed'].max())}"}
    low, high = prediction_interval(losses)
    kept_low, kept_high = prediction_interval(kept)
    rows = [{"run": f"{arch}_{d}_s{s}", "role": "new seed", "data_seed": s, "init_seed": s, **common,
             "pi_low": low, "pi_high": high, "pi_kept_low": kept_low, "pi_kept_high": kept_high,
             "range_low": losses.min(), "range_high": losses.max(), "range_coverage": (n - 1) / (n + 1),
             "if_init": "", "if_data": ""} for s in NEW_SEEDS]
    for bad, good in PAIRS:
        for data_seed, init_seed in ((bad, bad), (good, good), (good, bad), (bad, good)):
            name = f"{arch}_{d}_s{data_seed}" + ("" if data_seed == init_seed else f"_i{init_seed}")
            role = "retrained" if data_seed == init_seed else "swapped"
            rows.append({"run": name, "role": role, "data_seed": data_seed, "init_seed": init_seed, **common,
                         "pi_low": math.nan, "pi_high": math.nan, "pi_kept_low": math.nan, "pi_kept_high": math.nan,
                         "range_low": math.nan, "range_high": math.nan, "range_coverage": math.nan,
                         "if_init": "collapses" if init_seed in collapsed else "does not",
                         "if_data": "collapses" if data_seed in collapsed else "does not"})
    return pd.DataFrame(rows)


def predicted_count(p_table: pd.DataFrame) -> dict:
    """How many of the new seeds the report's seeds predict to collapse: the beta-binomial predictive
    distribution of the count (Jeffreys prior on the rate, updated by the report's k of n), its mode and
    central 95% interval."""
    new = p_table[p_table["role"] == "new seed"]
    first = p_table.iloc[0]
    n_report = int(first["from_seeds"].split("-")[1]) - int(first["from_seeds"].split("-")[0]) + 1
    k = round(first["p_collapse"] * n_report)
    dist = stats.betabinom(len(new), k + 0.5, n_report - k + 0.5)
    return {"new_runs": len(new), "mode": int(np.argmax(dist.pmf(np.arange(len(new) + 1)))),
            "low": int(dist.ppf((1 - inference.LEVEL) / 2)), "high": int(dist.ppf(0.5 + inference.LEVEL / 2))}


def experiment(predicted: pd.DataFrame, trained: pd.DataFrame, final: pd.DataFrame,
               weights: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Each run of the experiment beside what was predicted for it: collapsed or not by the threshold fixed
    in predictions.csv, inside each prediction interval or not, and for a retrained run its change from the
    report's run of the same seeds and whether its weights are the report's bit for bit (weights.csv)."""
    keys = KEYS + ["seed"]
    out = predicted.merge(trained[["run", "epoch1_loss", "test_loss", "test_recon", "test_kl", "active_units",
                                   "kl_total", "weights_sha256", "cpu", "code"]], on="run")
    out["collapsed"] = out["test_loss"] > out["collapse_above"]
    for name in ("pi", "pi_kept", "range"):
        out[f"in_{name}"] = np.where(out[f"{name}_low"].isna(), np.nan,
                                     (out[f"{name}_low"] <= out["test_loss"]) & (out["test_loss"] <= out[f"{name}_high"]))
    report = final[keys + ["test_loss"]].rename(columns={"seed": "data_seed", "test_loss": "report_loss"})
    out = out.merge(report, on=["arch", "latent_dim", "data_seed"], how="left")
    out.loc[out["role"] != "retrained", "report_loss"] = np.nan
    codes = scores[keys + ["run_code"]].rename(columns={"seed": "data_seed", "run_code": "report_code"})
    out = out.merge(codes, on=["arch", "latent_dim", "data_seed"], how="left")
    out.loc[out["role"] != "retrained", "report_code"] = np.nan
    recorded = weights.set_index("run")["weights_sha256"]
    out["same_weights"] = [np.nan if role != "retrained" else float(recorded.get(run) == sha)
                           for run, role, sha in zip(out["run"], out["role"], out["weights_sha256"])]
    out["kl_per_unit"] = kl_per_unit(out["kl_total"], out["active_units"])
    return out


def factors(runs: pd.DataFrame) -> pd.DataFrame:
    """The 2 x 2 of each pair: per (initial weights' seed, data order's seed), the run's loss, units and
    whether it collapsed; and which factor the collapses follow (both runs with the collapsed seed's
    initial weights collapse and neither with its data order: "initial weights"; the reverse: "data order
    and noise"; otherwise "neither alone")."""
    rows = []
    for bad, good in PAIRS:
        cells = runs[runs["data_seed"].isin([bad, good]) & runs["init_seed"].isin([bad, good])]
        if len(cells) < 4:
            continue
        by_init = all(c.collapsed == (c.init_seed == bad) for c in cells.itertuples())
        by_data = all(c.collapsed == (c.data_seed == bad) for c in cells.itertuples())
        carried = "initial weights" if by_init and not by_data else "data order and noise" if by_data and not by_init \
            else "neither alone"
        for c in cells.itertuples():
            rows.append({"pair": f"{bad} with {good}", "init_seed": c.init_seed, "data_seed": c.data_seed,
                         "test_loss": c.test_loss, "active_units": c.active_units, "collapsed": c.collapsed,
                         "carried_by": carried})
    return pd.DataFrame(rows, columns=["pair", "init_seed", "data_seed", "test_loss", "active_units", "collapsed",
                                       "carried_by"])


def new_seeds(runs: pd.DataFrame, p_table: pd.DataFrame) -> dict:
    """The new seeds against their predictions: how many collapsed against the predicted count's interval,
    how many fell inside each prediction interval, and the collapse rate over all the seeds of SETTING."""
    new = runs[runs["role"] == "new seed"]
    count = predicted_count(p_table)
    out = {"new_runs": len(new), "planned": count["new_runs"], "collapsed": int(new["collapsed"].sum()),
           "predicted_mode": count["mode"], "predicted_low": count["low"], "predicted_high": count["high"],
           "in_count_interval": bool(count["low"] <= new["collapsed"].sum() <= count["high"]) if len(new) else None}
    for name in ("pi", "pi_kept", "range"):
        out[f"in_{name}"] = int(new[f"in_{name}"].astype(bool).sum())
    out["in_pi_kept_of_kept"] = int(new.loc[~new["collapsed"], "in_pi_kept"].astype(bool).sum())
    out["kept"] = int((~new["collapsed"]).sum())
    out["range_coverage"] = float(p_table["range_coverage"].dropna().iloc[0])
    return out


def factor_effects(cells: pd.DataFrame) -> pd.DataFrame:
    """What the collapsed seed's initial weights and its batch order and noise each add to a run's final test
    loss and to its active units, over the 2 x 2 cells of every pair: the additive model
    value ~ pair + initial weights of the collapsed seed + its data order (statsmodels OLS; one run per cell, so
    the interaction is the residual), each effect with its 95% t interval and whether the interval excludes 0."""
    import statsmodels.formula.api as smf
    if cells["pair"].nunique() < 1 or len(cells) < 4 * max(cells["pair"].nunique(), 1):
        return pd.DataFrame(columns=["outcome", "factor", "effect", "low", "high", "shown", "runs"])
    bad = {f"{b} with {g}": b for b, g in PAIRS}
    data = cells.assign(init_bad=(cells["init_seed"] == cells["pair"].map(bad)).astype(float),
                        data_bad=(cells["data_seed"] == cells["pair"].map(bad)).astype(float))
    rows = []
    for outcome in ("test_loss", "active_units"):
        formula = f"{outcome} ~ init_bad + data_bad" + (" + C(pair)" if data["pair"].nunique() > 1 else "")
        fit = smf.ols(formula, data=data.astype({outcome: float})).fit()
        bounds = fit.conf_int(1 - inference.LEVEL)
        for factor, words in (("init_bad", "initial weights"), ("data_bad", "batch order and noise")):
            low, high = bounds.loc[factor]
            rows.append({"outcome": outcome, "factor": words, "effect": fit.params[factor], "low": low, "high": high,
                         "shown": bool(low > 0 or high < 0), "runs": len(data)})
    return pd.DataFrame(rows)
