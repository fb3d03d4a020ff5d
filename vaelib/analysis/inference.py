"""The statistics behind every verdict: Yuen's interval for a difference of trimmed seed means, with Welch's on
the means and the Hodges-Lehmann interval beside it, an equivalence test against a margin, the verdict they
give, what the seeds could have resolved, Holm's correction within a declared family, and a percentile
bootstrap over test images for ranks.

A comparison "A is lower than B" is, over seeds, the difference of the 20% trimmed means, tmean(B) - tmean(A)
(positive when the claim goes the right way; with 10 seeds, the mean of the middle 6: the typical run, which
one or two collapsed runs of ten move little), with a 95% confidence interval by Yuen's test (Welch's t on trimmed means and
winsorized variances: `scipy.stats.ttest_ind(equal_var=False, trim=0.2)`). The claim **holds** at that setting
when the interval lies above 0, and is **refuted** when it lies below 0; "holds, within the margin" where the
equivalence test below also shows it smaller than the margin (real, and too small to matter). When the interval
contains 0, two one-sided tests on the same t against the equivalence margin (level 5%: the 90% interval lies
inside the margin, so the 95% interval shown can reach past it) decide between **equivalent** (shown smaller
than the margin: only then does the report say "flat" or "the same") and **inconclusive** (neither a difference
nor its absence is shown; `smallest_margin` is the smallest margin these seeds could have shown, and
`seeds_needed` how many seeds per side would detect the observed difference 80% of the time). The rule was
chosen on coverage, simulated on the report's own spreads, the collapsed runs included (analysis.coverage):
Welch's interval on the means (the expected run) and the Hodges-Lehmann one (a typical pair of runs) are shown
beside it, each with its verdict by the same rule.
"""

from __future__ import annotations

import math
from functools import lru_cache

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


POWER = 0.80             # seeds_needed: the seeds per side that would detect the observed difference this often


def seeds_needed(std_a: float, std_b: float, difference: float, power: float = POWER) -> float:
    """Seeds per side with which Welch's test at 5% would detect the observed difference with probability
    `power` (80%), if the spreads stayed as observed: the smallest n with (t(0.975) + t(power)) * se(n) <=
    |difference| on Welch's degrees of freedom (the normal-theory sample size, t for n's small sample);
    NaN above MAX_SEEDS (or with no difference)."""
    var = std_a ** 2 + std_b ** 2
    if difference == 0 or var == 0 or var != var:
        return math.nan
    for n in range(2, MAX_SEEDS + 1):
        df = welch_df(std_a ** 2, n, std_b ** 2, n)
        if (stats.t.ppf(0.5 + LEVEL / 2, df) + stats.t.ppf(power, df)) * math.sqrt(var / n) <= abs(difference):
            return float(n)
    return math.nan


@lru_cache(maxsize=64)
def u_distribution(m: int, n: int) -> np.ndarray:
    """The exact null distribution of the Mann-Whitney U statistic of samples of m and n without ties:
    P(U = u) for u = 0 .. m * n (the counting recursion f(m, n, u) = f(m - 1, n, u - n) + f(m, n - 1, u)).
    scipy's exact mannwhitneyu p-values come from the same distribution (tests/test_inference.py)."""
    ways = np.zeros((m + 1, n + 1, m * n + 1))
    ways[0, :, 0] = ways[:, 0, 0] = 1
    for i in range(1, m + 1):
        for j in range(1, n + 1):
            ways[i, j, j:] += ways[i - 1, j, :m * n + 1 - j]
            ways[i, j] += ways[i, j - 1]
    out = ways[m, n] / ways[m, n].sum()
    out.flags.writeable = False          # cached: shared by every caller
    return out


def rank_order(m: int, n: int, level: float = LEVEL) -> int:
    """k of the exact rank interval for samples of m and n: the largest U with P(U <= k - 1) <= (1 - level) / 2,
    plus one (0: no interval at this level)."""
    return int(np.searchsorted(np.cumsum(u_distribution(m, n)), (1 - level) / 2 + 1e-12, side="right"))


