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
# # 05 · Beyond the seed: likelihood, faithful reconstructions, latent quality, Fashion-MNIST
#
# The seed judges its models by eye and by the two parts of the ELBO. The evaluation step of the report
# (`python -m vaelib.metrics`, once per run, cached in its `metrics.json`) puts numbers on what the pictures
# suggest; this notebook reads them (`results/metrics.csv`) and draws:
#
# - **IWAE bound**: the importance-weighted bound on log p(x) (Burda et al. 2015) with K samples per test
#   image, on the first seed only (it is the costly one). It is tighter than the ELBO (K = 1), so the gap
#   says how much the ELBO under-rates each model.
# - **Reconstruction accuracy**: a small CNN classifier reads each test reconstruction: does the digit
#   survive the round trip through the latent space?
# - **k-NN accuracy**: a 5-nearest-neighbour classifier on the latent means (fitted on the training means).
#
# Then prior samples, interpolations, and an appendix on Fashion-MNIST.

# %% tags=["parameters"]
import os

sweep = None          # what the report covers (vaelib.Sweep settings); None: the default sweep
runs_dir = None       # None: the project's folders (its smoke folders in smoke mode)
figures_dir = None
results_dir = None
executed_dir = None
smoke_test = "CI" in os.environ

# %%
import json

import matplotlib.pyplot as plt
import pandas as pd
import torch
from vaelib.analysis import claims, plots, tables
from vaelib.data import datasets as data
from vaelib.evaluation import classifier, evaluate as metrics, latent, sampling
from vaelib.notebook import setup
from vaelib.training import runs
from vaelib.core.models import load_model

sweep, where = setup.notebook_setup(sweep, smoke_test, runs_dir, figures_dir, results_dir, executed_dir)
folders = tables.run_folders(where.runs, sweep)
scores = tables.read(where.results / "metrics.csv")
first = sweep.seeds[0]

# %% [markdown]
# ## The digit classifier
#
# Trained once by the report's first step on the MNIST training set; its test accuracy bounds what the
# reconstruction accuracy can mean (`results/classifier.json`).

# %%
clf_info = json.loads((where.results / "classifier.json").read_text())
print(f"classifier test accuracy: {clf_info['test_accuracy']:.4f} on {clf_info['test_images']} images")

# %% [markdown]
# ## All metrics, all models
#
# Mean and standard deviation over seeds of each metric (`results/metrics_summary.csv`); the IWAE bound has
# one seed, so no spread. The `*_s` columns of `results/metrics.csv` give the seconds each metric took.

# %%
iwae = scores[scores["seed"] == first][["arch", "latent_dim", "test_elbo", "iwae_bound", "iwae_gain", "iwae_k"]]
tables.read(where.results / "metrics_summary.csv").round(3)

# %% [markdown]
# The IWAE bound against the ELBO, per latent dimension (first seed). Look at the gap: it is the part of the
# ELBO's pessimism that comes from the approximate posterior q(z|x) being a poor fit to the true one.

# %%
if sweep.iwae_k:
    plots.save(plots.plot_bounds_by_dim(iwae), where.figures / "iwae_vs_elbo.png")
else:
    print("iwae_k = 0: no IWAE bound in this report")

# %% [markdown]
# ## Does the digit survive the reconstruction? The seed's "a 9 for a 7, an 8 for a 5"
#
# Confusion matrices of the classifier on the test reconstructions of the 2-D models (rows: true digit,
# in % of that digit; first seed). `results/recon_confusions.csv` ranks every confusion of every seed.

# %%
if sweep.has_2d():
    fig, axes = plt.subplots(1, len(sweep.archs), figsize=(5.5 * len(sweep.archs), 4.6), squeeze=False)
    for ax, arch in zip(axes[0], sweep.archs):
        matrix = torch.tensor(metrics.read(folders[(arch, 2, first)])["recon_confusion"])
        plots.plot_confusion(matrix, title=f"{arch}, d=2: classifier on reconstructions", ax=ax)
    fig.tight_layout()
    plots.save(fig, where.figures / "recon_confusion_d2.png")
    confusions = tables.read(where.results / "recon_confusions.csv")
    display(confusions.query("rank <= 6").pivot_table(index=["true", "predicted"], columns="arch",
                                                      values="percent_of_true", aggfunc="mean").round(1))
