"""The handout's claims, each checked at every setting it covers by a stated procedure (analysis.inference).

Loss claims compare seed means by Welch's 95% interval and an equivalence test (holds / refuted / equivalent
/ inconclusive at each setting), summed up by where they hold and where they are refuted, with Holm's
correction within each claim's family (FAMILIES) beside. Claims about ranks and confusions are per seed: a percentile bootstrap over the test images
gives each seed's interval, and the summary says in how many seeds the interval supports the claim.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import collapse, inference

COLUMNS = ["claim", "family", "arch", "setting", "metric", "difference", "ci_low", "ci_high", "p", "margin",
           "equivalence_p", "verdict", "reading", "verdict_half", "verdict_twice", "smallest_margin", "resolvable",
           "seeds_needed", "seeds", "welch_difference", "welch_low", "welch_high", "welch_p", "welch_verdict",
           "rank_shift", "rank_low", "rank_high", "rank_p", "rank_verdict", "why"]

# The families within which Holm's correction runs: the comparisons that together support one statement of
# the report (a claim of the handout at all its settings, both its parts where it has two), so that the
# statement's verdict keeps a family-wise error of 5%. The wide-dense extra is one hypothesis: its own
# comparisons and the conv step it explains (config.sweep.EXTRAS).
FAMILIES = {"recon_falls_with_d": "claim 1", "conv_beats_linear": "claim 2", "conv_reconstructs_better": "claim 2",
            "kl_rises_with_d": "claim 3", "linear_lower_kl": "claim 3", "loss_falls_with_d": "loss falls with d",
            "extra_lowers_loss": "wide dense layer", "extra_gains_more_with_d": "wide dense layer",
            "extra_uses_more_units": "wide dense layer", "extra_gains_more_than_control": "wide dense layer",
            # claim 2 with the wider dense layer: the scope of claim 2's verdicts at the extra's d
            "extra_beats_linear": "claim 2, wide dense layer", "extra_reconstructs_better": "claim 2, wide dense layer"}


# What a claim's verdict (after Holm) says, in words: one table, so the template lays sentences out and never
# branches on a verdict. A claim without its own phrases reads as its verdict (inference.reading).
PHRASES = {
    "loss_falls_with_d": {"holds": "the test loss falls", "refuted": "the test loss rises",
                          "equivalent": "the test loss stays within the margin (equivalent)",
                          "inconclusive": "the test loss moves by no amount these seeds resolve",
                          "untested (one seed)": "the test loss is untested (one seed)"},
    "extra_gains_more_with_d": {
        "holds": "the hypothesis that the dense layer holds conv back at the larger d is supported",
        "refuted": "the hypothesis that the dense layer holds conv back at the larger d is contradicted",
        "equivalent": "the hypothesis that the dense layer holds conv back at the larger d is contradicted (the two "
                      "gains are equivalent within the margin)",
        "inconclusive": "the hypothesis that the dense layer holds conv back at the larger d is neither supported nor "
                        "contradicted by these seeds",
        "untested (one seed)": "the hypothesis that the dense layer holds conv back at the larger d is not tested "
                               "(one seed has no spread)"},
    "extra_gains_more_than_control": {
        "holds": "the wider dense layer gains more than the same parameters spent on channels: the width, not the "
                 "parameter count alone",
        "refuted": "the same parameters spent on channels gain more than the wider dense layer",
        "equivalent": "the same parameters spent on channels gain as much (equivalent within the margin): the "
                      "parameter count explains the gain as well as the width does",
        "inconclusive": "these seeds do not separate the dense width from the parameter count",
        "untested (one seed)": "the control is untested (one seed has no spread)"},
}


def sentence(claim: str, holm_verdict: str, holm_reading: str) -> str:
    """The words of a claim's corrected verdict (PHRASES), or its reading where the claim has none."""
    if claim not in PHRASES:
        return holm_reading
    if holm_verdict not in PHRASES[claim]:
        raise ValueError(f"verdict={holm_verdict!r} has no phrase for claim {claim!r}; allowed: "
                         f"{', '.join(PHRASES[claim])}")
    return PHRASES[claim][holm_verdict]


