"""The statistics behind every verdict: Welch's t interval for a difference of seed means, an equivalence
test against a margin fixed in advance, the verdict they give, what the seeds could have resolved, Holm's
correction within a declared family, and a percentile bootstrap over test images for ranks.

A comparison "A is lower than B" is the difference mean(B) - mean(A) over seeds (positive when the claim
goes the right way), with a 95% confidence interval by Welch's t (two samples, unequal variances:
`scipy.stats.ttest_ind(equal_var=False)`). The claim **holds** at that setting when the interval lies
above 0, and is **refuted** when it lies below 0. When the interval contains 0, two one-sided Welch tests
against the equivalence margin (`statsmodels.stats.weightstats.ttost_ind`, level 5%: the difference lies
within plus or minus the margin; equivalently, its 90% interval lies inside the margin, so the 95% interval
shown can reach past it) decide between **equivalent** (the difference is shown to be smaller than the
margin: only then does the report say "flat" or "the same") and **inconclusive** (neither a difference nor
its absence is shown; with these spreads only a difference larger than the interval's half-width would have
been resolved, and `seeds_needed` says how many seeds per side would resolve the observed one). A difference
shown to be nonzero keeps its direction's verdict even when it is also shown to lie inside the margin.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import DescrStatsW, ttost_ind

LEVEL = 0.95
RESAMPLES = 999           # bootstrap resamples of the test images per interval
MAX_SEEDS = 1000          # seeds_needed gives up here: the observed difference is too small to chase
RULE = __doc__.split("\n\n", 1)[1].strip().replace("\n", " ")

# The equivalence margins, fixed before the 10-seed sweep was run, by metric. 1 nat per image for the losses
# and their parts: the unit in which the VAE literature separates models (Burda et al. 2015 report NLLs to
# hundredths and call gaps of about a nat real), about 1% of the sweep's test losses, and smaller than the
# differences the handout's claims are about. One unit for a count of active units.
MARGINS = {"test_loss": 1.0, "test_recon": 1.0, "test_kl": 1.0, "active_units": 1.0,
           # the test loss's slope at the end of training, nats per image per epoch: 10 more epochs at this
           # rate would move the loss by the loss's own margin
           "slope": 0.1}
VERDICTS = ("holds", "refuted", "equivalent", "inconclusive", "untested (one seed)")


def verdict(low: float, high: float, equivalence_p: float = math.nan) -> str:
    """holds / refuted by the 95% interval of the difference; else equivalent when the equivalence test
    rejects at 5% (`equivalence_p`), else inconclusive."""
    if low != low or high != high:                # NaN: one seed on a side has no spread
        return "untested (one seed)"
    if low > 0:
        return "holds"
    if high < 0:
        return "refuted"
    return "equivalent" if equivalence_p < 1 - LEVEL else "inconclusive"


def margin_of(metric: str) -> float:
    if metric not in MARGINS:
        raise ValueError(f"metric={metric!r} has no equivalence margin; allowed: {', '.join(MARGINS)}")
    return MARGINS[metric]


def welch_df(var_a: float, n_a: int, var_b: float, n_b: int) -> float:
    """Welch-Satterthwaite degrees of freedom of a difference of two means."""
    a, b = var_a / n_a, var_b / n_b
    return (a + b) ** 2 / (a ** 2 / (n_a - 1) + b ** 2 / (n_b - 1)) if a + b > 0 else math.inf


def seeds_needed(std_a: float, std_b: float, difference: float) -> float:
    """Seeds per side for which a Welch 95% interval of this half-width would exclude 0 at the observed
    difference, if the spreads stayed as observed; NaN above MAX_SEEDS (or with no difference)."""
    var = std_a ** 2 + std_b ** 2
    if difference == 0 or var == 0 or var != var:
        return math.nan
    for n in range(2, MAX_SEEDS + 1):
        df = welch_df(std_a ** 2, n, std_b ** 2, n)
        if stats.t.ppf(0.5 + LEVEL / 2, df) * math.sqrt(var / n) < abs(difference):
            return float(n)
    return math.nan


def compare(lower, higher, margin: float) -> dict:
    """The claim "`lower` has the lower value" over per-seed values: difference mean(higher) - mean(lower),
    its Welch 95% interval, the two-sided p-value, the equivalence test's p-value against +-`margin` (two
    one-sided Welch tests), the verdict, the half-width (the smallest difference these seeds resolve), and
    the seeds per side that would resolve the observed difference."""
    lower, higher = np.asarray(lower, dtype=float), np.asarray(higher, dtype=float)
    diff = higher.mean() - lower.mean()
    if min(len(lower), len(higher)) < 2:
        return {"difference": diff, "ci_low": math.nan, "ci_high": math.nan, "p": math.nan,
                "margin": margin, "equivalence_p": math.nan,
                "verdict": verdict(math.nan, math.nan), "resolvable": math.nan, "seeds_needed": math.nan,
                "seeds": min(len(lower), len(higher))}
    test = stats.ttest_ind(higher, lower, equal_var=False)
    ci = test.confidence_interval(LEVEL)
    equivalence_p = float(ttost_ind(higher, lower, -margin, margin, usevar="unequal")[0]) \
        if (higher.std() + lower.std()) > 0 else float(abs(diff) >= margin)
    found = verdict(ci.low, ci.high, equivalence_p)
    return {"difference": diff, "ci_low": ci.low, "ci_high": ci.high, "p": test.pvalue, "margin": margin,
            "equivalence_p": equivalence_p, "verdict": found, "resolvable": (ci.high - ci.low) / 2,
            "seeds_needed": seeds_needed(lower.std(ddof=1), higher.std(ddof=1), diff)
            if found in ("inconclusive", "equivalent") else math.nan,
            "seeds": min(len(lower), len(higher))}


def against(values, value: float) -> dict:
    """The claim "the mean of `values` is above `value`" (a published number with no stated spread):
    the difference mean - value, its 95% one-sample t interval (`scipy.stats.ttest_1samp`), the two-sided
    p-value, the verdict and the half-width (the smallest difference these values resolve)."""
    values = np.asarray(values, dtype=float)
    test = stats.ttest_1samp(values, popmean=value)
    ci = test.confidence_interval(LEVEL)
    return {"difference": values.mean() - value, "ci_low": ci.low - value, "ci_high": ci.high - value,
            "p": test.pvalue, "verdict": verdict(ci.low - value, ci.high - value),
            "resolvable": (ci.high - ci.low) / 2, "n": len(values), "mean_low": ci.low, "mean_high": ci.high}


def between_draws(gap: float, draw_means) -> dict:
    """A gap between two numbers that each rest on one binarization of the test set (ours and a paper's),
    given the means of the same estimate under several binarizations (`draw_means`): their standard deviation
    (the draw's effect, with the estimator's noise inside each mean), and the gap's 95% t interval
    gap +- t(0.975, D - 1) * sqrt(2) * sd (`scipy.stats.t`; sqrt(2): the two numbers' draws are independent).
    It says nothing of the seed."""
    means = np.asarray(draw_means, dtype=float)
    sd = means.std(ddof=1)
    half = stats.t.ppf(0.5 + LEVEL / 2, len(means) - 1) * math.sqrt(2) * sd
    return {"difference": gap, "ci_low": gap - half, "ci_high": gap + half, "draws": len(means), "sd": sd,
            "range": float(means.max() - means.min())}


def one_sample(values, margin: float) -> dict:
    """The claim "the mean of `values` is above 0", the seed as the unit: the mean, its 95% one-sample t
    interval (`scipy.stats.ttest_1samp`), the equivalence test's p-value against +-`margin` (two one-sided
    tests, statsmodels' `DescrStatsW.ttost_mean`) and the verdict."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return {"difference": values.mean(), "ci_low": math.nan, "ci_high": math.nan, "p": math.nan,
                "margin": margin, "equivalence_p": math.nan, "verdict": verdict(math.nan, math.nan),
                "seeds": len(values)}
    test = stats.ttest_1samp(values, 0.0)
    ci = test.confidence_interval(LEVEL)
    equivalence_p = float(DescrStatsW(values).ttost_mean(-margin, margin)[0]) if values.std() > 0 \
        else float(abs(values.mean()) >= margin)
    return {"difference": values.mean(), "ci_low": ci.low, "ci_high": ci.high, "p": test.pvalue, "margin": margin,
            "equivalence_p": equivalence_p, "verdict": verdict(ci.low, ci.high, equivalence_p), "seeds": len(values)}


def contrast(groups: list[tuple[float, np.ndarray]], margin: float) -> dict:
    """A linear contrast sum(c_i * mean_i) of independent groups, with a 95% t interval whose degrees of
    freedom are Welch-Satterthwaite's (the difference of two differences: does one gap exceed another?), and
    the two one-sided tests of |contrast| < `margin` on the same t distribution (as ttost_ind does for two
    groups)."""
    terms = [(c, np.asarray(x, dtype=float)) for c, x in groups]
    value = sum(c * x.mean() for c, x in terms)
    if min(len(x) for _, x in terms) < 2:
        return {"difference": value, "ci_low": math.nan, "ci_high": math.nan, "p": math.nan, "margin": margin,
                "equivalence_p": math.nan, "verdict": verdict(math.nan, math.nan), "resolvable": math.nan,
                "seeds": 1}
    parts = [c ** 2 * x.var(ddof=1) / len(x) for c, x in terms]
    se = math.sqrt(sum(parts))
    df = sum(parts) ** 2 / sum(p ** 2 / (len(x) - 1) for p, (_, x) in zip(parts, terms)) if se > 0 else math.inf
    half = stats.t.ppf(0.5 + LEVEL / 2, df) * se
    p = 2 * stats.t.sf(abs(value) / se, df) if se > 0 else math.nan
    equivalence_p = max(stats.t.sf((value + margin) / se, df), stats.t.cdf((value - margin) / se, df)) \
        if se > 0 else float(abs(value) >= margin)
    return {"difference": value, "ci_low": value - half, "ci_high": value + half, "p": p, "margin": margin,
            "equivalence_p": equivalence_p, "verdict": verdict(value - half, value + half, equivalence_p),
            "resolvable": half, "seeds": min(len(x) for _, x in terms)}


def holm(table: pd.DataFrame) -> pd.DataFrame:
    """Holm's step-down correction within each family of `table` (its "family" column): the adjusted
    p-values of the difference and of the equivalence test, and the verdict at a family-wise error rate of
    5% (`holm_verdict`): holds / refuted when the adjusted difference test rejects, else equivalent when
    the adjusted equivalence test rejects, else inconclusive."""
    out = table.copy()
    out["holm_p"] = math.nan
    out["holm_equivalence_p"] = math.nan
    out["holm_verdict"] = out["verdict"]
    for _, members in out.groupby("family", sort=False):
        tested = members.index[members["p"].notna()]
        if not len(tested):
            continue
        reject, adjusted, _, _ = multipletests(out.loc[tested, "p"], alpha=1 - LEVEL, method="holm")
        same, adjusted_same, _, _ = multipletests(out.loc[tested, "equivalence_p"], alpha=1 - LEVEL, method="holm")
        out.loc[tested, "holm_p"] = adjusted
        out.loc[tested, "holm_equivalence_p"] = adjusted_same
        differs = np.where(out.loc[tested, "difference"] > 0, "holds", "refuted")
        out.loc[tested, "holm_verdict"] = np.where(reject, differs, np.where(same, "equivalent", "inconclusive"))
    return out


def where(verdicts: pd.Series, settings: pd.Series) -> str:
    """Where a claim holds, is refuted and is inconclusive, in that order: "holds at d=2, d=3;
    refuted at d=50" (one word when every setting agrees); nothing hides a refutation."""
    found = {}
    for v, s in zip(verdicts, settings):
        found.setdefault(v, []).append(str(s))
    if len(found) == 1:
        return next(iter(found))
    return "; ".join(f"{v} at {', '.join(found[v])}" for v in VERDICTS if v in found)


def bootstrap_interval(data: tuple, statistic, seed: int = 0, resamples: int = RESAMPLES) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of `statistic` over the rows of `data` (arrays resampled together,
    as test images; scipy.stats.bootstrap)."""
    result = stats.bootstrap(data, lambda *rows: float(statistic(*rows)), paired=True, vectorized=False, method="percentile",
                             n_resamples=resamples, confidence_level=LEVEL, rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


MAJORITY = 0.5            # a seed-level claim holds when most seeds show it


def seeds_for_a_share_verdict() -> int:
    """The fewest seeds with which seed_share can say anything but inconclusive: all of them showing the
    claim puts the Clopper-Pearson interval above one half (6 at 95%)."""
    n = 1
    while stats.binomtest(n, n).proportion_ci(LEVEL, method="exact").low <= MAJORITY:
        n += 1
    return n


def seed_share(hits) -> dict:
    """A claim read in each seed (`hits`: one bool per seed): how many seeds show it, the share, its
    Clopper-Pearson 95% interval (`scipy.stats.binomtest`), and the verdict on the seeds' population: holds
    when the interval lies above one half (most seeds show it), refuted when it lies below, inconclusive
    otherwise (with 3 seeds, 3 of 3 gives [0.29, 1]: not yet a majority of all seeds)."""
    hits = np.asarray(hits, dtype=bool)
    k, n = int(hits.sum()), len(hits)
    ci = stats.binomtest(k, n).proportion_ci(LEVEL, method="exact")
    found = "holds" if ci.low > MAJORITY else "refuted" if ci.high < MAJORITY else "inconclusive"
    return {"supporting": k, "seeds": n, "share": k / n, "share_low": float(ci.low), "share_high": float(ci.high),
            "share_verdict": found}
