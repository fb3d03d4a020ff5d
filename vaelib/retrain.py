"""Were the report's runs trained by numerically equal code? One run of each training-code version among them,
trained again by today's code and compared bit for bit (REPORT.md, "Reproducible across machines?").

    python -m vaelib.retrain        # results/metrics.csv, weights.csv -> runs/retrained/ -> results/code_versions.csv

The report's runs were trained over several sessions, by code whose fingerprint (infra.provenance) changed
between them. For each fingerprint, the first of its runs in the report's order (a linear one where it has
one: linear trains to the same bits on any CPU of these machines, so a difference there is the code's) is
trained again here and its weights' sha256 compared with `results/weights.csv`, its final test loss with
`results/final_by_seed.csv`. Finished runs are reused, so an interrupted check resumes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from .analysis import tables
from .collapse import command, parsed, trained
from .core.models import ARCHS
from .infra import paths
from .infra.faults import guard

RUNS = paths.PROJECT / "runs" / "retrained"


def chosen(scores: pd.DataFrame) -> pd.DataFrame:
    """One run per training-code version (`run_code`): a linear one where the version trained any, else its
    first run in the report's order; with how many runs the version trained."""
    rank = scores.assign(_linear=scores["arch"] != "linear", _arch=scores["arch"].map({a: i for i, a in enumerate(ARCHS)}))
    first = rank.sort_values(["_linear", "_arch", "latent_dim", "seed"]).groupby("run_code", sort=False).head(1)
    counts = scores.groupby("run_code").size().rename("runs")
    return first[["run_code", "arch", "latent_dim", "seed"]].merge(counts, left_on="run_code", right_index=True)


def train_again(row: dict, runs_dir: str) -> dict:
    from .config.run import RunConfig
    from .infra import provenance
    from .training import runs
    from .training.engine import TRAINING_VERSION, train

    config = RunConfig(arch=row["arch"], latent_dim=int(row["latent_dim"]), seed=int(row["seed"]), num_threads=1)
    run = train(config, runs_dir, progress=False)
    return {**row, "run": config.name, "loss_here": float(run.history["test_loss"].iloc[-1]),
            "weights_here": runs.weights_sha256(run.folder), "code_here": provenance.label({"training": TRAINING_VERSION}),
            "cpu_here": provenance.cpu()["model"], "isa_here": " ".join(provenance.cpu()["flags"])}


@guard
def main(argv=None) -> int:
    args = parsed(command("python -m vaelib.retrain", __doc__, RUNS), argv)
    results = Path(args.results)
    scores, weights = tables.read(results / "metrics.csv"), tables.read(results / "weights.csv")
    final = tables.read(results / "final_by_seed.csv")
    plan = chosen(scores).to_dict("records")
    found = []
    for again in trained(train_again, plan, args):
        found.append(again)
        print(f"{again['run']} ({again['run_code']}) trained again: {len(found)} of {len(plan)}", flush=True)
    out = pd.DataFrame(found).merge(weights.rename(columns={"weights_sha256": "weights_report"}), on="run")
    out = out.merge(final[["arch", "latent_dim", "seed", "test_loss"]].rename(columns={"test_loss": "loss_report"}),
                    on=["arch", "latent_dim", "seed"])
    out["same_weights"] = out["weights_here"] == out["weights_report"]
    tables.save(tables.in_order(out), results / "code_versions.csv")
    print(f"{results / 'code_versions.csv'}: {int(out['same_weights'].sum())} of {len(out)} versions give the "
          f"report's weights bit for bit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
