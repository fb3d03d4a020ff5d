"""The write-up is data: REPORT.md is what results/ gives, and follows a change in results/."""

import json
import re
import shutil

import numpy as np
import pandas as pd
import scipy.stats

from vaelib.analysis import tables, writeup
from vaelib.analysis.results import claim_tables
from vaelib.config.sweep import Sweep
from vaelib.infra import paths

RESULTS = paths.PROJECT / "results"


def test_the_committed_write_up_is_what_the_committed_results_give():
    rendered = writeup.render(RESULTS)
    committed = (paths.PROJECT / "REPORT.md").read_text()
    assert rendered == committed, "REPORT.md is stale: run `python -m vaelib.writeup` (or `make report`)"


def sweep_of(results):
    return Sweep.from_params(json.loads((results / "run.json").read_text())["sweep"])


def verdict_of_conv_vs_linear(text):
    """The Summary's row for claim 2 (total loss): its cells, one per d, joined by ' | '."""
    return re.search(r"^\| 2: conv has the lower total loss \| (.+) \|$", text, re.MULTILINE).group(1)


def rows_of(claims, claim):
    """What the Summary's grid should show for `claim`: per setting, the corrected reading, then the
    unadjusted one after a slash where they differ, then the verdicts on the means and by ranks that differ
    from the unadjusted one."""
    g = claims[claims["claim"] == claim]
    cells = []
    for r in g.itertuples():
        cell = r.holm_reading if r.holm_reading == r.reading else f"{r.holm_reading} / {r.reading}"
        others = [f"{name}: {v}" for name, v in (("means", r.welch_verdict), ("ranks", r.rank_verdict))
                  if v != r.verdict]
        cells.append(f"{cell} ({'; '.join(others)})" if others else cell)
    return " | ".join(cells)


def test_a_changed_result_changes_the_numbers_the_intervals_and_the_verdict(tmp_path):
    results = shutil.copytree(RESULTS, tmp_path / "results")
    final = pd.read_csv(results / "final_by_seed.csv")
    # the summary as this test derives it below, from the saved (rounded) per-seed table, on both sides: a
    # standard deviation on the rounding edge (linear d = 50: 0.205) must not count as a change
    tables.save(tables.summary(final), results / "summary.csv")
    before = writeup.render(results)
    conv, linear = final["arch"] == "conv", final["arch"] == "linear"
    # make conv clearly worse than linear at every d and seed: 100 nats above, with the same spread
    final.loc[conv, "test_loss"] = final.loc[linear, "test_loss"].to_numpy() + 100
    final.to_csv(results / "final_by_seed.csv", index=False)
    tables.save(tables.summary(final), results / "summary.csv")          # as the results step derives it
    claim_tables(results, sweep_of(results))   # the results step: verdicts from the saved base tables
    after = writeup.render(results)

    assert set(verdict_of_conv_vs_linear(before).split(" | ")) != {"refuted"}
    assert set(verdict_of_conv_vs_linear(after).split(" | ")) == {"refuted"}
    claims_after = pd.read_csv(results / "claims.csv").query("claim == 'conv_beats_linear'")
    assert (claims_after["ci_high"] < 0).all() and (claims_after["difference"] < -90).all()
    row = claims_after.iloc[0]
    assert f"| {row['difference']:,.2f} | [{row['ci_low']:,.2f}, {row['ci_high']:,.2f}] | **refuted** |" in after
    new = tables.summary(final).query("arch == 'conv'").iloc[0]
    line = next(l for l in after.splitlines() if l.startswith(f"| conv | {new['latent_dim']} |"))
    assert f"{new['test_loss_mean']:,.2f} ±" in line
    untouched = lambda text: [l for l in text.splitlines() if l.startswith("| linear |") and "±" in l]  # noqa: E731
    assert untouched(before) == untouched(after)   # the linear rows of the tables, not edited, did not move