else:
    print("no 2-D model in this sweep: the reconstruction confusions of the 2-D models are skipped")

# %% [markdown]
# ## Samples from the prior
#
# Decoding z ~ N(0, I) at the smallest and largest d of the sweep. Look at the trade-off: with d = 2 the
# samples are blurry prototypes of a few classes; with d = 50 the strokes are sharp, but many samples are
# not digits at all, because the encoder leaves parts of a 50-D prior unused ("holes" that the decoder
# never learnt).

# %%
models = {(a, d): load_model(folders[(a, d, first)]) for a, d in sweep.corners()}
shape = (len({d for _, d in models}), len(sweep.archs))      # rows: smallest and largest d; columns: archs
fig, axes = plt.subplots(*shape, figsize=(4.5 * shape[1], 2.6 * shape[0]), squeeze=False)
for ax, ((arch, d), model) in zip(axes.flat, models.items()):
    ax.imshow(sampling.prior_samples(model).permute(1, 2, 0))
    ax.set_title(f"{arch}, d={d}: z ~ N(0, I)")
    ax.axis("off")
fig.tight_layout()
plots.save(fig, where.figures / "prior_samples.png");

# %% [markdown]
# ## Interpolations between test digits
#
# Each row walks in a straight line from the latent mean of one test digit (left) to another's (right).
# In 2-D the path passes through the digits whose regions lie in between; in 50-D it morphs more directly.

# %%
x_test, y_test = data.load(sweep.dataset, train=False, limit=sweep.test_limit)
starts, ends = x_test[[0, 1, 2, 3, 4]], x_test[[11, 7, 18, 9, 13]]
print("pairs:", list(zip(y_test[[0, 1, 2, 3, 4]].tolist(), y_test[[11, 7, 18, 9, 13]].tolist())))
fig, axes = plt.subplots(*shape, figsize=(5.5 * shape[1], 3 * shape[0]), squeeze=False)
for ax, ((arch, d), model) in zip(axes.flat, models.items()):
    ax.imshow(sampling.interpolations(model, starts, ends).permute(1, 2, 0))
    ax.set_title(f"{arch}, d={d}")
    ax.axis("off")
fig.tight_layout()
plots.save(fig, where.figures / "interpolations.png");

# %% [markdown]
# ### Walk the line yourself
#
# In JupyterLab, pick a model (any run of the sweep, every seed) and two test images (by index); the slider moves `t` from the first image's
# latent mean (`t = 0`) to the second's (`t = 1`), and the middle picture is the decoded point. Watch where
# the digit changes class: in 2-D it often passes through a third digit on the way. (No widgets outside a
# live Jupyter; the figure above is the record.)

# %%
from vaelib.notebook import explore

interpolation_explorer = explore.InterpolationExplorer(
    where.runs, sweep.grid(), x_test, start=0, end=11)
interpolation_explorer

# %% [markdown]
# ## Appendix: Fashion-MNIST
#
# The appendix model of the sweep (conv, d = 2 when the sweep has it) trained on Fashion-MNIST. Its latent
# grid and test embedding show how a 2-D code organises clothes: footwear, tops and trousers take separate
# regions, while shirts, pullovers and coats overlap. Its final losses go to `results/fashion.csv`.

# %%
arch, d, seed = sweep.appendix
appendix = {ds: runs.find(where.runs, sweep.config(arch, d, seed, dataset=ds)) for ds in sweep.datasets[1:]}
for ds, folder in appendix.items():
    model = load_model(folder)
    if d == 2:
        values = latent.normal_quantiles(12)
        fig = plots.plot_latent_grid(latent.decode_grid(model, values), values, title=f"{ds}, {arch}, d=2")
        plots.save(fig, where.figures / f"{ds}_latent_grid.png")
        xf, yf = data.load(ds, train=False, limit=sweep.test_limit)
        fig = plots.plot_embedding(latent.encode_means(model, xf), yf, title=f"{ds}, {arch}, d=2: test-set means",
                                   class_names=data.FASHION_CLASSES if ds == "fashion" else None, legend_title="class")
        plots.save(fig, where.figures / f"{ds}_latent_embedding.png")
    display(tables.read(where.results / f"{ds}.csv").round(2))
if not appendix:
    print("no appendix dataset in this sweep")