def corrected_first(corrected: str, alone: str, means: str = "", ranks: str = "") -> str:
    """A Summary cell: the verdict after Holm, the comparison's own after a slash where it differs, and the
    verdicts on the means and by ranks where either differs from the comparison's own."""
    cell = corrected if corrected == alone else f"{corrected} / {alone}"
    verdict = alone.split(",")[0]
    others = [f"{name}: {v}" for name, v in (("means", means), ("ranks", ranks)) if v and v != verdict]
    return f"{cell} ({'; '.join(others)})" if others else cell


def with_sentences(table: pd.DataFrame) -> pd.DataFrame:
    """`table` (Holm-corrected claims) with its `sentence` column and its Summary cell (`cell`)."""
    return table.assign(sentence=[sentence(c, v, w) for c, v, w in
                                  zip(table["claim"], table["holm_verdict"], table["holm_reading"])],
                        cell=[corrected_first(h, a, m if m == m else "", k if k == k else "") for h, a, m, k in
                              zip(table["holm_reading"], table["reading"], table["welch_verdict"],
                                  table["rank_verdict"])])


def _values(final: pd.DataFrame, arch: str, d: int, metric: str) -> np.ndarray:
    return final[(final["arch"] == arch) & (final["latent_dim"] == d)].sort_values("seed")[metric].to_numpy()


def _row(final, claim, arch_label, setting, metric, lower, higher, family: str | None = None) -> dict:
    """Claim "`lower` (arch, d) has the lower `metric` than `higher`", over the per-seed values; where the
    verdict on the means or on the ranks differs from the report's, why (`why`)."""
    found = inference.compare(_values(final, *lower, metric), _values(final, *higher, metric),
                              inference.margin_of(metric))
    return {"claim": claim, "family": family or FAMILIES[claim], "arch": arch_label, "setting": setting,
            "metric": metric, **found, "why": why_they_differ(found, final, lower, higher)}


def why_they_differ(found: dict, final: pd.DataFrame, *sides) -> str:
    """Empty where the three verdicts agree; else which interval disagrees and why: on the means (Welch), the
    collapsed runs of either side (analysis.collapse), which pull the mean and the trimmed mean little; by
    ranks (Hodges-Lehmann), that its interval assumes the two sides differ by a shift alone, and estimates the
    median difference of two runs."""
    means = found["welch_verdict"] != found["verdict"]
    ranks = found.get("rank_verdict", found["verdict"]) != found["verdict"]
    if not means and not ranks:
        return ""
    said = []
    if ranks:
        said.append("the rank interval (Hodges-Lehmann) estimates the median difference of two runs and assumes a "
                    "shift alone")
    if not means:
        return said[0]
    lost = []
    for arch, d in sides:
        g = collapse.flag(final[(final["arch"] == arch) & (final["latent_dim"] == d)])
        if g["collapsed"].any():
            lost.append(f"{arch} d={d} seed{'s' if g['collapsed'].sum() > 1 else ''} "
                        f"{', '.join(str(int(x)) for x in g.loc[g['collapsed'], 'seed'])}")
    if lost:
        said.insert(0, f"the means (Welch): collapsed runs ({'; '.join(lost)}) pull the mean, and the trimmed mean "
                       f"little")
    else:
        said.insert(0, "the means (Welch): no collapsed run; the mean and the trimmed mean differ, and so do their "
                       "intervals' widths")
    return "; ".join(said)


