"""Figures of the report (matplotlib/seaborn); each function returns a Figure the notebook shows.

seaborn and adjustText are imported by the figures that use them, not here: both import scipy (seaborn its
scipy.stats, 0.85 s of every training step's start-up), and notebook 01 draws only matplotlib figures from here."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.lines import Line2D
from matplotlib.ticker import NullLocator

from . import palette
from ..config.sweep import seed_runs

ARCH_ORDER = ["linear", "conv"]       # the grid's architectures; extras are drawn only where named
METRICS = {"loss": "total (-ELBO)", "recon": "reconstruction (BCE)", "kl": "KL to N(0, I)"}
D_PALETTE = "colorblind"              # categorical: neighbouring d must not look alike (viridis made 10 and 50 so)


def seeds_label(table: pd.DataFrame) -> str:
    """"seeds 0-9" (or "seed 0") of the rows a figure draws."""
    seeds = table["seed"].unique()
    return f"seed{'s' if len(seeds) > 1 else ''} {seed_runs(seeds)}"


def grid_only(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["arch"].isin(ARCH_ORDER)]


MEDIAN = "the median over the seeds (a typical run)"   # the estimand of a figure's summary marker


def seeds_by_arch(table: pd.DataFrame, column: str = "arch") -> str:
    """"seeds 0-9" where every architecture drawn has the same seeds, else "linear: seeds 0-9; conv: seeds 0-4"."""
    groups = {a: tuple(sorted(set(g["seed"]))) for a, g in table.groupby(column, sort=False)}
    if len(set(groups.values())) <= 1:
        return seeds_label(table)
    return "; ".join(f"{a}: {seeds_label(table[table[column] == a])}" for a in groups)


def _seed_offsets(seeds, half_width: float) -> dict:
    """Each seed's fixed place in a strip of +- half_width around its x (in log10 units of a log axis): seed i
    sits at the same place at every d and in every panel, so one run can be followed; no randomness."""
    seeds = sorted(set(int(s) for s in seeds))
    if len(seeds) == 1:
        return {seeds[0]: 0.0}
    return {s: half_width * (2 * i / (len(seeds) - 1) - 1) for i, s in enumerate(seeds)}


def _seeds_and_median(ax, table: pd.DataFrame, y: str, archs: list[str], colours: dict, log_d: bool = True,
                      arch_shift: float = 0.045, half_width: float = 0.03) -> dict:
    """Every seed's value as a dot, each architecture in its own strip beside d, and the median over seeds at
    each d as a bar across its strip, the medians joined by a line. On a log-d axis (log_d) the shifts are in
    log10 units; otherwise d is categorical (x = its index) and they are in those units. Returns each d's x."""
    dims = sorted(set(int(d) for d in table["latent_dim"]))
    centre_of = {d: float(d) if log_d else float(i) for i, d in enumerate(dims)}
    offsets = _seed_offsets(table["seed"], half_width)

    def place(d, shift):
        d = np.asarray(d, dtype=int)
        centre = np.array([centre_of[int(v)] for v in d])
        return centre * 10 ** shift if log_d else centre + shift

    for k, arch in enumerate(archs):
        rows = table[table["arch"] == arch].dropna(subset=[y])
        shift = arch_shift * (2 * k / (len(archs) - 1) - 1) if len(archs) > 1 else 0.0
        ax.scatter(place(rows["latent_dim"], shift + rows["seed"].map(offsets).to_numpy(float)), rows[y], s=18,
                   color=colours[arch], alpha=0.7, edgecolors="white", linewidths=0.5, zorder=2)
        medians = rows.groupby("latent_dim")[y].median()
        x = place(medians.index, shift)
        ax.plot(x, medians.to_numpy(), color=colours[arch], lw=1.2, zorder=3)
        ax.scatter(x, medians.to_numpy(), marker="_", s=260, linewidths=2.4, color=colours[arch], zorder=4)
    return centre_of


def _seed_legend(archs: list[str], colours: dict) -> dict:
    """Legend entries: one colour per architecture, then what a dot and a bar are."""
    entries = {a: Line2D([], [], color=colours[a], lw=1.2, marker="o", markersize=5) for a in archs}
    entries["one dot: one seed"] = Line2D([], [], ls="none", marker="o", markersize=5, color="grey", alpha=0.7,
                                          markeredgecolor="white", markeredgewidth=0.5)
    entries["bar: " + MEDIAN.replace(" (", "\n(")] = Line2D([], [], color="grey", lw=1.2, marker="_", markersize=16,
                                                        markeredgewidth=2.4)
    return entries


