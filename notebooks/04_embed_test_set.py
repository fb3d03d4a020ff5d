# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · Embed the test set
#
# Where does the encoder put each test image? For the 2-D models we plot the posterior means of the
# test images, coloured by their true digit (the handout's right-hand figure). For d > 2 we project the
# means on their two principal axes. We then measure what the pictures suggest, for every seed: how far each
# digit's cluster lies from the origin, which digits a 5-nearest-neighbour classifier in latent space
# confuses (computed once, by the evaluation step, in each run's `metrics.json`), and how many latent
# dimensions each model actually uses.

# %% tags=["parameters"]
import os

sweep = None          # what the report covers (vaelib.Sweep settings); None: the default sweep
runs_dir = None       # None: the project's folders (its smoke folders in smoke mode)
figures_dir = None
results_dir = None
executed_dir = None
smoke_test = "CI" in os.environ

# %%
import matplotlib.pyplot as plt
import torch
from vaelib.analysis import plots, tables
from vaelib.data import datasets as data
from vaelib.evaluation import latent, metrics
from vaelib.notebook import setup
from vaelib.core.models import load_model

sweep, where = setup.notebook_setup(sweep, smoke_test, runs_dir, figures_dir, results_dir, executed_dir)
folders = tables.run_folders(where.runs, sweep)
x_test, y_test = data.load(sweep.dataset, train=False, limit=sweep.test_limit)   # the models' own pixels
first = sweep.seeds[0]

# %% [markdown]
# ## The 2-D embeddings
#
# Look for the clusters: which digits sit at the edge of the cloud, in tight groups of their own, and which
# overlap in the middle (first seed). A dot marks each digit's centroid; its number sits on it, or beside it on a
# line where numbers would cover one another.

# %%
means_2d = {(a, s): latent.encode_means(load_model(folders[(a, 2, s)]), x_test)
            for a in sweep.archs for s in sweep.seeds} if sweep.has_2d() else {}
for arch in sweep.archs if sweep.has_2d() else []:
    fig = plots.plot_embedding(means_2d[(arch, first)], y_test, title=f"{arch}, d=2: test-set means (seed {first})")
    plots.save(fig, where.figures / f"latent_embedding_{arch}.png")
if not sweep.has_2d():
    print("no 2-D model in this sweep: the 2-D embeddings are skipped (the projections below remain)")

# %% [markdown]
# How far each digit's centroid lies from the origin (`rank_from_edge` 1 = farthest) and how spread its
# cluster is, for every 2-D model and seed (`results/digit_geometry.csv`); the handout's claim that zeros and
# ones sit at the edge, checked in every seed with a bootstrap interval of the rank (`results/claims_edge.csv`,
# `results/edge_ranks.csv`); then the mean over seeds.

# %%
if means_2d:
    geometry = tables.read(where.results / "digit_geometry.csv")
    display(tables.read(where.results / "claims_edge.csv"))
    display(geometry.groupby(["arch", "digit"])[["centroid_norm", "spread", "rank_from_edge"]].mean()
            .unstack("arch").round(2))

# %% [markdown]
# ## Which digits does the 2-D latent space mix up?
#
# A 5-nearest-neighbour classifier fitted on the training means reads each test mean. Its confusion matrix
# (rows: true digit, in % of that digit; first seed) shows which classes overlap in the latent space; the
# table `results/latent_confusions.csv` lists every confusion of every seed, largest first.

# %%
if sweep.has_2d():
    fig, axes = plt.subplots(1, len(sweep.archs), figsize=(5.5 * len(sweep.archs), 4.6), squeeze=False)
    for ax, arch in zip(axes[0], sweep.archs):
        matrix = torch.tensor(metrics.read(folders[(arch, 2, first)])["knn_confusion"])
        plots.plot_confusion(matrix, title=f"{arch}, d=2: k-NN in latent space (seed {first})", ax=ax)
    fig.tight_layout()
    plots.save(fig, where.figures / "latent_knn_confusion.png")
    confusions = tables.read(where.results / "latent_confusions.csv")
    display(confusions.query("rank <= 6").pivot_table(index=["true", "predicted"], columns="arch",
                                                      values="percent_of_true", aggfunc="mean").round(1))

# %% [markdown]
# ## Higher dimensions, projected
#
# For d > 2 the means are projected on their first two principal axes (first seed; the title gives the share of
# variance they keep). Compare how much structure the projection keeps as d grows with the k-NN accuracy,
# computed in the full latent space (notebook 05, `results/metrics_summary.csv`).

# %%
high = [d for d in sweep.dims if d > 2]
if high:
    fig, axes = plt.subplots(len(sweep.archs), len(high), figsize=(4 * len(high), 3.8 * len(sweep.archs)),
                             squeeze=False)
    for row, arch in enumerate(sweep.archs):
        for ax, d in zip(axes[row], high):
            coords, explained = latent.pca_2d(latent.encode_means(load_model(folders[(arch, d, first)]), x_test))
            plots.plot_embedding(coords, y_test, title=f"{arch}, d={d} (PCA {100 * explained.sum():.0f}%, seed {first})", ax=ax,
                                 xlabel="PC 1", ylabel="PC 2")
            ax.get_legend().remove()
    fig.tight_layout()
    plots.save(fig, where.figures / "latent_pca.png")

# %% [markdown]
# ## How many latent dimensions does each model use?
#
# A latent coordinate is *active* when its KL to the prior, averaged over the test images, exceeds 0.1 nats
# (`vaelib.evaluation.latent.ACTIVE_RULE`); an inactive one carries no information about the image. Look at
# the largest d: how many of its coordinates each architecture uses. Left: a dot for each seed and a bar for
# their median (`results/latent_diagnostics.csv`); right: the KL of every coordinate of the first seed's models
# (`results/kl_per_dim.csv` has every seed). Whether conv's unused coordinates come from its narrow dense
# layer is tested in notebook 05 (the wide-dense extra).

# %%
scores = tables.read(where.results / "metrics.csv")
diagnostics = tables.read(where.results / "latent_diagnostics.csv")
kl_dims = tables.read(where.results / "kl_per_dim.csv")
fig = plots.plot_active_units(scores, kl_dims)
plots.save(fig, where.figures / "active_units.png")
diagnostics.round(3)
