"""Our likelihood against the literature: the VAE of Burda et al. (2015) on dynamically binarized MNIST.

    python -m vaelib.reference                       # 64 epochs, NLL with K=5,000 on the whole test set
    python -m vaelib.reference --epochs 3280         # the paper's length (a GPU or a cluster: --scheduler)

Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders" (2015), Table 1: a VAE with one
stochastic layer (784-200-200-50, tanh; models.BurdaVAE), trained with k=1 on dynamically binarized
MNIST (data: "mnist-binarized"), reaches a test negative log-likelihood of 86.76 nats, estimated with
the IWAE bound at K=5,000. This command trains that model with our training engine (batch 20 as in
the paper, Adam at the paper's first learning rate 1e-3, constant: the paper lowers it over 3,280
epochs), keeps its weights at epochs 1, 2, 4, 8, ... and the last, and evaluates each with the IWAE
bound: on the first --curve-images test images for the curve by epoch, on the whole (fixed-binarized)
test set for the last epoch. The steps are tasks on the report's Dask engine (the snapshots are
evaluated in parallel). Writes results/reference_by_epoch.csv, results/reference.json (the
side-by-side with the paper, settings, times, provenance) and figures/reference_nll.png, and renders
REPORT.md again when a report lives in the same folders (its section "Against the literature").
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path

import pandas as pd
import torch

from . import data, launch, locks, paths, provenance, runs, writeup
from .atomic import atomic_write_text
from .config import ConfigError, RunConfig
from .cpushare import CpuShare
from .memwatch import PeakMemory
from .schedule import Task, TaskFailed, cluster, describe, run_all

# Burda et al. (2015), Table 1, MNIST, one stochastic layer: the published numbers we compare with.
PAPER = {"source": "Burda, Grosse & Salakhutdinov (2015), Importance Weighted Autoencoders, Table 1",
         "vae_nll": 86.76, "iwae_k50_nll": 84.78, "epochs": 3280, "k": 5000, "batch_size": 20}
LATENT_DIM = 50
FINAL_PIECES = 4     # the whole-test-set estimate as this many tasks (parallel on the engine's workers)


def config(epochs: int = 64, batch_size: int = 20, lr: float = 1e-3, seed: int = 0,
           train_limit: int | None = None, test_limit: int | None = None, num_threads: int = 0) -> RunConfig:
    """The reference run's configuration (validated: a bad value is refused before any work)."""
    return RunConfig(arch="burda", latent_dim=LATENT_DIM, dataset="mnist-binarized", epochs=epochs,
                     batch_size=batch_size, lr=lr, seed=seed, train_limit=train_limit, test_limit=test_limit,
                     num_threads=num_threads)


def snapshot_epochs(epochs: int) -> list[int]:
    """1, 2, 4, 8, ... up to `epochs`, and `epochs` itself: a curve even on a log axis."""
    out, e = [], 1
    while e < epochs:
        out.append(e)
        e *= 2
    return out + [epochs]


def weights_of(folder: Path, epoch: int, last: int) -> Path:
    return folder / ("weights.pt" if epoch == last else f"weights_epoch{epoch}.pt")


def evaluate_images(folder: Path | str, epoch: int, k: int, start: int, stop: int, num_threads: int = 0,
                    log=print) -> dict:
    """The IWAE bound (K=k) of the weights after `epoch` on test images [start, stop), one per image,
    cached in the run folder with the code that made it (recomputed when anything differs)."""
    from .metrics import iwae_bound
    from .models import load_model
    folder = Path(folder)
    cfg = runs.read_config(folder)
    if not runs.is_finished(folder):
        raise FileNotFoundError(f"{folder} holds no finished run to evaluate")
    name = f"nll_epoch{epoch}_k{k}_images{start}-{stop}"
    settings = {"epoch": epoch, "k": k, "start": start, "stop": stop, "seed": start}
    run_code = (runs.read_provenance(folder) or {}).get("code")
    with locks.exclusive(folder / name, log=log):
        if (saved := cached(folder, epoch, k, start, stop)) is not None:
            return saved
        model = load_model(weights_of(folder, epoch, cfg["epochs"]))
        x_test = data.load(cfg["dataset"], train=False, limit=cfg.get("test_limit"))[0][start:stop]
        begin = time.perf_counter()
        with CpuShare(num_threads) as share:
            bounds = iwae_bound(model, x_test, k=k, seed=start, each_chunk=share.adjust)
            out = {"settings": settings, "bounds": bounds.tolist(), "seconds": time.perf_counter() - begin,
                   "run_code": run_code, "provenance": provenance.record(provenance.EVALUATION_CODE, **share.record())}
        atomic_write_text(folder / f"{name}.json", json.dumps(out))
        log(f"{folder.name} epoch {epoch}: NLL {-bounds.mean().item():.2f} (K={k}, test images {start}-{stop}, "
            f"{out['seconds']:.0f}s)")
        return out