def save(fig, path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def history_long(history: pd.DataFrame) -> pd.DataFrame:
    """Tidy form: one row per (run columns..., epoch, split, metric)."""
    value_cols = [f"{s}_{m}" for s in ("train", "test") for m in METRICS]
    id_cols = [c for c in history.columns if c not in value_cols and c not in ("seconds", "eval_seconds")]
    long = history.melt(id_vars=id_cols, value_vars=value_cols, var_name="column", value_name="nats per image")
    long[["split", "metric"]] = long["column"].str.split("_", n=1, expand=True)
    long["metric"] = long["metric"].map(METRICS)
    return long.drop(columns="column")


def plot_history(history: pd.DataFrame, title: str = ""):
    """One run: total, reconstruction and KL per epoch, train and test."""
    fig, axes = plt.subplots(1, len(METRICS), figsize=(3.3 * len(METRICS), 3), layout="constrained")
    for ax, (metric, label) in zip(axes, METRICS.items()):
        for split in ("train", "test"):
            ax.plot(history["epoch"], history[f"{split}_{metric}"], marker="o", label=split)
        ax.set(title=label, xlabel="epoch", ylabel="nats per image")
    axes[-1].legend(title="split")
    fig.suptitle(title)
    return fig


def epochs_to_show(epochs: int) -> list[int]:
    """The handout's snapshots (epochs 1, 5, 10 and the last) that exist in a run of `epochs`."""
    return sorted({e for e in (1, 5, 10, epochs) if e <= epochs})


def plot_sweep_curves(histories: pd.DataFrame):
    """Every model of the grid: the three metrics per epoch (columns), train and test of each architecture
    (rows), d by colour; a thin line per seed and a thick line for the median over seeds at each epoch (a
    typical run): no band, so a seed that falls away from the others (conv d = 10's seeds 4 and 8) stands apart."""
    import seaborn as sns
    histories = grid_only(histories)
    long = history_long(histories)
    long["latent dimension d"] = long["latent_dim"].astype(str)
    long["panel"] = long["arch"] + ", " + long["split"]           # architecture by panel, d by colour
    order = [f"{a}, {split}" for a in _archs(histories) for split in ("train", "test")]
    hue_order = sorted(long["latent dimension d"].unique(), key=int)
    colours = dict(zip(hue_order, sns.color_palette(D_PALETTE, len(hue_order))))
    grid = sns.relplot(data=long, x="epoch", y="nats per image", hue="latent dimension d", row="panel",
                       row_order=order, col="metric", kind="line", palette=colours, hue_order=hue_order,
                       units="seed", estimator=None, lw=0.6, alpha=0.45, legend=False,
                       facet_kws={"sharey": False}, height=2.6, aspect=1.3)
    grid.map_dataframe(sns.lineplot, x="epoch", y="nats per image", hue="latent dimension d", hue_order=hue_order,
                       palette=colours, estimator="median", errorbar=None, lw=1.8, legend=False)
    grid.set_titles("{row_name}: {col_name}")
    entries = {d: Line2D([], [], color=colours[d], lw=1.8) for d in hue_order}
    entries["thin: one seed"] = Line2D([], [], color="grey", lw=0.6, alpha=0.6)
    entries["thick: " + MEDIAN.replace(" (", "\n(")] = Line2D([], [], color="grey", lw=1.8)
    grid.add_legend(legend_data=entries, title="latent dimension d")
    grid.figure.suptitle(f"thin lines: each of {seeds_by_arch(histories)}; thick line, at each epoch: {MEDIAN}", y=1.02)
    return grid.figure


def plot_final_by_dim(final: pd.DataFrame):
    """Final test metrics against d, per architecture: every seed a dot, the median over seeds (a typical
    run) a bar across them, the medians joined by a line. No mean +- sd: conv's spread at d = 10 is two
    groups of seeds, and a bar over it would cover losses no seed has."""
    import seaborn as sns
    final = grid_only(final)
    archs = _archs(final)
    colours = dict(zip(archs, sns.color_palette(n_colors=len(archs))))
    fig, axes = plt.subplots(1, 3, figsize=(11.5, 3.4))
    for ax, (column, name) in zip(axes, METRICS.items()):
        _seeds_and_median(ax, final, f"test_{column}", archs, colours)
        ax.set(title=f"final test {name}", xlabel="latent dimension d")
        sns.despine(ax=ax)
    axes[0].set_ylabel("nats per image")
    _dims_axis(axes, final["latent_dim"])
    fig.legend(handles=list(_seed_legend(archs, colours).values()), labels=list(_seed_legend(archs, colours)),
               title="architecture", loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.suptitle(f"dots: each of {seeds_by_arch(final)}; bars: {MEDIAN}", y=1.0)
    fig.tight_layout()
    return fig


def plot_bounds_by_dim(table: pd.DataFrame):
    """Test ELBO and IWAE bound (higher is better) against d, per architecture, of one seed's models."""
    import seaborn as sns
    table = grid_only(table)
    long = table.melt(id_vars=["arch", "latent_dim"], value_vars=["test_elbo", "iwae_bound"],
                      var_name="bound", value_name="log p(x) lower bound (nats per image)")
    long["bound"] = long["bound"].map({"test_elbo": "ELBO (K = 1)", "iwae_bound": f"IWAE, K = {int(table['iwae_k'].iloc[0]):,}"})
    long = long.rename(columns={"arch": "architecture"})
    grid = sns.relplot(data=long, x="latent_dim", y="log p(x) lower bound (nats per image)", hue="architecture",
                       hue_order=_archs(table), style="bound", kind="line", marker="o", height=3.5, aspect=1.4)
    _dims_axis(grid, table["latent_dim"])
    grid.set_axis_labels("latent dimension d", "log p(x) lower bound (nats per image)")
    grid.figure.suptitle(f"the models of {seeds_label(table)}", y=1.03)
    return grid.figure


def plot_active_units(scores: pd.DataFrame, kl_dims: pd.DataFrame):
    """Left: active units against d (dotted: d, every unit used), every seed a dot and the median over seeds
    (a typical run) a bar; right: KL per sorted coordinate of the largest-d models, first seed."""
    import seaborn as sns
    scores, kl_dims = grid_only(scores), grid_only(kl_dims)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [1.15, 1]})
    archs = _archs(scores)
    colours = dict(zip(archs, sns.color_palette(n_colors=len(archs))))
    # d categorical here: ties (every seed keeps every unit) need the width to show ten dots side by side
    centre_of = _seeds_and_median(left, scores, "active_units", archs, colours, log_d=False, arch_shift=0.21,
                                  half_width=0.17)
    dims = list(centre_of)
    left.hlines(dims, [centre_of[d] - 0.45 for d in dims], [centre_of[d] + 0.45 for d in dims], color="grey",
                lw=0.9, ls=":", zorder=1)
    rule = scores["active_rule"].iloc[0] if "active_rule" in scores else "variance of the posterior mean > 0.01"
    left.set(yscale="log", xlabel="latent dimension d", ylabel=f"active units\n({rule})")
    left.set_xticks(list(centre_of.values()), [str(d) for d in dims])
    left.set_yticks(dims, [str(d) for d in dims])
    left.yaxis.set_minor_locator(NullLocator())
    entries = _seed_legend(archs, colours)
    entries["d (every unit used)"] = Line2D([], [], color="grey", lw=0.9, ls=":")
    left.legend(handles=list(entries.values()), labels=list(entries), frameon=False, title="architecture",
                fontsize=8, title_fontsize=9)
    left.set_title(f"dots: each of {seeds_by_arch(scores)}; bars: {MEDIAN}", fontsize=10)
    largest = kl_dims[(kl_dims["latent_dim"] == kl_dims["latent_dim"].max())
                      & (kl_dims["seed"] == kl_dims["seed"].min())]
    sns.lineplot(data=largest, x="rank", y="kl", hue="arch", hue_order=_archs(largest), marker=".", ax=right)
    right.set(xlabel=f"latent coordinate, sorted by KL (d={int(largest['latent_dim'].max())})",
              ylabel="KL to the prior (nats)")
    right.set_yscale("symlog", linthresh=0.01)
    right.set_yticks([0, 0.01, 0.1, 1, 10], ["0", "0.01", "0.1", "1", "10"])
    right.yaxis.set_minor_locator(NullLocator())
    right.set_ylim(bottom=0)
    right.set_title(f"{seeds_label(largest)} only", fontsize=10)
    right.legend(frameon=False, title="architecture")
    fig.tight_layout()
    return fig