def test_equivalence_family_corrected_verdicts_and_their_words_follow_the_results(tmp_path):
    """conv's final losses at d = 50 set to its d = 10 ones within 0.01 nats: the step is equivalent (two
    one-sided tests), and the Summary and the wide-dense section say "stays within the margin" where they said
    neither before; conv made 30 nats better than linear at every d: claim 2 holds at every d after Holm,
    where the committed seeds hold at fewer settings after the correction than before it; linear's 0 nearest
    the origin in every seed: the share's Clopper-Pearson interval lies below one half and claim 4 is refuted there."""
    results = shutil.copytree(RESULTS, tmp_path / "results")
    claim_tables(results, sweep_of(results))
    before = writeup.render(results)
    verdicts = pd.read_csv(results / "verdicts.csv").set_index("claim")
    beats = verdicts.loc["conv_beats_linear"]
    assert beats["holm_verdict"] != beats["verdict"]                  # the correction changes it here
    cells = rows_of(pd.read_csv(results / "claims.csv"), "conv_beats_linear")
    assert verdict_of_conv_vs_linear(before) == cells and " / " in cells           # corrected / unadjusted
    assert "the test loss stays within the margin (equivalent)" not in before

    final = pd.read_csv(results / "final_by_seed.csv")
    conv = final["arch"] == "conv"
    at = {d: conv & (final["latent_dim"] == d) for d in (10, 50)}
    linear = final["arch"] == "linear"
    final.loc[conv, "test_loss"] = final.loc[linear, "test_loss"].to_numpy() - 30
    n = int(at[10].sum())
    steady = final.loc[linear & (final["latent_dim"] == 10), "test_loss"].mean() - 30 + np.linspace(0.1, -0.1, n)
    final.loc[at[10], "test_loss"], final.loc[at[50], "test_loss"] = steady, steady + 0.01 * (-1) ** np.arange(n)
    final.to_csv(results / "final_by_seed.csv", index=False)
    tables.save(tables.summary(final), results / "summary.csv")
    ranks = pd.read_csv(results / "edge_ranks.csv")          # every seed puts linear's 0 nearest the origin
    zero = (ranks["arch"] == "linear") & (ranks["digit"] == 0)
    ranks.loc[zero, ["rank", "rank_low", "rank_high"]] = 10
    ranks.to_csv(results / "edge_ranks.csv", index=False)
    n = int(zero.sum())
    low, high = scipy.stats.binomtest(0, n).proportion_ci(method="exact")       # Clopper-Pearson
    shown = f"| linear | digit 0 | **refuted** | 0 of {n} [{low:.2f}, {high:.2f}] |"
    claim_tables(results, sweep_of(results))
    after = writeup.render(results)
    assert shown not in before and shown in after

    extras = pd.read_csv(results / "claims_extras.csv").set_index(["claim", "arch"])
    step = extras.loc[("loss_falls_with_d", "conv")]
    assert step["holm_verdict"] == "equivalent" and step["holm_equivalence_p"] < 0.05 < step["holm_p"]
    assert "for conv from d = 10 to d = 50, the test loss stays within the margin (equivalent)" in after
    assert "Over that step, for conv, the test loss stays within the margin (equivalent)" in after
    beats = pd.read_csv(results / "verdicts.csv").set_index("claim").loc["conv_beats_linear"]
    assert beats["holm_verdict"] == "holds"
    assert set(verdict_of_conv_vs_linear(after).split(" | ")) == {"holds"}


def test_what_the_text_says_of_a_figure_follows_the_classifier_readings(tmp_path):
    """Every cell of the linear grid read as unclear, every conv prior sample read as a confident 3, and one
    interpolation read as 7 -> 1 -> 9: the computed sentences and tables change with them."""
    results = shutil.copytree(RESULTS, tmp_path / "results")
    cells = pd.read_csv(results / "grid_cells.csv")
    cells.loc[cells["arch"] == "linear", "confident"] = False
    cells.to_csv(results / "grid_cells.csv", index=False)
    prior = pd.read_csv(results / "prior_reads.csv")
    conv = prior["arch"] == "conv"
    prior.loc[conv, ["digit", "confident"]] = [3, True]
    prior.to_csv(results / "prior_reads.csv", index=False)
    walks = pd.read_csv(results / "interpolation_reads.csv")
    path = (walks["arch"] == "linear") & (walks["latent_dim"] == walks["latent_dim"].min()) & (walks["pair"] == 0)
    steps = walks.loc[path, "step"]
    walks.loc[path, "digit"] = np.where(steps < 3, 7, np.where(steps < 7, 1, 9))
    walks.loc[path, ["confident", "start_digit", "end_digit"]] = [True, 7, 9]
    walks.to_csv(results / "interpolation_reads.csv", index=False)
    claim_tables(results, sweep_of(results))
    text = writeup.render(results)
    n = int((cells["arch"] == "linear").sum())
    assert f"| linear, d = 2 | 0 of {n} | {n} | none | 0 1 2 3 4 5 6 7 8 9 |" in text
    for d in prior.loc[conv, "latent_dim"].unique():
        k = int((conv & (prior["latent_dim"] == d)).sum())
        assert f"| conv, d = {d} | {k} of {k} | 0 | 3 | 0 1 2 4 5 6 7 8 9 |" in text
    assert "7 -> 1 -> 9" in text


