"""Command line: `python -m vaelib train ...`, `python -m vaelib params`, `python -m vaelib compare RUN_OR_CSV`."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from .config.run import RunConfig
from .config.sweep import Sweep
from .core.models import ARCHS
from .data.datasets import DATASETS
from .analysis import tables
from .analysis.collapse import compare, your_runs
from .training import runs
from .training.engine import train
from .infra import logs, paths
from .infra.faults import EXIT_CODES, guard


HELP = {"arch": f"one of: {', '.join(ARCHS)}", "latent_dim": "latent dimension d >= 1",
        "beta": "weight of the KL term (default %(default)s: the ELBO)",
        "init_seed": "seed of the initial weights alone (default: --seed, which then seeds only the batch order "
                     "and the noise)", "dataset": f"one of: {', '.join(DATASETS)} (default %(default)s)",
        "train_limit": "use only the first N training images", "test_limit": "use only the first N test images",
        "device": "auto (CUDA when available), cpu or cuda[:N]",
        "protocol": "how it is trained: plain (the sweep's) or burda (the authors' code of Burda et al. 2015)",
        "num_threads": "torch threads (0: share the cores with the other vaelib jobs running on this machine)"}


@guard
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vaelib", description="Train and inspect MNIST VAEs.",
                                     epilog=EXIT_CODES)
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train one model into runs/{arch}_{d}_s{seed}/ (resumes or reuses a run)")
    for field in dataclasses.fields(RunConfig):          # every setting of a run, with RunConfig's own default
        flags = [f"--{field.name.replace('_', '-')}"] + (["--threads"] if field.name == "num_threads" else [])
        required = field.default is dataclasses.MISSING
        t.add_argument(*flags, dest=field.name, required=required, default=None if required else field.default,
                       help=HELP.get(field.name, "default: %(default)s"))
    t.add_argument("--runs-dir", default=str(runs.RUNS_DIR))
    t.add_argument("--force", action="store_true", help="retrain even if a finished run exists (old folder kept aside)")
    t.add_argument("--keep-stale", action="store_true", help="reuse a run made by other training code")
    t.add_argument("--extend", action="store_true", help="let a run of fewer epochs (same config otherwise) go on")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.add_argument("--snapshot-epochs", nargs="*", type=int, default=(),
                   help="also keep the weights after these epochs (weights_epoch<N>.pt)")

    sub.add_parser("params", help="parameter counts of the ten sweep models")
    c = sub.add_parser("compare", help="place your run's final test loss among the report's seeds: a run folder "
                                       "or a CSV with columns arch, latent_dim, test_loss")
    c.add_argument("run", metavar="RUN", help="a run folder (runs/ARCH_D_sSEED) or a CSV")
    c.add_argument("--results", default=str(paths.PROJECT / "results"), help="the committed results/")
    args = parser.parse_args(argv)
    logs.show()

    if args.command == "compare":
        print("\n".join(compare(your_runs(Path(args.run)), Path(args.results))))
        return 0
    if args.command == "params":
        sweep = Sweep()
        print(tables.params(sweep.archs, sweep.dims).pivot(index="latent_dim", columns="arch", values="params").to_string())
        return 0
    config = RunConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(RunConfig)})
    run = train(config, args.runs_dir, force=args.force, progress=not args.quiet, keep_stale=args.keep_stale,
                snapshot_epochs=args.snapshot_epochs, extend=args.extend)
    print(f"{run.folder}: finished; final test loss {run.history['test_loss'].iloc[-1]:.2f} nats per image")
    return 0


if __name__ == "__main__":
    sys.exit(main())