def rank_interval(lower, higher, level: float = LEVEL) -> tuple[float, float, float]:
    """The Hodges-Lehmann estimate of the shift higher - lower (the median of all pairwise differences: a
    typical run against a typical run) and its exact distribution-free interval, the order statistics
    D(k) and D(mn - k + 1) of the m * n sorted differences, k - 1 the largest U with P(U <= k - 1) <=
    (1 - level) / 2 (the Mann-Whitney inversion; for 10 and 10 seeds at 95%: k = 24)."""
    lower, higher = np.asarray(lower, dtype=float), np.asarray(higher, dtype=float)
    diffs = np.sort((higher[:, None] - lower[None, :]).ravel())
    k = rank_order(len(lower), len(higher), level)
    if k < 1:                               # too few seeds for any interval at this level
        return float(np.median(diffs)), math.nan, math.nan
    return float(np.median(diffs)), float(diffs[k - 1]), float(diffs[len(diffs) - k])


def rank_compare(lower, higher, margin: float) -> dict:
    """The claim "`lower` has the lower value" by ranks: the Hodges-Lehmann shift with its exact 95%
    interval, the Mann-Whitney p-value (scipy, exact where the sample has no ties), and the verdict by the
    same rule as Welch's: holds / refuted by the 95% interval, else equivalent when the 90% interval lies
    within +-`margin` (the interval form of two one-sided tests at 5%), else inconclusive."""
    lower, higher = np.asarray(lower, dtype=float), np.asarray(higher, dtype=float)
    if min(len(lower), len(higher)) < 2:
        return {"rank_shift": math.nan, "rank_low": math.nan, "rank_high": math.nan, "rank_p": math.nan,
                "rank_verdict": verdict(math.nan, math.nan)}
    shift, low, high = rank_interval(lower, higher)
    _, low90, high90 = rank_interval(lower, higher, 1 - 2 * (1 - LEVEL))
    if low != low:                          # too few seeds: no interval excludes anything
        return {"rank_shift": shift, "rank_low": low, "rank_high": high, "rank_p": math.nan,
                "rank_verdict": "inconclusive"}
    tied = len(np.unique(np.concatenate([lower, higher]))) < len(lower) + len(higher)
    p = stats.mannwhitneyu(higher, lower, alternative="two-sided", method="asymptotic" if tied else "exact").pvalue
    return {"rank_shift": shift, "rank_low": low, "rank_high": high, "rank_p": float(p),
            "rank_verdict": verdict(low, high, 0.0 if -margin < low90 and high90 < margin else 1.0)}


def welch(lower, higher, margin: float) -> dict:
    """The claim "`lower` has the lower value" on the means: difference mean(higher) - mean(lower), its Welch
    95% interval, the two-sided p-value, the equivalence test's p-value against +-`margin` (two one-sided
    Welch tests), the verdict, the half-width (the smallest difference these values resolve), and the
    seeds per side that would detect the observed difference (seeds_needed)."""
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


TRIM = 0.2      # the verdict's estimand: 20% trimmed means (Yuen), chosen on coverage (analysis.coverage)


def trimmed(x, trim: float = TRIM):
    """A sample's trimmed mean, the squared standard error of it from the winsorized variance (Yuen's d),
    and the number of values kept (trim = 0: the mean, its variance over n, n); over the last axis, so that
    many samples at once (analysis.coverage) take the same path."""
    x = np.sort(np.asarray(x, dtype=float), axis=-1)
    n = x.shape[-1]
    g = int(trim * n)
    h = n - 2 * g
    win = np.clip(x, x[..., [g]], x[..., [n - g - 1]])
    return x[..., g:n - g].mean(-1), (n - 1) * win.var(-1, ddof=1) / (h * (h - 1)), h