def loss_claims(final: pd.DataFrame, archs=("linear", "conv")) -> pd.DataFrame:
    """Rows for the handout's loss claims (and "the total loss falls with d", beyond the handout), one per setting,
    from the per-seed final test values (`final_by_seed`); Holm-adjusted over all of them."""
    final = final[final["arch"].isin(archs)]
    archs = [a for a in archs if a in set(final["arch"])]
    dims = sorted(final["latent_dim"].unique())
    rows = []
    steps = list(zip(dims, dims[1:]))
    for arch in archs:                         # 1: reconstruction falls as d grows
        rows += [_row(final, "recon_falls_with_d", arch, f"d={a} -> d={b}", "test_recon", (arch, b), (arch, a))
                 for a, b in steps]
    if {"linear", "conv"} <= set(archs):
        for d in dims:                         # 2: conv better than linear at each d (total loss, recon)
            rows.append(_row(final, "conv_beats_linear", "conv vs linear", f"d={d}", "test_loss",
                             ("conv", d), ("linear", d)))
            rows.append(_row(final, "conv_reconstructs_better", "conv vs linear", f"d={d}", "test_recon",
                             ("conv", d), ("linear", d)))
            rows.append(_row(final, "linear_lower_kl", "linear vs conv", f"d={d}", "test_kl",
                             ("linear", d), ("conv", d)))
    for arch in archs:                         # 3: KL rises with d (the opposite ranking)
        rows += [_row(final, "kl_rises_with_d", arch, f"d={a} -> d={b}", "test_kl", (arch, a), (arch, b))
                 for a, b in steps]
    for arch in archs:                         # beyond the handout: does the total loss keep falling with d?
        rows += [_row(final, "loss_falls_with_d", arch, f"d={a} -> d={b}", "test_loss", (arch, b), (arch, a))
                 for a, b in steps]
    # one architecture at one d compares nothing: an empty table, with its columns
    table = pd.DataFrame(rows, columns=COLUMNS)
    return with_sentences(inference.holm(table)) if len(table) else \
        table.assign(holm_p=[], holm_equivalence_p=[], holm_verdict=[], holm_reading=[], sentence=[], cell=[])


def _gain(final, arch: str, other: str, small: int, large: int) -> dict:
    """How much more `arch`'s test loss falls from d = small to d = large than `other`'s: a contrast of four
    seeds' trimmed means by the report's rule (inference.yuen_contrast), the same on the means beside."""
    groups = [(1, _values(final, arch, small, "test_loss")), (-1, _values(final, arch, large, "test_loss")),
              (-1, _values(final, other, small, "test_loss")), (1, _values(final, other, large, "test_loss"))]
    margin = inference.margin_of("test_loss")
    return inference.beside(inference.yuen_contrast(groups, margin), inference.yuen_contrast(groups, margin, trim=0),
                            min(len(x) for _, x in groups))


def extra_claims(final: pd.DataFrame, scores: pd.DataFrame, arch: str, base: str) -> list[dict]:
    """An extra of the report (config.sweep.EXTRAS) against the grid arch it varies, at its two d (small,
    large): does `arch` have the lower test loss at each d, does its loss fall from small to large d, does it
    gain more from that step than `base` (a contrast of four means), does it use more active units?"""
    dims = sorted(set(final.loc[final["arch"] == arch, "latent_dim"]))
    if len(dims) != 2:
        return []
    small, large = dims
    family = FAMILIES["extra_lowers_loss"]
    rows = [_row(final, "extra_lowers_loss", f"{arch} vs {base}", f"d={d}", "test_loss", (arch, d), (base, d))
            for d in dims]
    rows += [_row(final, "loss_falls_with_d", a, f"d={small} -> d={large}", "test_loss", (a, large), (a, small),
                  FAMILIES["loss_falls_with_d"] if a == base else family) for a in (base, arch)]
    rows.append({"claim": "extra_gains_more_with_d", "family": family, "arch": f"{arch} vs {base}",
                 "setting": f"d={small} -> d={large}", "metric": "test_loss", **_gain(final, arch, base, small, large),
                 "seeds_needed": math.nan})
    rows.append(_row(scores, "extra_uses_more_units", f"{arch} vs {base}", f"d={large}", "active_units",
                     (base, large), (arch, large)))
    if "linear" in set(final["arch"]):      # claim 2's scope: is "conv against linear" a fact about conv's width?
        rows += [_row(final, claim, f"{arch} vs linear", f"d={d}", metric, (arch, d), ("linear", d))
                 for d in dims for claim, metric in (("extra_beats_linear", "test_loss"),
                                                     ("extra_reconstructs_better", "test_recon"))]
    return rows