def cached(folder: Path, epoch: int, k: int, start: int, stop: int) -> dict | None:
    """The saved bounds of these images when today's code made them for today's run, else None."""
    path = Path(folder) / f"nll_epoch{epoch}_k{k}_images{start}-{stop}.json"
    if not path.is_file():
        return None
    saved = json.loads(path.read_text())
    fresh = (saved["settings"] == {"epoch": epoch, "k": k, "start": start, "stop": stop, "seed": start}
             and saved["provenance"]["code"] == provenance.fingerprint(provenance.EVALUATION_CODE)
             and saved["run_code"] == (runs.read_provenance(folder) or {}).get("code"))
    return saved if fresh else None


def trained(cfg: RunConfig, folder: Path) -> bool:
    """A finished run of exactly this config by today's training code is in `folder`."""
    saved = runs.read_config(folder)
    return (saved is not None and not runs.config_differences(saved, cfg) and runs.is_finished(folder)
            and not runs.is_stale(folder))


def pieces(n: int, count: int = FINAL_PIECES) -> list[tuple[int, int]]:
    """[0, n) in `count` near-equal ranges: the whole-test-set estimate as parallel tasks."""
    edges = [round(i * n / count) for i in range(count + 1)]
    return [(a, b) for a, b in zip(edges, edges[1:]) if b > a]


def nll(parts: list[dict]) -> dict:
    """-mean bound over the images of `parts`, its standard error, and the seconds spent."""
    bounds = torch.tensor([b for p in parts for b in p["bounds"]], dtype=torch.float64)
    return {"nll": -bounds.mean().item(), "nll_sem": (bounds.std() / len(bounds) ** 0.5).item(),
            "images": len(bounds), "seconds": sum(p["seconds"] for p in parts)}


def test_size(cfg: RunConfig) -> int:
    return min(cfg.test_limit or 10000, 10000)


def build_tasks(cfg: RunConfig, runs_dir: Path, k: int, curve_images: int, threads: int | None) -> list[Task]:
    """Train (keeping the snapshots), then every snapshot's curve point and the whole-test-set NLL in pieces."""
    common = ["--runs-dir", str(runs_dir), "--epochs", str(cfg.epochs), "--batch-size", str(cfg.batch_size),
              "--lr", str(cfg.lr), "--seed", str(cfg.seed), "--threads", str(threads or 0)]
    common += [] if cfg.train_limit is None else ["--train-limit", str(cfg.train_limit)]
    common += [] if cfg.test_limit is None else ["--test-limit", str(cfg.test_limit)]
    per_epoch = 20 * (cfg.train_limit or 60000) / 60000 * 20 / cfg.batch_size
    folder = runs_dir / cfg.name
    done = trained(cfg, folder)
    tasks = [] if done else [Task("train reference", partial(
        launch.python, ["-m", "vaelib.reference", "--step", "train", *common], "train reference"),
        cost=per_epoch * cfg.epochs)]
    n = test_size(cfg)
    steps = [(e, 0, min(curve_images, n)) for e in snapshot_epochs(cfg.epochs)]
    steps += [(cfg.epochs, a, b) for a, b in pieces(n)]
    for epoch, a, b in dict.fromkeys(steps):       # a curve point can be a piece of the last epoch's estimate
        if done and cached(folder, epoch, k, a, b) is not None:
            continue
        label = f"NLL epoch {epoch}, test images {a}-{b}"
        args = [*common, "--step", "evaluate", "--epoch", str(epoch), "--k", str(k), "--images", f"{a}-{b}"]
        tasks.append(Task(label, partial(launch.python, ["-m", "vaelib.reference", *args], label,
                                         {"MALLOC_MMAP_THRESHOLD_": "65536"}),   # see metrics.iwae_bound
                          cost=0.12 * k / 1000 * (b - a), deps=() if done else ("train reference",)))
    return tasks