def yuen_contrast(groups: list[tuple[float, np.ndarray]], margin: float, trim: float = TRIM) -> dict:
    """A linear contrast sum(c_i * trimmed mean_i) of independent groups (two groups: Yuen's test, what
    scipy.stats.ttest_ind(equal_var=False, trim=0.2) computes): the value, its 95% t interval on
    Welch-Satterthwaite's degrees of freedom over the groups' Yuen variances, the two-sided p-value, the
    two one-sided tests of |contrast| < `margin` on the same t, the verdict, and the verdicts the same
    interval gives at half and twice the margin; `smallest_margin` is the smallest margin these seeds
    could show the value within (the far end of its 90% interval). trim = 0: the same on the means (Welch)."""
    if min(len(x) for _, x in groups) < 2:
        nan = math.nan
        return {"difference": sum(c * np.mean(x) for c, x in groups), "ci_low": nan, "ci_high": nan, "p": nan, "margin": margin, "equivalence_p": nan,
                "verdict": verdict(nan, nan), "resolvable": nan, "verdict_half": verdict(nan, nan),
                "verdict_twice": verdict(nan, nan), "smallest_margin": nan, "se": nan, "df": nan}
    parts = [(c, *trimmed(x, trim)) for c, x in groups]
    value = sum(c * t for c, t, _, _ in parts)
    var = [c ** 2 * d for c, _, d, _ in parts]
    se = math.sqrt(sum(var))
    df = sum(var) ** 2 / sum(v ** 2 / (h - 1) for v, (_, _, _, h) in zip(var, parts)) if se > 0 else math.inf
    half = stats.t.ppf(0.5 + LEVEL / 2, df) * se
    p = 2 * stats.t.sf(abs(value) / se, df) if se > 0 else float(value == 0)

    def tost(m):
        return max(stats.t.sf((value + m) / se, df), stats.t.cdf((value - m) / se, df)) if se > 0 \
            else float(abs(value) >= m)
    return {"difference": value, "ci_low": value - half, "ci_high": value + half, "p": p, "margin": margin,
            "equivalence_p": tost(margin), "verdict": verdict(value - half, value + half, tost(margin)),
            "resolvable": half,
            "verdict_half": reading(verdict(value - half, value + half, tost(margin / 2)), tost(margin / 2)),
            "verdict_twice": reading(verdict(value - half, value + half, tost(2 * margin)), tost(2 * margin)),
            "smallest_margin": abs(value) + stats.t.ppf(LEVEL, df) * se, "se": se, "df": df}


def seeds_needed_yuen(found: dict, n: int, difference: float, power: float = POWER) -> float:
    """Seeds per side with which the verdict's test would detect `difference` with probability `power`,
    its squared standard error shrinking as 1 / n from the `n` seeds observed (the degrees of freedom
    growing likewise); NaN above MAX_SEEDS."""
    se, df = found["se"], found["df"]
    if difference == 0 or not se > 0:
        return math.nan
    for m in range(2, MAX_SEEDS + 1):
        dfm = df * m / n
        if (stats.t.ppf(0.5 + LEVEL / 2, dfm) + stats.t.ppf(power, dfm)) * se * math.sqrt(n / m) <= abs(difference):
            return float(m)
    return math.nan


# The words of a difference shown nonzero and also shown inside the margin: real, and smaller than a
# difference worth reporting.
NEGLIGIBLE = "within the margin"


def reading(found: str, equivalence_p: float) -> str:
    """A verdict in words: "holds, within the margin" where the difference is shown nonzero and shown
    smaller than the margin; else the verdict."""
    if found in ("holds", "refuted") and equivalence_p < 1 - LEVEL:
        return f"{found}, {NEGLIGIBLE}"
    return found


