"""The seed's claims, each given a verdict by one stated rule over seed-to-seed spreads.

For a claim "A is lower than B" at one setting: the difference is mean(B) - mean(A) (positive when
the claim goes the right way) and the noise level is twice the pooled seed-to-seed standard deviation,
2 * sqrt((sd_A^2 + sd_B^2) / 2). The claim *holds* there when the difference exceeds the noise,
is *refuted* when it is below minus the noise, and is *within noise* otherwise. Over several
settings, a claim holds when it holds at every one, is refuted when it is refuted somewhere and holds
nowhere, *partly holds* when it holds at some settings only, and is within noise otherwise.
"""

from __future__ import annotations

import math

import pandas as pd

RULE = __doc__.split("\n\n", 1)[1].strip().replace("\n", " ")
NOISE_FACTOR = 2.0


def verdict(diff: float, noise: float) -> str:
    if noise != noise:            # NaN: a single seed has no spread
        return "untested (one seed)"
    if diff > noise:
        return "holds"
    if diff < -noise:
        return "refuted"
    return "within noise"


def overall(verdicts) -> str:
    verdicts = list(verdicts)
    if any(v.startswith("untested") for v in verdicts):
        return "untested (one seed)"
    if all(v == "holds" for v in verdicts):
        return "holds"
    if "holds" in verdicts:
        return "partly holds"
    if "refuted" in verdicts:
        return "refuted"
    return "within noise"


def compare(lower: pd.Series, higher: pd.Series, metric: str) -> dict:
    """The claim "`lower` has the lower `metric`": difference, noise level and verdict."""
    diff = higher[f"{metric}_mean"] - lower[f"{metric}_mean"]
    noise = NOISE_FACTOR * math.sqrt((lower[f"{metric}_std"] ** 2 + higher[f"{metric}_std"] ** 2) / 2)
    return {"difference": diff, "noise": noise, "verdict": verdict(diff, noise)}


def loss_claims(summary: pd.DataFrame) -> pd.DataFrame:
    """Rows for the seed's three loss claims, one per setting compared, each with its verdict."""
    rows = []
    by = summary.set_index(["arch", "latent_dim"])
    archs = list(summary["arch"].unique())
    dims = sorted(summary["latent_dim"].unique())
    for arch in archs:                         # 1: reconstruction falls as d grows
        for small, large in zip(dims, dims[1:]):
            rows.append({"claim": "recon_falls_with_d", "arch": arch, "setting": f"d={small} -> d={large}",
                         **compare(by.loc[(arch, large)], by.loc[(arch, small)], "test_recon")})
    if {"linear", "conv"} <= set(archs):
        for d in dims:                         # 2: conv better than linear at each d (total loss, recon)
            for claim, metric in (("conv_beats_linear", "test_loss"), ("conv_reconstructs_better", "test_recon")):
                rows.append({"claim": claim, "arch": "conv vs linear", "setting": f"d={d}",
                             **compare(by.loc[("conv", d)], by.loc[("linear", d)], metric)})
            rows.append({"claim": "linear_lower_kl", "arch": "linear vs conv", "setting": f"d={d}",
                         **compare(by.loc[("linear", d)], by.loc[("conv", d)], "test_kl")})
    for arch in archs:                         # 3: KL rises with d (the opposite ranking)
        for small, large in zip(dims, dims[1:]):
            rows.append({"claim": "kl_rises_with_d", "arch": arch, "setting": f"d={small} -> d={large}",
                         **compare(by.loc[(arch, small)], by.loc[(arch, large)], "test_kl")})
    for arch in archs:                         # beyond the seed: does the total loss keep falling with d?
        for small, large in zip(dims, dims[1:]):
            rows.append({"claim": "loss_falls_with_d", "arch": arch, "setting": f"d={small} -> d={large}",
                         **compare(by.loc[(arch, large)], by.loc[(arch, small)], "test_loss")})
    # one architecture at one d compares nothing: an empty table, with its columns
    return pd.DataFrame(rows, columns=["claim", "arch", "setting", "difference", "noise", "verdict"])