def by_epoch_table(folder: Path, k: int, curve_images: int) -> pd.DataFrame:
    """Epoch, training minutes so far, -ELBO on the whole test set, NLL (K) on the first curve images."""
    history = runs.load_history(folder)
    cfg = RunConfig.from_params(**runs.read_config(folder))
    rows = []
    for epoch in snapshot_epochs(cfg.epochs):
        point = nll([evaluate_images(folder, epoch, k, 0, min(curve_images, test_size(cfg)), log=lambda *_: None)])
        done = history[history["epoch"] <= epoch]
        rows.append({"epoch": epoch, "train_minutes": done["seconds"].sum() / 60,
                     "test_neg_elbo": float(done["test_loss"].iloc[-1]), "nll": point["nll"],
                     "nll_sem": point["nll_sem"], "k": k, "test_images": point["images"],
                     "eval_minutes": point["seconds"] / 60})
    return pd.DataFrame(rows)


def summary(folder: Path, table: pd.DataFrame, k: int, wall_minutes: float, engine: str, command: str) -> dict:
    cfg = RunConfig.from_params(**runs.read_config(folder))
    parts = [evaluate_images(folder, cfg.epochs, k, a, b, log=lambda *_: None) for a, b in pieces(test_size(cfg))]
    final = nll(parts)
    history = runs.load_history(folder)
    ours = {"nll": final["nll"], "nll_sem": final["nll_sem"], "k": k, "test_images": final["images"],
            "latent_dim": cfg.latent_dim, "epochs": cfg.epochs, "batch_size": cfg.batch_size, "lr": cfg.lr,
            "seed": cfg.seed, "train_images": len(data.load(cfg.dataset, train=True, limit=cfg.train_limit)[1]),
            "train_minutes": history["seconds"].sum() / 60, "final_eval_minutes": final["seconds"] / 60,
            "curve_eval_minutes": float(table["eval_minutes"].sum()), "wall_minutes": wall_minutes}
    return {"paper": PAPER, "ours": ours, "gap_nats": ours["nll"] - PAPER["vae_nll"],
            "epochs_share_of_paper": cfg.epochs / PAPER["epochs"],
            "binarization_seeds": data.FIXED_BINARIZATION_SEED, "engine": engine, "command": command,
            "run": folder.name, "run_provenance": runs.read_provenance(folder),
            "evaluation_provenance": parts[-1]["provenance"]}


