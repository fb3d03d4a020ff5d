"""The evaluation step: every per-model number the report cites, computed once per run and cached.

    python -m vaelib.metrics runs/conv_2_s0 --classifier runs/classifier_mnist.pt --iwae-k 1000

For one finished run: the test ELBO, the IWAE bound (Burda et al. 2015; optional, it is the costly
one), reconstruction accuracy (a digit classifier reads each reconstruction) with its confusion
matrix, 5-NN accuracy of the latent means with its confusion matrix, and latent diagnostics (KL per
dimension, active units). The result goes to the run's metrics.json with the settings and the code
that made it; a cache made by other code or settings is recomputed, never reused.
"""

from __future__ import annotations

import logging
import argparse
import json
import sys
import time
from pathlib import Path

import torch

from ..core.bounds import mean_loss
from ..core import iwae
from ..core.iwae import iwae_bound
from ..core.models import VAE, load_model
from ..data import datasets as data
from ..infra import locks, provenance
from ..infra.atomic import atomic_write_text
from ..infra.cpushare import CpuShare
from ..config.run import RunConfig, check_device
from ..training import runs
from ..infra.devices import resolve_device
from . import classifier
from .latent import confusion_matrix, encode_means, knn_predict, latent_diagnostics
from ..infra import logs
from ..infra.faults import EXIT_CODES, Refused, guard

logger = logging.getLogger(__name__)


EVAL_BATCH = 500    # images per forward pass: the classifier's first layer holds 32 x 28 x 28 floats per image,
                    # so 2,500 at once took 630 MB more (benchmarks.taskmem --full prints the step's peak)


@torch.inference_mode()
def reconstruction_accuracy(model: VAE, clf, x, y) -> tuple[float, torch.Tensor]:
    """Share of reconstructions (decoded posterior means) the classifier reads as the true digit."""
    recon = torch.cat([model.reconstruct(xb) for xb in x.split(EVAL_BATCH)])
    pred = classifier.predict(clf, recon, batch_size=EVAL_BATCH)
    return (pred == y).float().mean().item(), pred


def settings_of(config: RunConfig, iwae_k: int | None, knn_k: int = 5) -> dict:
    return {"iwae_k": iwae_k, "test_limit": config.test_limit, "train_limit": config.train_limit,
            "knn_k": knn_k}


# The version of each metric's numbers: bump one in the commit that changes it, and only that metric is
# computed again for every cached run (infra.provenance). The bound's is its decoder form's (core.iwae.version).
VERSIONS = {"elbo": 1, "recon_accuracy": 1, "knn": 1, "latent": 1}


def versions(arch: str) -> dict:
    """Every metric's version for a run of `arch`."""
    return {**VERSIONS, "iwae": iwae.version(arch)}
TIMED_AS = {"elbo": "bounds", "iwae": "bounds", "recon_accuracy": "recon_accuracy", "knn": "latent", "latent": "latent"}


def fresh_part(folder: Path, settings: dict) -> tuple[dict, set]:
    """The run's saved metrics.json (or {}) and which of its metrics are fresh: made by today's version of
    each, with these settings, from today's weights (a run trained again makes every metric stale)."""
    path = Path(folder) / "metrics.json"
    if not path.is_file():
        return {}, set()
    saved = json.loads(path.read_text())
    same_run = (saved.get("weights_sha256") == runs.weights_sha256(folder) if "weights_sha256" in saved
                else saved.get("run_code") == (runs.read_provenance(folder) or {}).get("code"))   # made before versions
    if not same_run or saved.get("settings") != settings:
        return saved, set()
    return saved, {m for m, v in versions(runs.read_config(folder).arch).items() if provenance.is_fresh(saved, {m: v})}


def evaluate_run(folder: Path | str, clf_path: Path | str, iwae_k: int | None = 1000, knn_k: int = 5,
                 num_threads: int = 0, progress: bool = False, device: str = "cpu") -> dict:
    """All metrics of one finished run, cached in its metrics.json (a stale metric computed again, the fresh
    ones kept), computed on `device` ("auto": CUDA when available); the device is recorded."""
    folder = Path(folder)
    with locks.exclusive(folder):   # one writer per run folder (another runner may be here)
        config = runs.read_config(folder)
        if not runs.is_finished(folder):
            raise Refused(f"{folder} holds no finished run to evaluate")
        settings = settings_of(config, iwae_k, knn_k)
        saved, fresh = fresh_part(folder, settings)
        if fresh == set(versions(config.arch)):
            return saved
        return _compute(folder, config, settings, saved if fresh else {}, fresh, clf_path, iwae_k, num_threads,
                        progress, resolve_device(device))


