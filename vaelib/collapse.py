"""The collapse experiment (docs/statistics.md, "Runs that collapse"): what makes a conv d = 10 run keep fewer
latent units, its initial weights or its batch order and noise, and how often it happens.

    python -m vaelib.collapse predict      # results/predictions.csv from the report's runs (commit it first)
    python -m vaelib.collapse train        # the runs it predicts, into runs/collapse/ -> results/collapse_runs.csv

`predict` writes what the report's seeds predict for each run of the experiment; it is committed before
`train` trains them, so that git's history shows the prediction came first. `train` reuses finished runs
and rewrites results/collapse_runs.csv after each, so an interrupted experiment resumes where it stopped.
These runs go into the report's collapse section only, never into the claims' verdicts.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import pandas as pd

from .analysis import collapse, tables
from .config.run import RunConfig
from .infra import paths
from .infra.faults import EXIT_CODES, Refused, guard

RUNS = paths.PROJECT / "runs" / "collapse"


def train_one(row: dict, runs_dir: str, epochs: int, train_limit, test_limit) -> dict:
    """Train one run of the experiment (one thread) and read what the collapse section needs of it."""
    import torch

    from .data import datasets as data
    from .evaluation import latent
    from .infra import provenance
    from .training import runs
    from .training.engine import TRAINING_VERSION, train

    config = RunConfig(arch=row["arch"], latent_dim=int(row["latent_dim"]), seed=int(row["data_seed"]),
                       init_seed=int(row["init_seed"]), epochs=epochs, train_limit=train_limit,
                       test_limit=test_limit, num_threads=1)
    run = train(config, runs_dir, progress=False)
    x_test, _ = data.load(config.dataset, train=False, limit=test_limit)
    with torch.inference_mode():
        found = latent.latent_diagnostics(run.model, x_test)
    history = run.history
    return {"run": config.name, "role": row["role"], "data_seed": config.seed, "init_seed": config.weights_seed,
            "arch": config.arch, "latent_dim": config.latent_dim, "epochs": len(history),
            "epoch1_loss": history["test_loss"].iloc[0], "test_loss": history["test_loss"].iloc[-1],
            "test_recon": history["test_recon"].iloc[-1], "test_kl": history["test_kl"].iloc[-1],
            "active_units": found["active_units"], "kl_total": sum(found["kl_per_dim"]),
            "s_per_epoch": history["seconds"].mean(), "weights_sha256": runs.weights_sha256(run.folder),
            "code": provenance.label({"training": TRAINING_VERSION}), "cpu": provenance.cpu()["model"]}


def command(prog: str, doc: str, runs_dir: Path) -> argparse.ArgumentParser:
    """The options of a command that trains runs of its own (this one and vaelib.retrain): where the report's
    results are, where its runs go, and how many train at once."""
    parser = argparse.ArgumentParser(prog=prog, description=doc, epilog=EXIT_CODES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default=str(paths.PROJECT / "results"))
    parser.add_argument("--runs-dir", default=str(runs_dir))
    parser.add_argument("--workers", type=int, default=2, help="runs trained at once, one thread each")
    return parser


def parsed(parser: argparse.ArgumentParser, argv) -> argparse.Namespace:
    """The command's arguments, refused before any work when --workers is not a count of processes."""
    args = parser.parse_args(argv)
    if args.workers < 1:
        raise Refused(f"--workers={args.workers} is not allowed; expected an integer >= 1")
    return args


def trained(job, plan: list[dict], args: argparse.Namespace, *more):
    """`job(row, args.runs_dir, *more)` for every row of `plan`, `args.workers` processes at once: each result
    as its run finishes."""
    with ProcessPoolExecutor(args.workers) as pool:
        for done in as_completed([pool.submit(job, row, args.runs_dir, *more) for row in plan]):
            yield done.result()


@guard
def main(argv=None) -> int:
    parser = command("python -m vaelib.collapse", __doc__, RUNS)
    parser.add_argument("step", choices=("predict", "train"))
    parser.add_argument("--epochs", type=int, default=RunConfig.epochs)
    parser.add_argument("--train-limit", type=int, default=None)
    parser.add_argument("--test-limit", type=int, default=None)
    parser.add_argument("--only", nargs="*", default=None, help="train only these runs of predictions.csv")
    args = parsed(parser, argv)
    results = Path(args.results)
    if args.step == "predict":
        table = collapse.predictions(tables.read(results / "final_by_seed.csv"))
        tables.save(table, results / "predictions.csv")
        print(f"{results / 'predictions.csv'}: {len(table)} runs predicted; commit it before "
              f"`python -m vaelib.collapse train`")
        return 0
    if not (results / "predictions.csv").is_file():
        raise Refused(f"{results / 'predictions.csv'} is missing: `python -m vaelib.collapse predict` writes it "
                      f"(commit it before training)")
    planned = tables.read(results / "predictions.csv")
    if args.only:
        unknown = sorted(set(args.only) - set(planned["run"]))
        if unknown:
            raise Refused(f"--only {' '.join(unknown)}: not in predictions.csv; allowed: {' '.join(planned['run'])}")
        planned = planned[planned["run"].isin(args.only)]
    order = {"swapped": 0, "retrained": 1, "new seed": 2}      # the 2 x 2 first: it answers the question
    planned = planned.sort_values("role", key=lambda r: r.map(order), kind="stable")
    out = results / "collapse_runs.csv"
    done = tables.read(out) if out.is_file() else pd.DataFrame()
    rows = done.to_dict("records")
    for found in trained(train_one, planned.to_dict("records"), args, args.epochs, args.train_limit, args.test_limit):
        rows = [r for r in rows if r["run"] != found["run"]] + [found]
        tables.save(pd.DataFrame(rows).sort_values(["role", "data_seed", "init_seed"]), out)
        print(f"{found['run']}: test loss {found['test_loss']:.2f}, {found['active_units']} active units "
              f"({len(rows)} of {len(planned)} in {out})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
