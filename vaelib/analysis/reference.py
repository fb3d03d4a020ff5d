"""The reference run's results: NLL by kept epoch, the side-by-side with the paper, and its figure."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from ..config.reference import (AUTHORS_ACTIVE_VARIANCE, DRAW_K, DRAWS, PAPER, STAGE_ENDS, pieces, snapshot_epochs,
                                stage_of, test_size)
from ..data import datasets as data
from ..core.bounds import mean_loss
from ..core.models import load_model
from ..evaluation.latent import encode_means
from ..evaluation.nll import estimate_nll
from ..training import runs
from ..training.protocols import PROTOCOLS
from . import inference


PAPER_ACTIVE_UNIT_IMAGES = 500     # the authors' code counts active units on this many training images


def per_image(parts: list[dict]) -> np.ndarray:
    """Each image's NLL estimate (-its bound), over the images of `parts` in order."""
    return -np.array([b for p in parts for b in p["bounds"]], dtype=np.float64)


def nll(parts: list[dict]) -> dict:
    """-mean bound over the images of `parts`, its standard error, and the seconds spent."""
    values = per_image(parts)
    return {"nll": values.mean(), "nll_sem": values.std(ddof=1) / len(values) ** 0.5,
            "images": len(values), "seconds": sum(p["seconds"] for p in parts)}


def by_epoch_table(folder: Path, k: int, curve_images: int) -> pd.DataFrame:
    """Per kept epoch (the end of each stage reached): its stage and learning rate, the training minutes of
    that stage and so far, -ELBO on the whole test set (from the history) and on the first curve images of the
    test set, NLL (K) on those same images."""
    history = runs.load_history(folder)
    cfg = runs.read_config(folder)
    protocol = PROTOCOLS[cfg.protocol]
    n = min(curve_images, test_size(cfg))
    x_curve = data.load(cfg.dataset, train=False, limit=cfg.test_limit)[0][:n]     # the NLL's images, for the ELBO too
    rows, before = [], 0
    for epoch in snapshot_epochs(cfg.epochs):
        point = nll([estimate_nll(folder, epoch, k, 0, n)])
        model = load_model(runs.weights_of(folder, epoch, cfg.epochs))
        done = history[history["epoch"] <= epoch]
        stage = done[done["epoch"] > before]
        rows.append({"epoch": epoch, "stage": stage_of(epoch), "stage_epochs": epoch - before, "learning_rate": protocol.learning_rate(cfg.lr, epoch),
                     "stage_minutes": stage["seconds"].sum() / 60, "train_minutes": done["seconds"].sum() / 60,
                     "test_neg_elbo": float(done["test_loss"].iloc[-1]),
                     "test_neg_elbo_curve_images": mean_loss(model, x_curve, seed=cfg.seed)["loss"], "nll": point["nll"],
                     "nll_sem": point["nll_sem"], "k": k, "test_images": point["images"],
                     "eval_minutes": point["seconds"] / 60})
        before = epoch
    return pd.DataFrame(rows)


def active_units(folder: Path, epoch: int, images: int = PAPER_ACTIVE_UNIT_IMAGES) -> dict:
    """Active units of the weights after `epoch` as the authors count them: on the first `images` training
    images (their fixed binarization), a unit is active when its posterior mean varies by more than 0.01.
    The count beside the paper's, without a test: one seed on each side, and resampling the images says
    nothing of the seed (a bootstrap over them gave [20, 20])."""
    cfg = runs.read_config(folder)
    model = load_model(runs.weights_of(folder, epoch, cfg.epochs))
    x = data.load(cfg.dataset, train=True, limit=images)[0]
    means = encode_means(model, x).double().numpy()
    count = int((np.var(means, axis=0, ddof=1) > AUTHORS_ACTIVE_VARIANCE).sum())
    return {"count": count, "difference": count - PAPER["active_units"]}


def binarizations(folder: Path, epoch: int) -> dict:
    """The NLL of the same weights on the whole test set under DRAWS binarizations (draw 0: the fixed one) at
    DRAW_K, each mean, and the gap's interval from their spread (inference.between_draws, filled in by summary)."""
    n = test_size(runs.read_config(folder))
    means = [nll([estimate_nll(folder, epoch, DRAW_K, 0, n, draw=draw)])["nll"] for draw in range(DRAWS)]
    return {"k": DRAW_K, "test_images": n, "nll": means}


