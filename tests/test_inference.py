"""The statistics behind the verdicts (analysis.inference, analysis.claims): Yuen, Welch and rank intervals
and their verdicts, the collapse count, what the seeds could resolve, Holm's correction, summaries that hide no refutation, and the
bootstrap intervals of ranks."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from vaelib.analysis import claims, inference


def test_the_verdict_follows_the_welch_interval():
    lower, higher = [100.0, 100.5, 99.8], [104.0, 103.2, 104.9]
    out = inference.compare(lower, higher, 1.0)
    assert out["difference"] == pytest.approx(np.mean(higher) - np.mean(lower))
    assert 0 < out["ci_low"] < out["difference"] < out["ci_high"] and out["verdict"] == "holds"
    assert inference.compare(higher, lower, 1.0)["verdict"] == "refuted"             # the other way round
    noisy = inference.compare([100.0, 103.0, 97.0], [101.0, 104.0, 98.5], 1.0)
    assert noisy["ci_low"] < 0 < noisy["ci_high"] and noisy["verdict"] == "inconclusive"
    assert noisy["resolvable"] == pytest.approx((noisy["ci_high"] - noisy["ci_low"]) / 2)
    assert inference.compare([1.0], [2.0], 1.0)["verdict"] == "untested (one seed)"


def test_equivalent_only_when_two_one_sided_tests_put_the_difference_inside_the_margin():
    """Seeds whose means differ by 0.02 nats with a spread of 0.3: equivalent within 1 nat (statsmodels' TOST p
    below 5%), inconclusive within 0.05; noisy seeds with the same means: inconclusive, never "equivalent"
    for lack of a difference."""
    from statsmodels.stats.weightstats import ttost_ind
    lower = np.array([100.00, 100.05, 99.95, 100.02])
    shifted = inference.compare(lower, lower + np.array([0.3, -0.3, 0.2, -0.1]), 1.0)
    assert shifted["ci_low"] < 0 < shifted["ci_high"]
    assert shifted["equivalence_p"] == pytest.approx(ttost_ind(lower + np.array([0.3, -0.3, 0.2, -0.1]), lower, -1, 1,
                                                               usevar="unequal")[0])
    assert shifted["equivalence_p"] < 0.05 and shifted["verdict"] == "equivalent"
    assert inference.compare(lower, lower + np.array([0.3, -0.3, 0.2, -0.1]), 0.05)["verdict"] == "inconclusive"
    noisy = inference.compare([100.0, 103.0, 97.0], [100.0, 104.0, 96.0], 1.0)
    assert noisy["ci_low"] < 0 < noisy["ci_high"] and noisy["verdict"] == "inconclusive"


def test_the_contrast_tests_equivalence_on_its_own_t_distribution():
    values = ([100.0, 100.1, 99.9], [100.05, 99.95, 100.0], [100.02, 99.98, 100.0], [100.0, 100.05, 99.97])
    groups = [(c, np.array(v)) for c, v in zip((1, -1, -1, 1), values)]
    out = inference.yuen_contrast(groups, 1.0)
    assert out["ci_low"] < 0 < out["ci_high"] and out["verdict"] == "equivalent"
    assert inference.yuen_contrast(groups, 0.01)["verdict"] == "inconclusive"


def test_yuen_is_scipys_trimmed_welch_and_welch_at_no_trim():
    rng = np.random.default_rng(3)
    lower, higher = rng.normal(100, 1, 10), rng.normal(102, 3, 12)
    out = inference.yuen_contrast([(-1, lower), (1, higher)], 1.0)
    ref = stats.ttest_ind(higher, lower, equal_var=False, trim=0.2)
    assert (out["ci_low"], out["ci_high"]) == pytest.approx(tuple(ref.confidence_interval(0.95)))
    assert out["p"] == pytest.approx(ref.pvalue)
    means = inference.yuen_contrast([(-1, lower), (1, higher)], 1.0, trim=0)
    welch = stats.ttest_ind(higher, lower, equal_var=False).confidence_interval(0.95)
    assert (means["ci_low"], means["ci_high"]) == pytest.approx((welch.low, welch.high))


def test_the_rank_interval_is_the_mann_whitney_inversion():
    """10 and 10 seeds: the exact U distribution is scipy's (its p-values at U = 23 and 24 straddle 5%), so the
    interval is the 24th smallest and 24th largest of the 100 pairwise differences."""
    cdf = np.cumsum(inference.u_distribution(10, 10))
    for u in range(0, 101, 7):
        sample_x, sample_y = _samples_with_u(u)
        p = stats.mannwhitneyu(sample_y, sample_x, alternative="less", method="exact").pvalue
        assert cdf[u] == pytest.approx(p)
    assert cdf[23] <= 0.025 < cdf[24]
    rng = np.random.default_rng(0)
    lower, higher = rng.normal(0, 1, 10), rng.normal(1, 1, 10)
    shift, low, high = inference.rank_interval(lower, higher)
    diffs = np.sort((higher[:, None] - lower[None, :]).ravel())
    assert (shift, low, high) == (pytest.approx(np.median(diffs)), diffs[23], diffs[76])


def _samples_with_u(u: int):
    """Two samples of 10 with Mann-Whitney U (pairs where y > x) equal to u, no ties."""
    x = np.arange(10) * 10.0
    y = np.full(10, -1.0)
    left = u
    for i in range(10):                      # y_i above min(left, 10) of the x's
        above = min(left, 10)
        y[i] = (above - 1) * 10 + 5 if above else -5 - i
        left -= above
    return x, y + np.arange(10) * 1e-3


def test_seeds_needed_gives_80_percent_power_at_the_first_count_that_does():
    sa, sb, diff = 1.5, 2.0, 1.2
    n = inference.seeds_needed(sa, sb, diff)

    def detectable(k):
        df = inference.welch_df(sa ** 2, k, sb ** 2, k)
        return (stats.t.ppf(0.975, df) + stats.t.ppf(0.8, df)) * math.sqrt((sa ** 2 + sb ** 2) / k)
    assert detectable(n) <= diff < detectable(n - 1)
    assert inference.seeds_needed(sa, sb, 1e-4) != inference.seeds_needed(sa, sb, 1e-4)   # NaN: beyond the cap


def test_a_real_but_small_difference_reads_within_the_margin_and_the_margin_scale_is_shown():
    rng = np.random.default_rng(5)
    lower = 100 + rng.normal(0, 0.05, 10)
    out = inference.compare(lower, lower + 0.3 + rng.normal(0, 0.05, 10), 1.0)
    assert out["verdict"] == "holds" and out["reading"] == "holds, within the margin"
    assert out["smallest_margin"] < 1.0
    assert out["verdict_half"] == out["verdict_twice"] == "holds, within the margin"       # 0.3 < 0.5 and 2
    wide = inference.compare(lower, lower + rng.normal(0, 3, 10), 1.0)
    assert wide["verdict"] == "inconclusive" and wide["smallest_margin"] > 1.0        # equivalence out of reach


def test_two_modes_change_the_count_the_rank_interval_and_the_words():
    """Ten seeds of one setting, eight near 106 and two collapsed near 119, against ten near 108: the rule
    counts 2 collapses; the mean difference is inconclusive while the trimmed means and the ranks say the
    setting's typical run is better; the row says why. Without the two, all three agree."""
    from vaelib.analysis import collapse
    rng = np.random.default_rng(11)
    good = 106 + rng.normal(0, 0.8, 10)
    mixed = good.copy()
    mixed[[4, 8]] = [117.0, 121.0]
    other = 108 + rng.normal(0, 0.3, 10)
    rows = [{"arch": a, "latent_dim": 10, "seed": s, "test_loss": v, "test_recon": v - 20, "test_kl": 20.0 + 0.01 * s}
            for a, values in (("conv", mixed), ("linear", other)) for s, v in enumerate(values)]
    final = pd.DataFrame(rows)
    counted = collapse.counts(collapse.flag(final)).set_index("arch")
    assert counted.loc["conv", "collapsed"] == 2 and counted.loc["conv", "collapsed_seeds"] == "4 8"
    assert counted.loc["linear", "collapsed"] == 0
    row = claims._row(final, "conv_beats_linear", "conv vs linear", "d=10", "test_loss", ("conv", 10), ("linear", 10))
    assert row["welch_verdict"] == "inconclusive" and row["verdict"] == "holds" and row["rank_verdict"] == "holds"
    assert row["rank_low"] > 0 and "seeds 4, 8" in row["why"]
    clean = final.copy()
    clean.loc[(clean["arch"] == "conv"), "test_loss"] = np.r_[good]
    again = claims._row(clean, "conv_beats_linear", "conv vs linear", "d=10", "test_loss", ("conv", 10), ("linear", 10))
    assert again["welch_verdict"] == again["verdict"] == "holds" and again["why"] == ""
    assert collapse.counts(collapse.flag(clean)).set_index("arch").loc["conv", "collapsed"] == 0


