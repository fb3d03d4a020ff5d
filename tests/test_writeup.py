"""The write-up is data: REPORT.md is what results/ gives, and follows a change in results/."""

import re
import shutil

import pandas as pd

from vaelib import paths, writeup

RESULTS = paths.PROJECT / "results"


def test_the_committed_write_up_is_what_the_committed_results_give():
    rendered = writeup.render(RESULTS)
    committed = (paths.PROJECT / "REPORT.md").read_text()
    assert rendered == committed, "REPORT.md is stale: run `python -m vaelib.writeup` (or `make report`)"


def verdict_of_conv_vs_linear(text):
    return re.search(r"Verdict on the total test loss: \*\*([a-z ()]+)\*\*", text).group(1)


def test_a_changed_result_changes_the_numbers_and_the_verdict(tmp_path):
    results = shutil.copytree(RESULTS, tmp_path / "results")
    before = writeup.render(results)
    summary = pd.read_csv(results / "summary.csv")
    conv, linear = summary["arch"] == "conv", summary["arch"] == "linear"
    # make conv clearly worse than linear at every d: 100 nats above, with the same spread
    summary.loc[conv, "test_loss_mean"] = summary.loc[linear, "test_loss_mean"].to_numpy() + 100
    summary.to_csv(results / "summary.csv", index=False)
    after = writeup.render(results)

    assert verdict_of_conv_vs_linear(before) != "refuted"
    assert verdict_of_conv_vs_linear(after) == "refuted"
    new = summary[conv].iloc[0]
    line = next(l for l in after.splitlines() if l.startswith(f"| conv | {new['latent_dim']} |"))
    assert f"{new['test_loss_mean']:,.2f} ±" in line
    changed = [a for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
    assert 0 < len(changed) < 20, changed       # only the lines that cite these numbers moved