def summary(folder: Path, table: pd.DataFrame, k: int, wall_minutes: float, engine: str, command: str) -> dict:
    cfg = runs.read_config(folder)
    parts = [estimate_nll(folder, cfg.epochs, k, a, b) for a, b in pieces(test_size(cfg))]
    final = nll(parts)
    n = min(int(table["test_images"].iloc[-1]), test_size(cfg))
    subset_parts = {split: [estimate_nll(folder, cfg.epochs, k, 0, n, split=split)] for split in ("train", "test")}
    subset = {split: nll(p) for split, p in subset_parts.items()}
    # the training images have the lower NLL (overfitting): Welch over the two subsets' images
    overfit = {key: v for key, v in inference.welch(per_image(subset_parts["train"]),
                                                       per_image(subset_parts["test"]),
                                                       inference.margin_of("test_loss")).items()
               if key not in ("seeds", "seeds_needed")}
    history = runs.load_history(folder)
    units = active_units(folder, cfg.epochs)
    ours = {"active_units": units["count"], "nll": final["nll"], "nll_sem": final["nll_sem"], "k": k, "test_images": final["images"],
            "latent_dim": cfg.latent_dim, "epochs": cfg.epochs, "batch_size": cfg.batch_size, "lr": cfg.lr,
            "seed": cfg.seed, "protocol": cfg.protocol, "train_images": len(data.load(cfg.dataset, train=True, limit=cfg.train_limit)[1]),
            "train_minutes": history["seconds"].sum() / 60, "final_eval_minutes": final["seconds"] / 60,
            "curve_eval_minutes": float(table["eval_minutes"].sum()), "wall_minutes": wall_minutes,
            "subset_images": n, "train_subset_nll": subset["train"]["nll"], "train_subset_sem": subset["train"]["nll_sem"],
            "test_subset_nll": subset["test"]["nll"], "test_subset_sem": subset["test"]["nll_sem"],
            "active_unit_images": PAPER_ACTIVE_UNIT_IMAGES,
            "stage": stage_of(cfg.epochs), "stages_done": sum(end <= cfg.epochs for end in STAGE_ENDS)}
    draws = binarizations(folder, cfg.epochs)
    return {"paper": PAPER, "ours": ours, "gap_nats": ours["nll"] - PAPER["vae_nll"],
            "binarizations": draws, "gap": inference.between_draws(ours["nll"] - PAPER["vae_nll"], draws["nll"]),
            "overfit": overfit,
            "active_units": units,
            "epochs_share_of_paper": cfg.epochs / PAPER["epochs"],
            "binarization_seeds": data.FIXED_BINARIZATION_SEED,
            "protocol_settings": {name: asdict(p.description) for name, p in PROTOCOLS.items()}, "engine": engine, "command": command,
            "run": folder.name, "run_provenance": runs.read_provenance(folder),
            "evaluation_provenance": parts[-1]["provenance"]}


def plot(table: pd.DataFrame, info: dict, path: Path) -> None:
    """Two panels, each comparing like with like: left, our run through its stages, its -ELBO and NLL on the
    same first test images; right, the whole test set: ours at the last epoch reached against the paper's
    two numbers."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    o = info["ours"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [1.6, 1]})
    first = f"first {int(table['test_images'].iloc[0]):,} test images"
    left.plot(table["epoch"], table["test_neg_elbo_curve_images"], "o-", label=f"-ELBO, {first}")
    left.errorbar(table["epoch"], table["nll"], yerr=table["nll_sem"], fmt="s-", label=f"NLL (K = {o['k']:,}), {first}")
    staged = "stage" in table.columns
    left.set(xscale="log", xlabel="epoch (end of each stage reached)" if staged else "epoch (kept weights)",
             ylabel="nats per image (lower is better)",
             title="our run, by stage of the authors' schedule" if staged else "our run, by kept epoch")
    left.legend(fontsize=7, frameon=False)
    names = [f"ours, epoch {o['epochs']:,}\nK = {o['k']:,}", f"paper: VAE\n{PAPER['epochs']:,} epochs",
             "paper: IWAE\nk = 50"]
    values = [o["nll"], PAPER["vae_nll"], PAPER["iwae_k50_nll"]]
    # ours: the gap's 95% interval from the binarizations (inference.between_draws), not the images' spread
    gap = info.get("gap", {})
    half = (gap["ci_high"] - gap["ci_low"]) / 2 if "draws" in gap else o["nll_sem"]
    right.errorbar(range(3), values, yerr=[half, 0, 0], fmt="none", ecolor="black", capsize=4)
    right.scatter(range(3), values, c=["C1", "0.4", "0.6"], s=60, zorder=3)
    for x, v in enumerate(values):
        right.text(x + 0.08, v, f"{v:.2f}", va="center", fontsize=8)
    right.set_xticks(range(3), names)
    right.set_xlim(-0.5, 2.7)
    right.set_ylim(min(values) - 2, max(values) + 2)
    right.set(ylabel="test NLL, whole test set (nats per image)", title=f"all {o['test_images']:,} test images")
    if "draws" in gap:
        right.text(0.1, values[0] - half - 0.3, f"bar: 95% interval over\n{gap['draws']} test binarizations",
                   ha="left", va="top", fontsize=7)
    right.tick_params(axis="x", labelsize=7)
    fig.suptitle("Burda et al.'s VAE on dynamically binarized MNIST (seed 0)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