def control_claims(final: pd.DataFrame, arch: str, control: str) -> list[dict]:
    """The control of an extra (config.sweep.EXTRAS: an extra compared with another extra's arch): does the
    control's own loss fall from the smaller d to the larger, and does `arch` gain more from that step than
    its control does? Both in the hypothesis' family."""
    dims = sorted(set(final.loc[final["arch"] == control, "latent_dim"]) & set(final.loc[final["arch"] == arch, "latent_dim"]))
    if len(dims) != 2:
        return []
    small, large = dims
    family = FAMILIES["extra_gains_more_than_control"]
    return [_row(final, "loss_falls_with_d", control, f"d={small} -> d={large}", "test_loss", (control, large),
                 (control, small), family),
            {"claim": "extra_gains_more_than_control", "family": family, "arch": f"{arch} vs {control}",
             "setting": f"d={small} -> d={large}", "metric": "test_loss",
             **_gain(final, arch, control, small, large), "seeds_needed": math.nan}]


def all_extra_claims(final: pd.DataFrame, scores: pd.DataFrame, extras: dict) -> pd.DataFrame:
    """Every extra's comparisons (`extras`: name -> (arch trained, arch compared with), config.sweep.EXTRAS)
    with Holm's correction within each family: an extra compared with another extra's arch is that extra's
    control (control_claims), the others are compared with their grid arch (extra_claims)."""
    trained = {arch for arch, _ in extras.values()}
    present = set(final["arch"])
    rows = []
    for arch, base in extras.values():
        if arch not in present or base not in present:
            continue
        rows += control_claims(final, base, arch) if base in trained else extra_claims(final, scores, arch, base)
    return with_sentences(inference.holm(pd.DataFrame(rows, columns=COLUMNS))) if rows else pd.DataFrame(columns=COLUMNS)


def overall_verdicts(claims: pd.DataFrame) -> pd.DataFrame:
    """Per (claim, arch): where it holds, where it is refuted, where inconclusive (inference.where), for the
    per-setting 95% intervals and for Holm's family-wise verdicts; how many settings each; and the numbers
    behind it (every setting where it does not hold, with its interval, and the range where it holds)."""
    rows = []
    for (claim, arch), g in claims.groupby(["claim", "arch"], sort=False):
        rows.append({"claim": claim, "arch": arch, "verdict": inference.where(g["verdict"], g["setting"]),
                     "holm_verdict": inference.where(g["holm_verdict"], g["setting"]),
                     "settings": len(g), "holds": int((g["verdict"] == "holds").sum()),
                     "refuted": int((g["verdict"] == "refuted").sum()),
                     "equivalent": int((g["verdict"] == "equivalent").sum()),
                     "inconclusive": int((g["verdict"] == "inconclusive").sum()), "behind": behind(g)})
    return pd.DataFrame(rows, columns=["claim", "arch", "verdict", "holm_verdict", "settings", "holds",
                                       "refuted", "equivalent", "inconclusive", "behind"])


def behind(g: pd.DataFrame) -> str:
    """The numbers behind a summary: "by 13.28 to 21.49 where it holds; d=10 -> d=50: 0.64 [-4.06, 5.35]"."""
    held = g[g["verdict"] == "holds"]["difference"]
    parts = [f"by {held.min():.2f} to {held.max():.2f} where it holds" if len(held) > 1 else
             f"by {held.iloc[0]:.2f} where it holds"] if len(held) else []
    parts += [f"{r.setting}: {r.difference:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]" if r.ci_low == r.ci_low else
              f"{r.setting}: {r.difference:.2f} (one seed, no interval)" for r in g[g["verdict"] != "holds"].itertuples()]
    return "; ".join(parts)