def overall_verdicts(claims: pd.DataFrame) -> pd.DataFrame:
    """One verdict per (claim, arch) and per claim, by the rule above."""
    per_arch = claims.groupby(["claim", "arch"], sort=False)["verdict"].agg(overall).reset_index()
    per_claim = claims.groupby("claim", sort=False)["verdict"].agg(overall).reset_index().assign(arch="all")
    return pd.concat([per_arch, per_claim], ignore_index=True)


def share_of_seeds(flags: pd.Series) -> str:
    """A yes/no fact seen in each seed: holds (all seeds), refuted (none), within noise (some)."""
    if flags.all():
        return "holds"
    return "refuted" if not flags.any() else "within noise"


def edge_claim(geometry: pd.DataFrame, digits=(0, 1), top: int = 3) -> pd.DataFrame:
    """The seed's "zeros and ones sit at the edge": per (arch, digit), its centroid's rank from the edge in
    each seed (1 = farthest from the origin) and whether it is among the `top` farthest in every seed."""
    rows = []
    for (arch, digit), g in geometry[geometry["digit"].isin(digits)].groupby(["arch", "digit"], sort=False):
        ranks = g.sort_values("seed")["rank_from_edge"]
        rows.append({"claim": "at_the_edge", "arch": arch, "digit": digit, "top": top,
                     "ranks": ", ".join(str(int(r)) for r in ranks), "mean_rank": ranks.mean(),
                     "verdict": share_of_seeds(ranks <= top)})
    return pd.DataFrame(rows)


def confusion_claim(confusions: pd.DataFrame, pairs=((7, 9), (5, 8)), top: int = 5) -> pd.DataFrame:
    """The seed's "a 9 for a 7, an 8 for a 5": per (arch, pair), the rate in each seed (% of the true digit),
    its rank among all confusions, and whether it is among the `top` largest in every seed."""
    rows = []
    for arch, g in confusions.groupby("arch", sort=False):
        for true, predicted in pairs:
            cell = g[(g["true"] == true) & (g["predicted"] == predicted)].sort_values("seed")
            rows.append({"claim": "frequent_confusion", "arch": arch, "true": true, "predicted": predicted,
                         "top": top, "percent_mean": cell["percent_of_true"].mean(),
                         "percent_std": cell["percent_of_true"].std(ddof=1),
                         "ranks": ", ".join(str(int(r)) for r in cell["rank"]),
                         "verdict": share_of_seeds(cell["rank"] <= top)})
    return pd.DataFrame(rows)


def largest_confusions(confusions: pd.DataFrame, n: int = 4) -> pd.DataFrame:
    """Per arch, the n confusions with the largest mean rate over seeds, in order."""
    mean = (confusions.groupby(["arch", "true", "predicted"], as_index=False)["percent_of_true"]
            .agg(percent_mean="mean", percent_std=lambda s: s.std(ddof=1)))
    mean = mean.sort_values(["arch", "percent_mean"], ascending=[True, False])
    return mean.groupby("arch", sort=False).head(n).reset_index(drop=True)


SEED_ENDPOINTS = (7000, 15000)   # the seed's "from around 7,000 to almost 15,000" (sums over a batch)


def seed_batch_size(summary: pd.DataFrame) -> pd.DataFrame:
    """The batch size B under which our per-image test reconstruction losses give the seed's end points.

    Read as: the seed's test reconstruction loss spans ~7,000 (largest d) to ~15,000 (d = 2), summed over
    a batch of unknown size. B is fitted to both ends (geometric mean of the two ratios); the row also
    gives what our values times B are.
    """
    low, high = SEED_ENDPOINTS
    by_dim = summary.groupby("latent_dim")["test_recon_mean"].mean()
    recon_small, recon_large = by_dim.iloc[0], by_dim.iloc[-1]
    b_low, b_high = low / recon_large, high / recon_small
    batch = math.sqrt(b_low * b_high)
    return pd.DataFrame([{"seed_low": low, "seed_high": high, "small_d": by_dim.index[0],
                          "large_d": by_dim.index[-1], "recon_small_d": recon_small, "recon_large_d": recon_large,
                          "batch_for_low": b_low, "batch_for_high": b_high, "batch": round(batch),
                          "ours_low": round(batch) * recon_large, "ours_high": round(batch) * recon_small}])