def test_a_collapsed_run_without_an_active_unit_has_no_kl_per_unit():
    """A run whose every unit collapsed (a 1-epoch conv d = 2 of a smoke report did) has no KL per active unit:
    the signature table says n/a there (NaN, declared optional), not an infinity that the schema refuses."""
    from vaelib.analysis import collapse, schema
    rng = np.random.default_rng(3)
    losses = 106 + rng.normal(0, 0.5, 10)
    losses[4] = 130.0
    keys = [{"arch": "conv", "latent_dim": 2, "seed": s} for s in range(10)]
    final = pd.DataFrame([{**k, "test_loss": v, "test_recon": v - 5, "test_kl": 5.0} for k, v in zip(keys, losses)])
    scores = pd.DataFrame([{**k, "active_units": 0 if k["seed"] == 4 else 2} for k in keys])
    history = pd.DataFrame([{**k, "epoch": 1, "test_loss": v + 10} for k, v in zip(keys, losses)])
    kl = pd.DataFrame([{**k, "dim": d, "kl": 0.01 if k["seed"] == 4 else 2.5} for k in keys for d in (0, 1)])
    table = collapse.signature(collapse.flag(final), scores, history, kl)
    assert table["seed"].tolist() == [4] and np.isnan(table.loc[0, "kl_per_unit"])
    assert table.loc[0, "others_kl_per_unit"] == 2.5
    schema.check_frame("collapse_signature.csv", table, "collapse_signature.csv")     # raises if refused