LAST_EPOCHS = 5     # the end of training over which the test loss's slope is read


def convergence(history: pd.DataFrame, last: int = LAST_EPOCHS) -> pd.DataFrame:
    """Per (arch, d), the seed as the unit: is the test loss still falling at the end of training? Each
    seed's least-squares slope of the test loss over its `last` epochs, negated (positive: still falling,
    nats per image per epoch), with a one-sample t interval over the seeds and the equivalence test against
    the slope's margin (inference.one_sample): equivalent (flat) when the slope is shown inside the margin,
    else holds (still falling), refuted (rising) or inconclusive. Beside it, the last epoch's test loss minus its training loss (the running mean over that
    epoch, so the gap is read with that bias) over the seeds, with its t interval."""
    rows = []
    if history["epoch"].max() < 2:                  # one epoch has no slope
        return pd.DataFrame(rows)
    for (arch, d), g in history.groupby(["arch", "latent_dim"], sort=False):
        slopes, gaps = [], []
        for _, run in g.sort_values("epoch").groupby("seed"):
            end = run.tail(last)
            slopes.append(-np.polyfit(end["epoch"], end["test_loss"], 1)[0])
            gaps.append(run["test_loss"].iloc[-1] - run["train_loss"].iloc[-1])
        falling = inference.one_sample(slopes, inference.margin_of("slope"))
        if falling["equivalence_p"] < 1 - inference.LEVEL:      # a slope shown inside the margin is flat,
            falling["verdict"] = "equivalent"                   # even when also shown to be nonzero
        gap = inference.one_sample(gaps, inference.margin_of("test_loss"))
        rows.append({"arch": arch, "latent_dim": d, "epochs": int(g["epoch"].max()), "last_epochs": last,
                     **falling, "gap": gap["difference"], "gap_low": gap["ci_low"], "gap_high": gap["ci_high"],
                     "gap_verdict": gap["verdict"]})
    return pd.DataFrame(rows)


def on_another_machine(claims: pd.DataFrame, final_elsewhere: pd.DataFrame | None,
                       final: pd.DataFrame) -> pd.DataFrame:
    """`claims` (made from `final`) with the verdict the same comparisons get on another machine (same code),
    like with like: over the runs (arch, d, seed) both machines trained, here (`shared_verdict`) and there
    (`elsewhere_verdict`); `settled` is yes when the two agree, no when the machine flips it. A rerun of fewer
    seeds than this sweep says nothing of the verdicts over the seeds it lacks."""
    out = claims.copy()
    if final_elsewhere is None or not len(claims):
        return out.assign(shared_verdict="not rerun", elsewhere_verdict="not rerun", settled="one machine only")
    keys = ["arch", "latent_dim", "seed"]
    both = final[keys].merge(final_elsewhere[keys], on=keys)
    for table, name in ((final, "shared_verdict"), (final_elsewhere, "elsewhere_verdict")):
        verdicts = loss_claims(table.merge(both, on=keys))[["claim", "arch", "setting", "verdict"]]
        out = out.merge(verdicts.rename(columns={"verdict": name}), on=["claim", "arch", "setting"], how="left")
        out[name] = out[name].fillna("not rerun")
    out["settled"] = np.where(out["elsewhere_verdict"] == "not rerun", "one machine only",
                              np.where(out["elsewhere_verdict"] == out["shared_verdict"], "yes", "no"))
    return out


def machine_shift(final: pd.DataFrame, final_elsewhere: pd.DataFrame) -> pd.DataFrame:
    """Per run (arch, d, seed) in both tables: the final test loss here and there, and the change."""
    keys = ["arch", "latent_dim", "seed"]
    both = final[keys + ["test_loss"]].merge(final_elsewhere[keys + ["test_loss"]], on=keys,
                                             suffixes=("", "_elsewhere"))
    return both.assign(change=both["test_loss_elsewhere"] - both["test_loss"])


