"""The write-up renders over the results of every documented subset of the sweep (it says what is
missing), never a traceback. Each subset's results are the committed report's rows for that subset
(plus, for --iwae-k 0, no bound), with the claims recomputed by the results step."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from vaelib.analysis import writeup
from vaelib.analysis.results import claim_tables
from vaelib.infra.paths import PROJECT

RESULTS = PROJECT / "results"
BY_ROW = ("metrics", "metrics_summary", "summary", "final_by_seed", "params", "latent_diagnostics", "kl_per_dim",
          "digit_geometry", "edge_ranks", "latent_confusions", "recon_confusions", "latent_confusion_intervals",
          "recon_confusion_intervals", "grid_cells", "prior_reads", "interpolation_reads")
# What the classifier reads in the smallest- and largest-d models: a subset's report reads its own corners, which
# the committed report may not have trained (d = 10 alone); the committed corners stand in for them, whatever d.
CORNERS = ("prior_reads", "interpolation_reads")


def subset(tmp_path, archs=None, dims=None, seeds=None, iwae_k=None):
    """results/ restricted to these archs, dims and seeds (None: all), as the results step writes them."""
    out = shutil.copytree(RESULTS, tmp_path / "results")
    for stem in BY_ROW:
        path = out / f"{stem}.csv"
        if not path.is_file():
            continue
        table = pd.read_csv(path)
        keep = pd.Series(True, index=table.index)
        for column, values in (("arch", archs), ("latent_dim", dims), ("seed", seeds)):
            if values is not None and column in table and not (stem in CORNERS and column == "latent_dim"):
                keep &= table[column].isin(values)
        table = table[keep]
        if iwae_k == 0:
            for column in ("iwae_bound", "iwae_gain"):
                if column in table:
                    table[column] = float("nan")
        if "seeds" in table and seeds is not None:
            table["seeds"] = table["seeds"].clip(upper=len(seeds))
        if table.empty:
            path.unlink()
        else:
            table.to_csv(path, index=False)
    run = json.loads((out / "run.json").read_text())
    for key, values in (("archs", archs), ("dims", dims), ("seeds", seeds)):
        if values is not None:
            run["sweep"][key] = list(values)
    if iwae_k is not None:
        run["sweep"]["iwae_k"] = iwae_k
    (out / "run.json").write_text(json.dumps(run))
    claim_tables(out)
    return out


@pytest.mark.filterwarnings("error::RuntimeWarning")    # a spread of one seed: numpy warned once per comparison
@pytest.mark.parametrize("name, kwargs, says", [
    ("no IWAE bound", {"iwae_k": 0}, "No IWAE bound"),
    ("one architecture", {"archs": ["conv"]}, None),
    ("one d", {"dims": [10]}, "no model with d = 2"),
    ("one seed", {"seeds": [0]}, "one seed"),
    ("dims the template does not expect", {"dims": [10, 50]}, "no model with d = 2"),
    ("conv, d = 10, seeds 0 and 1, no bound", {"archs": ["conv"], "dims": [10], "seeds": [0, 1], "iwae_k": 0}, None),
])
def test_the_write_up_renders_over_each_subset(tmp_path, name, kwargs, says):
    text = writeup.render(subset(tmp_path, **kwargs))
    assert "## Beyond the handout" in text
    if says:
        assert says in text, name