def plot_extra(final: pd.DataFrame, arch: str, base: str, controls=()):
    """An extra against the grid arch it varies (and the extra's controls, where trained): final test loss at
    its d, every seed (points) and the median over seeds (a bar across them: a typical run), one panel per d
    (their losses differ by more than the effect); the title says which seeds each architecture has."""
    import seaborn as sns
    order = [base, arch] + [c for c in controls if c in set(final["arch"])]
    table = final[final["arch"].isin(order)]
    dims = sorted(table.loc[table["arch"] == arch, "latent_dim"].unique())
    table = table[table["latent_dim"].isin(dims)].rename(columns={"arch": "architecture"})
    grid = sns.catplot(data=table, x="architecture", y="test_loss", col="latent_dim", order=order,
                       kind="point", estimator="median", errorbar=None, color="black", marker="_", markersize=28,
                       linestyle="none", height=3.2, aspect=0.9, sharey=False)
    # seaborn jitters the points with numpy's global generator: seeded here (and the caller's state put back),
    # so that the same results draw the same figure
    state = np.random.get_state()
    np.random.seed(0)
    try:
        grid.map_dataframe(sns.stripplot, x="architecture", y="test_loss", order=order, hue="seed",
                           palette="dark", size=6, jitter=0.12)
    finally:
        np.random.set_state(state)
    grid.set_titles("latent dimension d = {col_name}")
    grid.set_axis_labels("", "final test loss (nats per image)")
    grid.add_legend(title="seed")
    seeds = "; ".join(f"{a}: {seeds_label(table[table['architecture'] == a])}" for a in order)
    grid.figure.suptitle(f"points: each seed ({seeds})\nblack bar: {MEDIAN}", y=1.1)
    return grid.figure