def beside(found: dict, on_means: dict, n: int) -> dict:
    """The verdict's result (yuen_contrast) as a claims row: its reading, the seeds needed, and the same
    contrast on the means (`welch_*`: the expected run) beside it."""
    out = {k: v for k, v in found.items() if k not in ("se", "df")}
    out["reading"] = reading(found["verdict"], found["equivalence_p"])
    out["seeds_needed"] = seeds_needed_yuen(found, n, found["difference"]) \
        if found["verdict"] in ("inconclusive", "equivalent") else math.nan
    out["seeds"] = n
    out.update({"welch_difference": on_means["difference"], "welch_low": on_means["ci_low"],
                "welch_high": on_means["ci_high"], "welch_p": on_means["p"], "welch_verdict": on_means["verdict"]})
    return out


def compare(lower, higher, margin: float) -> dict:
    """The claim "`lower` has the lower value" over per-seed values, by the report's rule: the difference of
    20% trimmed means (a typical run) with Yuen's 95% interval, the equivalence test against +-`margin`, the
    verdict and its reading, the verdicts at half and twice the margin, the smallest margin these seeds
    could show, and the seeds per side an 80%-power test would need; beside it, Welch's interval on the
    means (the expected run: `welch_*`) and the Hodges-Lehmann shift with its exact interval (a typical
    pair of runs: `rank_*`), each with its own verdict by the same rule."""
    lower, higher = np.asarray(lower, dtype=float), np.asarray(higher, dtype=float)
    groups = [(-1, lower), (1, higher)]
    out = beside(yuen_contrast(groups, margin), yuen_contrast(groups, margin, trim=0), min(len(lower), len(higher)))
    return {**out, **rank_compare(lower, higher, margin)}


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


def holm_adjust(p) -> tuple[np.ndarray, np.ndarray]:
    """statsmodels' Holm step-down at a family-wise 5%: which tests reject, and the adjusted p-values. Its Holm
    branch ends with gc.collect(), a quarter of a second with torch's objects in memory, and a results step
    corrects some forty families: the call runs with that collection skipped (nothing else differs)."""
    import gc
    collect = gc.collect
    gc.collect = lambda *args, **kwargs: 0
    try:
        reject, adjusted, _, _ = multipletests(p, alpha=1 - LEVEL, method="holm")
    finally:
        gc.collect = collect
    return reject, adjusted


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
        reject, adjusted = holm_adjust(out.loc[tested, "p"])
        same, adjusted_same = holm_adjust(out.loc[tested, "equivalence_p"])
        out.loc[tested, "holm_p"] = adjusted
        out.loc[tested, "holm_equivalence_p"] = adjusted_same
        differs = np.where(out.loc[tested, "difference"] > 0, "holds", "refuted")
        out.loc[tested, "holm_verdict"] = np.where(reject, differs, np.where(same, "equivalent", "inconclusive"))
    out["holm_reading"] = [reading(v, q) for v, q in zip(out["holm_verdict"], out["holm_equivalence_p"])]
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
    test = stats.binomtest(k, n, MAJORITY)
    ci = test.proportion_ci(LEVEL, method="exact")
    found = "holds" if ci.low > MAJORITY else "refuted" if ci.high < MAJORITY else "inconclusive"
    return {"supporting": k, "seeds": n, "share": k / n, "share_low": float(ci.low), "share_high": float(ci.high),
            "share_p": float(test.pvalue), "share_verdict": found}


def holm_shares(table: pd.DataFrame) -> pd.DataFrame:
    """Holm's correction over the rows of a seed-share claim (one family: the claim at every arch, digit or
    pair and reading): each row's exact binomial test of "half the seeds" (`share_p`), adjusted
    (`holm_share_p`), and the verdict at a family-wise 5% (`holm_share_verdict`: holds / refuted by the
    side of one half, else inconclusive)."""
    out = table.copy()
    if not len(out):
        return out.assign(holm_share_p=[], holm_share_verdict=[], cell=[])
    reject, adjusted = holm_adjust(out["share_p"])
    out["holm_share_p"] = adjusted
    out["holm_share_verdict"] = np.where(reject, np.where(out["share"] > MAJORITY, "holds", "refuted"), "inconclusive")
    out["cell"] = [h if h == a else f"{h} / {a}" for h, a in zip(out["holm_share_verdict"], out["share_verdict"])]
    return out