def test_holm_adjusts_within_each_family():
    nan = float("nan")
    table = pd.DataFrame({"family": ["a", "a", "a", "a", "b", "b"], "p": [0.01, 0.04, 0.03, nan, 0.04, 0.5],
                          "equivalence_p": [0.9, 0.9, 0.9, nan, 0.9, 0.02],
                          "difference": [1.0, -1.0, 2.0, 0.5, -1.0, 0.1],
                          "verdict": ["holds", "refuted", "holds", "untested (one seed)", "refuted", "equivalent"]})
    out = inference.holm(table)
    assert out["holm_p"].iloc[:3].tolist() == pytest.approx([0.03, 0.06, 0.06])    # 3 tests, step-down
    assert out["holm_p"].iloc[4:].tolist() == pytest.approx([0.08, 0.5])           # its own family of 2
    assert out["holm_equivalence_p"].iloc[5] == pytest.approx(0.04)
    assert out["holm_verdict"].tolist() == ["holds", "inconclusive", "inconclusive", "untested (one seed)",
                                            "inconclusive", "equivalent"]


def test_a_summary_names_every_refutation():
    summary = inference.where(pd.Series(["holds", "holds", "refuted", "inconclusive"]),
                              pd.Series(["d=2", "d=3", "d=50", "d=10"]))
    assert summary == "holds at d=2, d=3; refuted at d=50; inconclusive at d=10"
    assert inference.where(pd.Series(["holds", "holds"]), pd.Series(["a", "b"])) == "holds"


