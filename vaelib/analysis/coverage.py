"""How often each interval of the loss comparisons covers what it estimates, simulated on the report's own
spreads: the evidence behind the choice of the rule that gives the verdicts (docs/statistics.md).

    python -m vaelib.analysis.coverage       # prints the summary from results/final_by_seed.csv
                                             # (results/coverage*.csv: written by the results step)

Three intervals are compared on every loss comparison of results/claims.csv: Welch's t interval for the
difference of means (the expected run), Yuen's for the difference of 20% trimmed means (a typical run), and
the Hodges-Lehmann interval, exact by the Mann-Whitney inversion, for the median of the difference of two runs
(a typical pair). Each is scored against its own estimand. Two worlds are drawn, each with the seeds of the comparison:

- "normal": each side normal with its observed mean and standard deviation;
- "observed mixture": where a side's setting has runs that collapse (analysis.collapse.RULE), that side is a
  mixture, the collapse rate of its setting, each mode normal with its runs' mean and standard deviation
  (for a mode of one run, the other mode's standard deviation); the other settings as in "normal".

The estimands are known exactly for "normal" (the two coincide) and computed over 500,000 draws for the
mixture (TRUTH_DRAWS). Seeded: the same spreads give the same table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from ..infra import paths
from . import claims, collapse, inference, tables

REPLICATES = 4000
MIN_SEEDS = 4              # fewer seeds a side: no trimming, and no exact rank interval at 95% below 4 and 4
COLUMNS = ["claim", "arch", "setting", "metric", "world", "seeds", "mean_difference", "median_difference",
           "welch_coverage", "rank_coverage", "trimmed_difference", "yuen_coverage", "welch_width", "rank_width",
           "yuen_width", "replicates"]
TRUTH_DRAWS = 500_000      # the mixture's median difference to about 0.01 nat
SEED = 0


def _side(final: pd.DataFrame, arch: str, d: int, metric: str, mixture: bool) -> list[tuple[float, float, float]]:
    """A side's world: [(weight, mean, sd)] per mode."""
    g = collapse.flag(final[(final["arch"] == arch) & (final["latent_dim"] == d)])
    x = g[metric].to_numpy()
    if not mixture or not g["collapsed"].any():
        return [(1.0, x.mean(), x.std(ddof=1))]
    kept, lost = g.loc[~g["collapsed"], metric].to_numpy(), g.loc[g["collapsed"], metric].to_numpy()
    sd_kept = kept.std(ddof=1)
    sd_lost = lost.std(ddof=1) if len(lost) > 1 else sd_kept
    share = len(lost) / len(x)
    return [(1 - share, kept.mean(), sd_kept), (share, lost.mean(), sd_lost)]


def _draw(world, size, rng) -> np.ndarray:
    weights, means, sds = map(np.asarray, zip(*world))
    mode = rng.choice(len(weights), size=size, p=weights)
    return rng.normal(means[mode], sds[mode])


def _interval(lower: np.ndarray, higher: np.ndarray, trim: float) -> tuple[np.ndarray, np.ndarray]:
    """95% intervals of the difference of trimmed means, one per row (inference.trimmed): Yuen's at the
    report's trim (scipy.stats.ttest_ind(equal_var=False, trim=0.2)), Welch's at trim 0."""
    (ta, da, ha), (tb, db, hb) = inference.trimmed(lower, trim), inference.trimmed(higher, trim)
    df = (da + db) ** 2 / (da ** 2 / (ha - 1) + db ** 2 / (hb - 1))
    half = stats.t.ppf(0.5 + inference.LEVEL / 2, df) * np.sqrt(da + db)
    return tb - ta - half, tb - ta + half