# Numbers of the hand-written prose that describe the method, not a result: layer sizes, kernel and
# stride, image sizes, the grid values of the handout, the quantile range, the citation year.
METHOD_NUMBERS = {"784", "256", "4", "1", "16", "32", "28", "14", "7", "64", "2", "0", "2015", "9", "8",
                  "5", "15", "-2", "-1", "5%", "95%", "0.01", "50", "10", "3", "25", "90"}
NUMBER = re.compile(r"(?<![\w.])-?\d+(?:,\d{3})*(?:\.\d+)?%?")


def result_values(results):
    """Every number in results/, as written, as rounded floats, and as percentages of fractions."""
    values = set()
    for path in results.iterdir():
        for token in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", path.read_text()):
            values.add(float(token))
    return values


def appears(token, values):
    text = token.rstrip("%").replace(",", "")
    shown = float(text)
    digits = len(text.split(".")[1]) if "." in text else 0
    tolerance = 0.5 * 10 ** -digits + 1e-9
    candidates = values | {100 * v for v in values}
    return any(abs(v - shown) <= tolerance or abs(-v - shown) <= tolerance for v in candidates)


def numbers_not_in_results(report_text, results):
    values = result_values(results)
    prose = re.sub(r"```.*?```|<!--.*?-->|\(figures/[^)]*\)|`[^`]*`|\[[^\]]*\]\([^)]*\)", " ", report_text,
                   flags=re.S)
    return sorted({t for t in NUMBER.findall(prose) if t not in METHOD_NUMBERS and not appears(t, values)})


def test_every_number_in_the_write_up_is_in_results():
    missing = numbers_not_in_results((paths.PROJECT / "REPORT.md").read_text(), RESULTS)
    assert not missing, f"numbers in REPORT.md found nowhere in results/: {missing}"


def test_the_convergence_section_follows_the_test_curves(tmp_path):
    """Each run's test curve ends falling 0.5 nats per epoch at d = 2 and flat elsewhere (15 epochs ending at
    its committed final loss): the table says so setting by setting, and the sentence counts them."""
    results = shutil.copytree(RESULTS, tmp_path / "results")
    final = pd.read_csv(results / "final_by_seed.csv")
    rows = []
    for run in final.itertuples():
        slope = 0.5 if run.latent_dim == 2 else 0.0
        for epoch in range(1, 16):
            wiggle = 0.002 * ((epoch + run.seed) % 3)
            test = run.test_loss + slope * (15 - epoch) + wiggle
            rows.append({"arch": run.arch, "latent_dim": run.latent_dim, "seed": run.seed, "epoch": epoch,
                         "train_loss": test - 1.0, "train_recon": 0, "train_kl": 0, "test_loss": test,
                         "test_recon": 0, "test_kl": 0, "seconds": 1.0})
    pd.DataFrame(rows).to_csv(results / "histories.csv", index=False)
    claim_tables(results, sweep_of(results))
    text = writeup.render(results)
    converged = pd.read_csv(results / "convergence.csv").set_index(["arch", "latent_dim"])
    assert (converged.xs(2, level="latent_dim")["verdict"] == "holds").all()
    assert (converged.drop(2, level="latent_dim")["verdict"] == "equivalent").all()
    shown = converged.loc[converged.index.get_level_values("arch").isin(["linear", "conv"])]
    n_still = int((shown["verdict"] == "holds").sum())
    assert f"of the {len(shown)} settings above, the test loss is still falling in {n_still}, flat" in text.replace("\n", " ")
    assert "| conv | 2 | 0.500 |" in text
