"""The reference run's results: NLL by kept epoch, the side-by-side with the paper, and its figure."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from ..config.reference import PAPER, pieces, snapshot_epochs, test_size
from ..config.protocols import PROTOCOLS
from ..config.run import RunConfig
from ..data import datasets as data
from ..evaluation.nll import evaluate_images
from ..training import runs


def nll(parts: list[dict]) -> dict:
    """-mean bound over the images of `parts`, its standard error, and the seconds spent."""
    bounds = torch.tensor([b for p in parts for b in p["bounds"]], dtype=torch.float64)
    return {"nll": -bounds.mean().item(), "nll_sem": (bounds.std() / len(bounds) ** 0.5).item(),
            "images": len(bounds), "seconds": sum(p["seconds"] for p in parts)}


def by_epoch_table(folder: Path, k: int, curve_images: int) -> pd.DataFrame:
    """Epoch, training minutes so far, -ELBO on the whole test set, NLL (K) on the first curve images."""
    history = runs.load_history(folder)
    cfg = RunConfig.from_params(**runs.read_config(folder))
    rows = []
    for epoch in snapshot_epochs(cfg.epochs):
        point = nll([evaluate_images(folder, epoch, k, 0, min(curve_images, test_size(cfg)))])
        done = history[history["epoch"] <= epoch]
        rows.append({"epoch": epoch, "train_minutes": done["seconds"].sum() / 60,
                     "test_neg_elbo": float(done["test_loss"].iloc[-1]), "nll": point["nll"],
                     "nll_sem": point["nll_sem"], "k": k, "test_images": point["images"],
                     "eval_minutes": point["seconds"] / 60})
    return pd.DataFrame(rows)


def summary(folder: Path, table: pd.DataFrame, k: int, wall_minutes: float, engine: str, command: str) -> dict:
    cfg = RunConfig.from_params(**runs.read_config(folder))
    parts = [evaluate_images(folder, cfg.epochs, k, a, b) for a, b in pieces(test_size(cfg))]
    final = nll(parts)
    history = runs.load_history(folder)
    ours = {"nll": final["nll"], "nll_sem": final["nll_sem"], "k": k, "test_images": final["images"],
            "latent_dim": cfg.latent_dim, "epochs": cfg.epochs, "batch_size": cfg.batch_size, "lr": cfg.lr,
            "seed": cfg.seed, "protocol": cfg.protocol, "train_images": len(data.load(cfg.dataset, train=True, limit=cfg.train_limit)[1]),
            "train_minutes": history["seconds"].sum() / 60, "final_eval_minutes": final["seconds"] / 60,
            "curve_eval_minutes": float(table["eval_minutes"].sum()), "wall_minutes": wall_minutes}
    return {"paper": PAPER, "ours": ours, "gap_nats": ours["nll"] - PAPER["vae_nll"],
            "epochs_share_of_paper": cfg.epochs / PAPER["epochs"],
            "binarization_seeds": data.FIXED_BINARIZATION_SEED,
            "protocol_settings": {name: dict(PROTOCOLS[name].rows()) for name in ("plain", "burda")}, "engine": engine, "command": command,
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
