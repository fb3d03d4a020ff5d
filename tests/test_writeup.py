"""The write-up is data: REPORT.md is what results/ gives, and follows a change in results/."""

import re
import shutil

import pandas as pd

from vaelib.analysis import writeup
from vaelib.analysis.results import claim_tables
from vaelib.infra import paths

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
    claim_tables(results)        # the results step: verdicts from the saved base tables
    after = writeup.render(results)

    assert verdict_of_conv_vs_linear(before) != "refuted"
    assert verdict_of_conv_vs_linear(after) == "refuted"
    new = summary[conv].iloc[0]
    line = next(l for l in after.splitlines() if l.startswith(f"| conv | {new['latent_dim']} |"))
    assert f"{new['test_loss_mean']:,.2f} ±" in line
    untouched = lambda text: [l for l in text.splitlines() if l.startswith("| linear |")]  # noqa: E731
    assert untouched(before) == untouched(after)   # the linear rows, not edited, did not move


# Numbers of the hand-written prose that describe the method, not a result: layer sizes, kernel and
# stride, image sizes, the grid values of the seed, the quantile range, the citation year.
METHOD_NUMBERS = {"784", "256", "4", "1", "16", "32", "28", "14", "7", "64", "2", "0", "2015", "9", "8",
                  "5", "15", "-2", "-1", "5%", "95%", "0.01", "50", "10", "3"}
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