def _archs(table: pd.DataFrame) -> list[str]:
    return [a for a in ARCH_ORDER if a in set(table["arch"])]


def _dims_axis(grid, dims):
    """Log-scaled latent dimension axis labelled with the dimensions themselves (a FacetGrid's or a list of axes)."""
    dims = sorted(set(int(d) for d in dims))
    for ax in (grid.axes.flat if hasattr(grid, "axes") else grid):
        ax.set_xscale("log")
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticks(dims, [str(d) for d in dims])


def show_images(paths: dict, ncols: int = 2, size: float = 3.2):
    """Saved PNG grids side by side, each titled by its key."""
    n = len(paths)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * 0.6), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, path) in zip(axes.flat, paths.items()):
        ax.imshow(plt.imread(path), cmap="gray")
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_latent_grid(grid: torch.Tensor, values, title: str = ""):
    """An image from latent.decode_grid, with its axes labelled by the z values decoded."""
    n = len(values)
    fig, ax = plt.subplots(figsize=(0.45 * n + 1.5, 0.45 * n + 1.5))
    ax.imshow(grid.permute(1, 2, 0).numpy(), extent=(0, n, 0, n))
    ticks = [i + 0.5 for i in range(n)]
    labels = [f"{float(v):.2g}" for v in values]
    ax.set_xticks(ticks, labels, fontsize=7, rotation=90 if n > 7 else 0)
    ax.set_yticks(ticks, labels, fontsize=7)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_title(title)
    return fig


def plot_embedding(z2: torch.Tensor, labels: torch.Tensor, title: str = "", ax=None,
                   xlabel="$z_1$ (mean)", ylabel="$z_2$ (mean)", class_names=None, legend_title="digit"):
    """Scatter of 2-D latent points coloured by class, each class's centroid (the mean, which claim 4 ranks)
    marked by a dot and its number; numbers that would cover one another are moved apart (adjustText), each
    joined to its dot by a line."""
    import seaborn as sns
    from adjustText import adjust_text
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5.5))
    names = class_names or [str(c) for c in range(int(labels.max()) + 1)]
    frame = pd.DataFrame({"x": z2[:, 0].numpy(), "y": z2[:, 1].numpy(), "label": labels.numpy()})
    frame["class"] = [f"{c}: {names[c]}" if class_names else names[c] for c in frame["label"]]
    order = [f"{c}: {n}" if class_names else n for c, n in enumerate(names)]
    sns.scatterplot(data=frame, x="x", y="y", hue="class", hue_order=order, palette=list(palette.DIGITS[:len(order)]), s=4, linewidth=0,
                    alpha=0.6, ax=ax, legend="full")
    centres = frame.groupby("label")[["x", "y"]].mean()
    ax.scatter(centres["x"], centres["y"], s=12, c="white", edgecolors="black", linewidths=0.8, zorder=3)
    texts = [ax.text(centre["x"], centre["y"], str(label), fontsize=13, weight="bold", ha="center", va="center",
                     zorder=4, bbox={"boxstyle": "circle,pad=0.2", "fc": "white", "alpha": 0.8, "lw": 0})
             for label, centre in centres.iterrows()]
    ax.legend(title=legend_title, markerscale=4, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    # a number that covers no other stays on its centroid; only crowded ones move. adjustText keeps the texts'
    # own boxes apart: `expand` grows a one-digit box to the circle drawn around it
    adjust_text(texts, ax=ax, avoid_self=False, expand=(2.0, 1.45),
                arrowprops={"arrowstyle": "-", "color": "black", "lw": 0.8, "shrinkA": 0, "shrinkB": 0})
    return ax.figure


def plot_confusion(matrix: torch.Tensor, title: str = "", ax=None):
    """Row-normalized confusion matrix in percent (rows: true digit)."""
    import seaborn as sns
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 4.5))
    percent = (100 * matrix / matrix.sum(1, keepdim=True)).numpy()
    sns.heatmap(percent, annot=True, fmt=".0f", cmap="Blues", cbar=False, ax=ax, annot_kws={"fontsize": 7})
    ax.set(xlabel="predicted digit", ylabel="true digit", title=title)
    return ax.figure
