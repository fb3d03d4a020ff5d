"""Command line: `python -m vaelib train ...`, `python -m vaelib params`."""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from .config.run import RunConfig
from .config.sweep import Sweep
from .core.models import ARCHS
from .data.datasets import DATASETS
from .analysis import tables
from .training import runs
from .training.engine import train
from .infra import logs
from .infra.faults import EXIT_CODES, guard


def param_table(sweep: Sweep = Sweep()) -> pd.DataFrame:
    return tables.params(sweep.archs, sweep.dims)


@guard
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vaelib", description="Train and inspect MNIST VAEs.",
                                     epilog=EXIT_CODES)
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train one model into runs/{arch}_{d}_s{seed}/ (resumes or reuses a run)")
    t.add_argument("--arch", required=True, help=f"one of: {', '.join(ARCHS)}")
    t.add_argument("--latent-dim", required=True, help="latent dimension d >= 1")
    t.add_argument("--epochs", default=15)
    t.add_argument("--batch-size", default=128)
    t.add_argument("--lr", default=1e-3)
    t.add_argument("--beta", default=1.0, help="weight of the KL term (1 = the ELBO)")
    t.add_argument("--seed", default=0)
    t.add_argument("--init-seed", default=None, help="seed of the initial weights alone (default: --seed, which "
                                                      "then seeds only the batch order and the noise)")
    t.add_argument("--dataset", default="mnist", help=f"one of: {', '.join(DATASETS)}")
    t.add_argument("--train-limit", default=None, help="use only the first N training images")
    t.add_argument("--test-limit", default=None, help="use only the first N test images")
    t.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda[:N]")
    t.add_argument("--protocol", default="plain", help="how it is trained: plain (the sweep's) or burda (Burda et "
                                                        "al. 2015's, the reference run's; vaelib.training.protocols)")
    t.add_argument("--threads", default=0, help="torch threads (0: share the cores with the other "
                                                       "vaelib jobs running on this machine)")
    t.add_argument("--runs-dir", default=str(runs.RUNS_DIR))
    t.add_argument("--force", action="store_true", help="retrain even if a finished run exists (old folder kept aside)")
    t.add_argument("--keep-stale", action="store_true", help="reuse a run made by other training code")
    t.add_argument("--extend", action="store_true", help="let a run of fewer epochs (same config otherwise) go on")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.add_argument("--snapshot-epochs", nargs="*", type=int, default=(),
                   help="also keep the weights after these epochs (weights_epoch<N>.pt)")

    sub.add_parser("params", help="parameter counts of the ten sweep models")
    args = parser.parse_args(argv)
    logs.show()

    if args.command == "params":
        print(param_table().pivot(index="latent_dim", columns="arch", values="params").to_string())
        return 0
    config = RunConfig(arch=args.arch, latent_dim=args.latent_dim, epochs=args.epochs,
                       batch_size=args.batch_size, lr=args.lr, beta=args.beta, seed=args.seed,
                       dataset=args.dataset, train_limit=args.train_limit, test_limit=args.test_limit,
                       device=args.device, num_threads=args.threads, protocol=args.protocol,
                       init_seed=args.init_seed)
    run = train(config, args.runs_dir, force=args.force, progress=not args.quiet, keep_stale=args.keep_stale,
                snapshot_epochs=args.snapshot_epochs, extend=args.extend)
    print(f"{run.folder}: finished; final test loss {run.history['test_loss'].iloc[-1]:.2f} nats per image")
    return 0


if __name__ == "__main__":
    sys.exit(main())