def _compute(folder: Path, config: RunConfig, settings: dict, saved: dict, fresh: set, clf_path, iwae_k, num_threads,
             progress, device) -> dict:
    """Every metric not in `fresh`, beside the fresh ones of `saved`, into metrics.json."""
    model = load_model(folder, device=device)
    x_test, y_test = data.load(config.dataset, train=False, limit=config.test_limit)
    x_test = x_test.to(device)
    out = {"run": folder.name, "arch": config.arch, "latent_dim": config.latent_dim, "seed": config.seed,
           "dataset": config.dataset, "settings": settings, "seconds": {},
           **{k: v for k, v in saved.items() if k not in ("provenance", "run_code", "weights_sha256", "seconds")}}
    made = {m: v for m, v in provenance.versions_of(saved).items() if m in fresh}
    with CpuShare(num_threads) as share:
        wanted = versions(config.arch)
        for metric in [m for m in wanted if m not in fresh]:
            start = time.perf_counter()
            if metric == "elbo":
                out["test_elbo"] = -mean_loss(model, x_test, seed=config.seed)["loss"]  # as in the history
            elif metric == "iwae":
                out.pop("iwae_bound", None)
                if iwae_k:
                    out["iwae_bound"] = iwae_bound(model, x_test, k=iwae_k, progress=progress,
                                                   each_chunk=share.adjust).mean().item()
            elif metric == "recon_accuracy":
                clf = classifier.load(clf_path).to(device)        # reads reconstructions where they are made
                out["recon_accuracy"], pred = reconstruction_accuracy(model, clf, x_test, y_test)
                out["recon_confusion"] = confusion_matrix(y_test, pred).tolist()
            elif metric == "knn":
                x_train, y_train = data.load(config.dataset, train=True, limit=config.train_limit)
                z_train, z_test = encode_means(model, x_train), encode_means(model, x_test)
                knn = knn_predict(z_train, y_train, z_test, k=settings["knn_k"])
                out["knn_accuracy"] = (knn == y_test).float().mean().item()
                out["knn_confusion"] = confusion_matrix(y_test, knn).tolist()
            else:
                out.update(latent_diagnostics(model, x_test))
            key = TIMED_AS[metric]      # the seconds of what was computed this time, by kind of work
            out["seconds"][key] = out["seconds"].get(key, 0.0) + time.perf_counter() - start
            made[metric] = wanted[metric]
        out["seconds"] = {**saved.get("seconds", {}), **out["seconds"]}
        out["provenance"] = provenance.record(made, device=device, **share.record())
    out["run_code"] = (runs.read_provenance(folder) or {}).get("code")
    out["weights_sha256"] = runs.weights_sha256(folder)
    atomic_write_text(folder / "metrics.json", json.dumps(out, indent=1))
    logger.info(f"{folder.name}: ELBO {out['test_elbo']:.2f}" + (f", IWAE {out['iwae_bound']:.2f}" if iwae_k else "")
        + f", recon acc {out['recon_accuracy']:.4f}, k-NN {out['knn_accuracy']:.4f}, "
          f"{out['active_units']} active units (computed: {', '.join(m for m in wanted if m not in fresh)})")
    return out


def check_arguments(folders, clf_path, iwae_k: int, threads: int, device: str = "cpu") -> None:
    """Refuse bad input before any work: every run folder holds a finished run, the classifier exists,
    the device is one this machine has."""
    check_device(device)
    for name, value in (("--iwae-k", iwae_k), ("--threads", threads)):
        if value < 0:
            raise Refused(f"{name}={value} is not allowed; expected an integer >= 0 ({name} 0: "
                          + ("skip the bound)" if name == "--iwae-k" else "share the cores with other jobs)"))
    for folder in map(Path, folders):
        if runs.read_config(folder) is None:
            raise Refused(f"{folder} holds no run (no config.json); name a run folder such as runs/conv_2_s0")
        if not runs.is_finished(folder):
            raise Refused(f"{folder} holds a run that is not finished ({runs.read_status(folder)['status']}); "
                          f"finish it first: `python -m vaelib train` with its settings resumes it")
    if not Path(clf_path).is_file():
        raise Refused(f"no digit classifier at {clf_path}; make it with `python -m vaelib.classifier {clf_path}`")


def read(folder: Path | str) -> dict:
    return json.loads((Path(folder) / "metrics.json").read_text())


@guard
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vaelib.metrics", description=__doc__, epilog=EXIT_CODES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="finished run folders")
    parser.add_argument("--classifier", required=True, help="the digit classifier (vaelib.classifier)")
    parser.add_argument("--iwae-k", type=int, default=1000, help="importance samples; 0 skips the bound")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: share with other jobs)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda[:N]")
    args = parser.parse_args(argv)
    logs.show()
    check_arguments(args.runs, args.classifier, args.iwae_k, args.threads, args.device)
    for folder in args.runs:
        evaluate_run(folder, args.classifier, iwae_k=args.iwae_k or None, num_threads=args.threads,
                     progress=sys.stderr.isatty(), device=args.device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