def plot(table: pd.DataFrame, info: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(table["epoch"], table["test_neg_elbo"], "o-", label="ours: -ELBO, whole test set")
    ax.errorbar(table["epoch"], table["nll"], yerr=table["nll_sem"], fmt="s-",
                label=f"ours: NLL (IWAE K={info['ours']['k']:,}), first {int(table['test_images'].iloc[0]):,} test images")
    ax.plot([info["ours"]["epochs"]], [info["ours"]["nll"]], "k*", ms=12,
            label=f"ours: NLL (K={info['ours']['k']:,}), whole test set")
    ax.axhline(PAPER["vae_nll"], color="grey", ls="--", label=f"paper: VAE {PAPER['vae_nll']} ({PAPER['epochs']:,} epochs)")
    ax.axhline(PAPER["iwae_k50_nll"], color="grey", ls=":", label=f"paper: IWAE k=50 {PAPER['iwae_k50_nll']}")
    ax.set(xscale="log", xlabel="epoch", ylabel="nats per image (lower is better)",
           title="Burda et al.'s VAE on dynamically binarized MNIST")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(cfg: RunConfig, where: paths.Paths, k: int, curve_images: int, jobs: int, address: str | None,
        command: str) -> dict:
    """The whole reference comparison on the engine; the result files' contents."""
    start = time.perf_counter()
    with PeakMemory(every=1.0) as watch, cluster(jobs, address) as client:
        engine = f"Dask {'scheduler ' + address if address else 'LocalCluster'}: {describe(client)}"
        threads = None if address else 1
        tasks = build_tasks(cfg, where.runs, k, curve_images, threads)
        if not tasks:
            print(f"{where.runs / cfg.name}: trained and evaluated by today's code, reused")
        run_all(tasks, client, desc="reference")
    folder = where.runs / cfg.name
    table = by_epoch_table(folder, k, curve_images)
    info = summary(folder, table, k, (time.perf_counter() - start) / 60, engine, command)
    info["peak_memory_mb"] = watch.mb
    atomic_write_text(where.results / "reference_by_epoch.csv", table.to_csv(index=False))
    atomic_write_text(where.results / "reference.json", json.dumps(info, indent=1, default=str))
    plot(table, info, where.figures / "reference_nll.png")
    if (where.results / "run.json").is_file():      # a report lives here: its write-up gains this section
        writeup.render_to(where.results, where.results.parent / "REPORT.md")
    return info


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vaelib.reference", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", default=64, help="training epochs (default %(default)s; the paper: 3,280)")
    parser.add_argument("--batch-size", default=20)
    parser.add_argument("--lr", default=1e-3)
    parser.add_argument("--seed", default=0)
    parser.add_argument("--k", type=int, default=5000, help="importance samples of the NLL estimate")
    parser.add_argument("--curve-images", type=int, default=500, help="test images for the curve by epoch")
    parser.add_argument("--train-limit", default=None)
    parser.add_argument("--test-limit", default=None)
    parser.add_argument("--jobs", type=int, default=2, help="local workers (default 2)")
    parser.add_argument("--scheduler", default=None, help="address of a running Dask scheduler")
    parser.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--step", choices=("all", "train", "evaluate"), default="all", help=argparse.SUPPRESS)
    parser.add_argument("--epoch", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--images", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help="put runs/, figures/, results/ here")
    parser.add_argument("--runs-dir", default=None)
    parser.add_argument("--results-dir", default=None)
    parser.add_argument("--figures-dir", default=None)
    args = parser.parse_args(argv)
    try:
        cfg = config(args.epochs, args.batch_size, args.lr, args.seed, args.train_limit, args.test_limit,
                     args.threads)
        for name in ("k", "curve_images", "jobs"):
            if getattr(args, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')}={getattr(args, name)} is not allowed; expected an integer >= 1")
        data.verify(cfg.dataset)
    except (ConfigError, data.DataError) as e:
        parser.error(str(e))
    where = paths.resolve(out=args.out, runs_dir=args.runs_dir, figures_dir=args.figures_dir,
                          results_dir=args.results_dir)
    if args.step == "train":
        from .train import train
        train(cfg, where.runs, snapshot_epochs=snapshot_epochs(cfg.epochs)[:-1])   # the last is weights.pt
        return 0
    if args.step == "evaluate":
        start, stop = (int(i) for i in args.images.split("-"))
        evaluate_images(where.runs / cfg.name, args.epoch, args.k, start, stop, cfg.num_threads)
        return 0
    where.make()
    try:
        info = run(cfg, where, args.k, args.curve_images, args.jobs, args.scheduler,
                   "python -m vaelib.reference " + " ".join(argv if argv is not None else sys.argv[1:]))
    except TaskFailed as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    ours = info["ours"]
    print(f"NLL {ours['nll']:.2f} nats (K={ours['k']:,}, {ours['test_images']:,} test images) after "
          f"{ours['epochs']} epochs; the paper: {PAPER['vae_nll']} after {PAPER['epochs']:,}; gap "
          f"{info['gap_nats']:+.2f} nats. {where.results / 'reference.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