def test_the_seed_claims_from_per_seed_values(tmp_path):
    """Linear better than conv by 5 nats at d=2 (tight seeds), equal at d=5 (noisy): claim 2 is refuted at d=2
    and inconclusive at d=5, and the summary says both."""
    rows = []
    for seed, (n1, n2) in enumerate([(0.1, -1.0), (-0.2, 1.5), (0.1, -0.4)]):
        for d, conv_gap, noise in ((2, 5.0, n1), (5, 0.0, n2)):
            for arch, shift in (("linear", 0.0), ("conv", conv_gap)):
                rows.append({"arch": arch, "latent_dim": d, "seed": seed, "test_loss": 150 - 10 * d + shift + noise,
                             "test_recon": 140 - 12 * d + shift + noise, "test_kl": 10 + 2 * d + noise})
    table = claims.loss_claims(pd.DataFrame(rows))
    beats = table[table["claim"] == "conv_beats_linear"].set_index("setting")
    assert beats.loc["d=2", "verdict"] == "refuted" and beats.loc["d=5", "verdict"] == "inconclusive"
    assert beats.loc["d=5", "seeds_needed"] != beats.loc["d=5", "seeds_needed"] or beats.loc["d=5", "seeds_needed"] > 3
    summary = claims.overall_verdicts(table).set_index("claim").loc["conv_beats_linear"]
    assert summary["verdict"] == "refuted at d=2; inconclusive at d=5"
    assert "d=2: -5.00" in summary["behind"]


def test_edge_ranks_and_their_bootstrap_intervals():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, 3000)
    z = rng.normal(size=(3000, 2)) * 0.3
    z[labels == 0] += [4.0, 0.0]                # far out, clearly first
    z[labels == 3] += [0.02, 0.0]               # among the crowd at the centre
    ranks = claims.edge_ranks(z, labels, digits=(0, 3)).set_index("digit")
    assert ranks.loc[0, "rank"] == 1 and ranks.loc[0, "rank_low"] == ranks.loc[0, "rank_high"] == 1
    assert ranks.loc[3, "rank_high"] - ranks.loc[3, "rank_low"] >= 2       # undecided among similar digits
    per_seed = pd.concat([ranks.reset_index().assign(arch="linear", seed=s) for s in (0, 1, 2)])
    edge = claims.edge_claim(per_seed, tops=(3, 2, 5)).set_index("digit")
    assert edge.loc[0, "support"] == "supported in all 3 seeds" and edge.loc[0, "ranks"].startswith("1 [1, 1]")


def test_confusion_intervals_from_a_matrix():
    matrix = np.full((10, 10), 5)
    np.fill_diagonal(matrix, 900)
    matrix[7, 9] = 120                          # by far the largest confusion
    out = claims.confusion_intervals(matrix, pairs=((7, 9), (5, 8))).set_index(["true", "predicted"])
    assert out.loc[(7, 9), "rank"] == 1 and out.loc[(7, 9), "rank_high"] == 1
    assert out.loc[(7, 9), "percent_low"] < out.loc[(7, 9), "percent"] < out.loc[(7, 9), "percent_high"]
    assert out.loc[(5, 8), "rank_high"] > 5                                  # one of many equal ones


def test_a_verdict_is_settled_only_where_a_rerun_elsewhere_agrees():
    """The same per-seed table from 'another machine' with conv 6 nats worse at d=5: the verdict there flips,
    and only that setting loses its 'settled'; the per-run change is reported."""
    rows = [{"arch": a, "latent_dim": d, "seed": s, "test_loss": 150 - 10 * d + (4.0 if a == "linear" else 0) + n,
             "test_recon": 140 - 12 * d + n, "test_kl": 10 + 2 * d + n}
            for s, n in enumerate([0.1, -0.3, 0.2]) for d in (2, 5) for a in ("linear", "conv")]
    here = pd.DataFrame(rows)
    there = here.copy()
    there.loc[(there["arch"] == "conv") & (there["latent_dim"] == 5), "test_loss"] += 6.0
    checked = claims.on_another_machine(claims.loss_claims(here), there, here).set_index(["claim", "setting"])
    assert checked.loc[("conv_beats_linear", "d=5"), ["verdict", "elsewhere_verdict", "settled"]].tolist() == \
        ["holds", "refuted", "no"]
    assert checked.loc[("conv_beats_linear", "d=2"), "settled"] == "yes"
    assert set(claims.on_another_machine(claims.loss_claims(here), None, here)["settled"]) == {"one machine only"}
    # A rerun of fewer seeds is compared over the seeds both ran: with the same numbers nothing flips, and the
    # verdicts compared are those of seeds 0-1 on both sides, not ours of seeds 0-2.
    fewer = claims.on_another_machine(claims.loss_claims(here), here[here["seed"] < 2], here)
    assert set(fewer["settled"]) == {"yes"}
    assert fewer["shared_verdict"].tolist() == claims.loss_claims(here[here["seed"] < 2])["verdict"].tolist()
    assert fewer["verdict"].tolist() == claims.loss_claims(here)["verdict"].tolist()
    shift = claims.machine_shift(here, there)
    assert shift.loc[shift["change"] != 0, ["arch", "latent_dim"]].drop_duplicates().values.tolist() == [["conv", 5]]