def per_seed_support(supported: pd.Series, against: pd.Series) -> str:
    """What the seeds support, in words: "supported in all 3 seeds", "supported in 2, undecided in 1 of 3
    seeds" (undecided: the seed's interval straddles the threshold)."""
    n, k, no = len(supported), int(supported.sum()), int(against.sum())
    counts = {"supported": k, "contradicted": no, "undecided": n - k - no}
    if n == 1:
        return f"{next(word for word, c in counts.items() if c)} in the one seed"
    if max(counts.values()) == n:
        return f"{next(word for word, c in counts.items() if c == n)} in all {n} seeds"
    return ", ".join(f"{word} in {c}" for word, c in counts.items() if c) + f" of {n} seeds"


def edge_ranks(z: np.ndarray, labels: np.ndarray, digits=(0, 1), seed: int = 0) -> pd.DataFrame:
    """Per digit: its centroid's rank from the edge (1 = farthest from the origin) and a percentile-bootstrap
    95% interval of that rank over the test images."""
    z, labels = np.asarray(z, dtype=float), np.asarray(labels)
    n_digits = int(labels.max()) + 1

    def ranks(z1, z2, y):
        y = y.astype(int)
        count = np.bincount(y, minlength=n_digits)
        centre = np.stack([np.bincount(y, w, minlength=n_digits) for w in (z1, z2)], 1) / count[:, None]
        norm = np.linalg.norm(centre, axis=1)
        return (norm[None, :] > norm[:, None]).sum(1) + 1            # 1 + how many lie farther out

    data = (z[:, 0], z[:, 1], labels)
    here = ranks(*data)
    rows = []
    for digit in digits:
        low, high = inference.bootstrap_interval(data, lambda a, b, y: ranks(a, b, y)[digit], seed=seed)
        rows.append({"digit": digit, "rank": int(here[digit]), "rank_low": low, "rank_high": high})
    return pd.DataFrame(rows)


EDGE_TOPS = (3, 2, 5)          # the edge's cut-off (the first), and the others its verdict is read at
CONFUSION_TOPS = (5, 3, 10)    # the same for "a frequent confusion": among the 5 largest of 90, then 3 and 10


def _by_seed(g: pd.DataFrame, tops: tuple) -> dict:
    """The seed-level reading of a rank claim: each seed shows it when its rank is within the cut-off; the
    share of seeds with its Clopper-Pearson interval at the first cut-off (inference.seed_share), and the
    number of seeds supporting at every cut-off (its sensitivity)."""
    out = inference.seed_share(g["rank"] <= tops[0])
    for t in tops:
        at = inference.seed_share(g["rank"] <= t)
        out.update({f"supporting_top{t}": at["supporting"], f"verdict_top{t}": at["share_verdict"]})
    return out


def edge_claim(ranks: pd.DataFrame, tops: tuple = EDGE_TOPS) -> pd.DataFrame:
    """The handout's "zeros and ones sit at the edge": per (arch, digit), each seed's rank with its bootstrap
    interval over the test images; the seeds as the unit (_by_seed: the share of seeds whose digit is among
    the `tops[0]` farthest, its binomial interval, and the count at the other cut-offs); and the within-seed
    reading: a seed supports it when its whole bootstrap interval lies within the cut-off, is against it
    when the whole interval lies beyond."""
    top = tops[0]
    rows = []
    for (arch, digit), g in ranks.groupby(["arch", "digit"], sort=False):
        g = g.sort_values("seed")
        rows.append({"claim": "at_the_edge", "arch": arch, "digit": digit, "top": top,
                     "ranks": ", ".join(f"{int(r)} [{lo:.0f}, {hi:.0f}]" for r, lo, hi in
                                        zip(g["rank"], g["rank_low"], g["rank_high"])),
                     **_by_seed(g, tops),
                     "support": per_seed_support(g["rank_high"] <= top, g["rank_low"] > top)})
    return pd.DataFrame(rows)