def _rank(lower: np.ndarray, higher: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hodges-Lehmann exact 95% intervals (inference.rank_interval), one per row."""
    m, n = lower.shape[1], higher.shape[1]
    diffs = np.sort((higher[:, :, None] - lower[:, None, :]).reshape(len(lower), -1), axis=1)
    k = inference.rank_order(m, n)
    return diffs[:, k - 1], diffs[:, m * n - k]


def simulate(final: pd.DataFrame, replicates: int = REPLICATES, seed: int = SEED) -> pd.DataFrame:
    """Coverage of both intervals on every loss comparison of claims.loss_claims, in both worlds."""
    rng = np.random.default_rng(seed)
    rows = []
    plan = claims.loss_claims(final)[["claim", "arch", "setting", "metric", "seeds"]]
    for r in plan.itertuples():
        (low_arch, low_d), (high_arch, high_d) = _sides(r)
        n_low = int(((final["arch"] == low_arch) & (final["latent_dim"] == low_d)).sum())
        n_high = int(((final["arch"] == high_arch) & (final["latent_dim"] == high_d)).sum())
        if min(n_low, n_high) < MIN_SEEDS:
            continue                           # no interval to score (and no spread to draw from with one seed)
        for world in ("normal", "observed mixture"):
            mixture = world != "normal"
            lower_w = _side(final, low_arch, low_d, r.metric, mixture)
            higher_w = _side(final, high_arch, high_d, r.metric, mixture)
            if mixture and len(lower_w) == 1 and len(higher_w) == 1:
                continue                       # no collapse on either side: the same as "normal"
            lower, higher = _draw(lower_w, (replicates, n_low), rng), _draw(higher_w, (replicates, n_high), rng)
            mean_truth = sum(w * mu for w, mu, _ in higher_w) - sum(w * mu for w, mu, _ in lower_w)
            big_low, big_high = (_draw(lower_w, TRUTH_DRAWS, rng), _draw(higher_w, TRUTH_DRAWS, rng)) if mixture \
                else (None, None)
            median_truth = mean_truth if not mixture else float(np.median(big_high - big_low))
            trimmed_truth = mean_truth if not mixture else float(stats.trim_mean(big_high, inference.TRIM)
                                                                 - stats.trim_mean(big_low, inference.TRIM))
            w_low, w_high = _interval(lower, higher, 0)
            h_low, h_high = _rank(lower, higher)
            y_low, y_high = _interval(lower, higher, inference.TRIM)
            rows.append({"claim": r.claim, "arch": r.arch, "setting": r.setting, "metric": r.metric, "world": world,
                         "seeds": f"{n_low} and {n_high}", "mean_difference": mean_truth,
                         "median_difference": median_truth,
                         "welch_coverage": float(((w_low <= mean_truth) & (mean_truth <= w_high)).mean()),
                         "rank_coverage": float(((h_low <= median_truth) & (median_truth <= h_high)).mean()),
                         "trimmed_difference": trimmed_truth,
                         "yuen_coverage": float(((y_low <= trimmed_truth) & (trimmed_truth <= y_high)).mean()),
                         "welch_width": float(np.median(w_high - w_low)), "rank_width": float(np.median(h_high - h_low)),
                         "yuen_width": float(np.median(y_high - y_low)),
                         "replicates": replicates})
    return pd.DataFrame(rows, columns=COLUMNS)


def _sides(r) -> tuple[tuple[str, int], tuple[str, int]]:
    """(lower, higher) of a claims row: which (arch, d) is claimed to have the lower value."""
    if r.arch in ("conv vs linear", "linear vs conv"):
        d = int(r.setting.split("=")[1])
        first, second = r.arch.split(" vs ")
        return (first, d), (second, d)
    a, b = (int(part.split("=")[1]) for part in r.setting.split(" -> "))
    falls = r.claim in ("recon_falls_with_d", "loss_falls_with_d")
    return ((r.arch, b), (r.arch, a)) if falls else ((r.arch, a), (r.arch, b))


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per world: the comparisons, and each interval's lowest and median coverage (with the Monte Carlo
    standard error of one coverage near 95%)."""
    out = table.groupby("world", sort=False).agg(comparisons=("claim", "size"),
                                                 welch_min=("welch_coverage", "min"),
                                                 welch_median=("welch_coverage", "median"),
                                                 rank_min=("rank_coverage", "min"),
                                                 rank_median=("rank_coverage", "median"),
                                                 yuen_min=("yuen_coverage", "min"),
                                                 yuen_median=("yuen_coverage", "median")).reset_index()
    return out.assign(mc_se=np.sqrt(0.95 * 0.05 / table["replicates"].iloc[0]) if len(table) else [])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vaelib.analysis.coverage", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default=str(paths.PROJECT / "results"))
    parser.add_argument("--replicates", type=int, default=REPLICATES)
    args = parser.parse_args(argv)
    table = simulate(tables.read(Path(args.results) / "final_by_seed.csv"), args.replicates)
    print(summary(table).round(4).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