def test_a_seed_level_claim_is_a_share_of_seeds_with_its_clopper_pearson_interval():
    three = inference.seed_share([True, True, True])
    exact = stats.binomtest(3, 3).proportion_ci(0.95, method="exact")
    assert (three["share_low"], three["share_high"]) == pytest.approx((exact.low, exact.high))
    assert three["share_verdict"] == "inconclusive"                 # 3 of 3 seeds: [0.29, 1], not yet most
    assert inference.seed_share([True] * 10)["share_verdict"] == "holds"
    assert inference.seed_share([False] * 10)["share_verdict"] == "refuted"
    assert inference.seed_share([True] * 8 + [False] * 2)["share_verdict"] == "inconclusive"


def test_the_edge_claim_counts_seeds_at_every_cut_off():
    ranks = pd.DataFrame({"arch": "linear", "digit": 0, "seed": range(10), "rank": [1, 2, 3, 4, 1, 1, 2, 3, 5, 1],
                          "rank_low": 1.0, "rank_high": 5.0})
    row = claims.edge_claim(ranks).iloc[0]
    assert (row["top"], row["supporting"], row["supporting_top2"], row["supporting_top5"]) == (3, 8, 6, 10)
    assert row["share_verdict"] == "inconclusive" and row["support"] == "undecided in all 10 seeds"


def test_convergence_reads_the_end_of_each_seeds_test_curve():
    """Three seeds whose test loss falls 1 nat per epoch to the end (d = 2), and three flat within 0.01
    (d = 5): still falling holds at d = 2, equivalent (flat) at d = 5; the gap is the last epoch's test minus
    train loss, over the seeds."""
    rows = []
    for seed, wiggle in enumerate((0.01, -0.01, 0.0)):
        for epoch in range(1, 16):
            rows.append({"arch": "conv", "latent_dim": 2, "seed": seed, "epoch": epoch,
                         "test_loss": 200 - epoch + wiggle * epoch, "train_loss": 199 - epoch})
            rows.append({"arch": "conv", "latent_dim": 5, "seed": seed, "epoch": epoch,
                         "test_loss": 150 + wiggle * (epoch % 2), "train_loss": 148 + seed})
    out = claims.convergence(pd.DataFrame(rows)).set_index("latent_dim")
    assert out.loc[2, "verdict"] == "holds" and out.loc[2, "difference"] == pytest.approx(1.0, abs=0.02)
    assert out.loc[5, "verdict"] == "equivalent"
    assert out.loc[5, "gap"] == pytest.approx(np.mean([150 - 148, 150 - 149, 150 - 150]), abs=0.02)
    assert out.loc[2, "last_epochs"] == claims.LAST_EPOCHS and out.loc[2, "epochs"] == 15


def test_every_verdict_has_its_words_and_the_row_carries_them():
    for claim, phrases in claims.PHRASES.items():
        assert set(phrases) == set(inference.VERDICTS), claim
        assert len(set(phrases.values())) == len(phrases)               # no two verdicts read alike
    assert claims.sentence("loss_falls_with_d", "refuted", "refuted") == "the test loss rises"
    assert claims.sentence("conv_beats_linear", "holds", "holds, within the margin") == "holds, within the margin"
    with pytest.raises(ValueError, match="no phrase"):
        claims.sentence("loss_falls_with_d", "maybe", "maybe")
    table = pd.DataFrame({"claim": ["loss_falls_with_d"] * 2, "holm_verdict": ["holds", "inconclusive"],
                          "holm_reading": ["holds", "inconclusive"], "reading": ["holds", "holds"],
                          "welch_verdict": ["holds", "inconclusive"], "rank_verdict": ["refuted", "holds"]})
    out = claims.with_sentences(table)
    assert out["sentence"].tolist() == ["the test loss falls", "the test loss moves by no amount these seeds resolve"]
    assert out["cell"].tolist() == ["holds (ranks: refuted)", "inconclusive / holds (means: inconclusive)"]