def _rates(true: np.ndarray, predicted: np.ndarray, n: int = 10) -> np.ndarray:
    true, predicted = true.astype(int), predicted.astype(int)
    matrix = np.bincount(true * n + predicted, minlength=n * n).reshape(n, n).astype(float)
    rates = 100 * matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    np.fill_diagonal(rates, -1.0)                                   # not a confusion
    return rates


def confusion_intervals(matrix, pairs=((7, 9), (5, 8)), seed: int = 0) -> pd.DataFrame:
    """Per pair (true, predicted): its rate (% of the true digit) and its rank among the 90 confusions of
    the matrix, each with a percentile-bootstrap 95% interval over the test images behind the matrix."""
    matrix = np.asarray(matrix, dtype=int)
    n = len(matrix)
    cells = np.repeat(np.arange(n * n), matrix.reshape(-1))          # one entry per test image
    true, predicted = cells // n, cells % n
    rows = []
    for t, p in pairs:
        def rate(a, b):
            return _rates(a, b, n)[t, p]

        def rank(a, b):
            r = _rates(a, b, n)
            return 1 + (r > r[t, p]).sum()
        here = _rates(true, predicted, n)
        rate_ci = inference.bootstrap_interval((true, predicted), rate, seed=seed)
        rank_ci = inference.bootstrap_interval((true, predicted), rank, seed=seed)
        rows.append({"true": t, "predicted": p, "percent": here[t, p], "percent_low": rate_ci[0],
                     "percent_high": rate_ci[1], "rank": int(1 + (here > here[t, p]).sum()),
                     "rank_low": rank_ci[0], "rank_high": rank_ci[1]})
    return pd.DataFrame(rows)


def confusion_claim(intervals: pd.DataFrame, tops: tuple = CONFUSION_TOPS) -> pd.DataFrame:
    """The handout's "a 9 for a 7, an 8 for a 5": per (arch, pair), each seed's rate and rank with their
    bootstrap intervals; the seeds as the unit (_by_seed, at the cut-offs `tops`); and the within-seed
    reading: a seed supports it when the rank's interval lies within the `tops[0]` largest confusions, and
    is against it when it lies beyond."""
    top = tops[0]
    rows = []
    for (arch, t, p), g in intervals.groupby(["arch", "true", "predicted"], sort=False):
        g = g.sort_values("seed")
        rows.append({"claim": "frequent_confusion", "arch": arch, "true": t, "predicted": p, "top": top,
                     "percents": ", ".join(f"{v:.1f} [{lo:.1f}, {hi:.1f}]" for v, lo, hi in
                                           zip(g["percent"], g["percent_low"], g["percent_high"])),
                     "ranks": ", ".join(f"{int(r)} [{lo:.0f}, {hi:.0f}]" for r, lo, hi in
                                        zip(g["rank"], g["rank_low"], g["rank_high"])),
                     **_by_seed(g, tops),
                     "support": per_seed_support(g["rank_high"] <= top, g["rank_low"] > top)})
    return pd.DataFrame(rows)


def largest_confusions(confusions: pd.DataFrame, n: int = 4) -> pd.DataFrame:
    """Per arch, the n confusions with the largest mean rate over seeds, in order."""
    mean = (confusions.groupby(["arch", "true", "predicted"], as_index=False)["percent_of_true"]
            .agg(percent_mean="mean", percent_std=lambda s: s.std(ddof=1)))
    mean = mean.sort_values(["arch", "percent_mean"], ascending=[True, False])
    return mean.groupby("arch", sort=False).head(n).reset_index(drop=True)


SEED_ENDPOINTS = (7000, 15000)   # the handout's "from around 7,000 to almost 15,000" (sums over a batch)


def seed_batch_size(summary: pd.DataFrame) -> pd.DataFrame:
    """The batch size B under which our per-image test reconstruction losses give the handout's end points.

    Read as: the handout's test reconstruction loss spans ~7,000 (largest d) to ~15,000 (d = 2), summed over
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
