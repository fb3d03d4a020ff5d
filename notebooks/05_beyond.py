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
# # 05 · Beyond the handout: likelihood, faithful reconstructions, latent quality, Fashion-MNIST
#
# The handout judges its models by eye and by the two parts of the ELBO. The evaluation step of the report
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
import matplotlib.pyplot as plt
import torch
from vaelib.analysis import plots, tables
from vaelib.data import datasets as data
from vaelib.evaluation import latent, metrics, sampling
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
clf_info = tables.read(where.results / "classifier.json")
print(f"classifier test accuracy: {clf_info['test_accuracy']:.4f} on {clf_info['test_images']} images")

# %% [markdown]
# ## All metrics, all models
#
# Mean and standard deviation over seeds of each metric (`results/metrics_summary.csv`); the IWAE bound has
# one seed, so no spread. The `*_s` columns of `results/metrics.csv` give the seconds each metric took.

# %%
iwae = scores[scores["seed"] == first][["arch", "latent_dim", "seed", "test_elbo", "iwae_bound", "iwae_gain", "iwae_k"]]
tables.read(where.results / "metrics_summary.csv").round(3)

# %% [markdown]
# The IWAE bound against the ELBO of the same models, per latent dimension (first seed). Compare the gap
# between the two lines across d: it is the part of the ELBO's pessimism that a better approximate posterior
# q(z|x) could recover.

# %%
if sweep.iwae_k:
    plots.save(plots.plot_bounds_by_dim(iwae), where.figures / "iwae_vs_elbo.png")
else:
    print("iwae_k = 0: no IWAE bound in this report")

# %% [markdown]
# ## Does the digit survive the reconstruction? The handout's "a 9 for a 7, an 8 for a 5"
#
# Confusion matrices of the classifier on the test reconstructions of the 2-D models (rows: true digit,
# in % of that digit; first seed). `results/recon_confusions.csv` ranks every confusion of every seed.

# %%
if sweep.has_2d():
    fig, axes = plt.subplots(1, len(sweep.archs), figsize=(5.5 * len(sweep.archs), 4.6), squeeze=False)
    for ax, arch in zip(axes[0], sweep.archs):
        matrix = torch.tensor(metrics.read(folders[(arch, 2, first)])["recon_confusion"])
        plots.plot_confusion(matrix, title=f"{arch}, d=2: classifier on reconstructions (seed {first})", ax=ax)
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
# Decoding z ~ N(0, I) at the smallest and largest d of the sweep (first seed). Compare the rows: how sharp
# the strokes are, and how many samples are digits at all. The table below it says what the digit classifier
# reads in each panel (`results/prior_summary.csv`, computed by the results step from the same samples).

# %%
models = {(a, d): load_model(folders[(a, d, first)]) for a, d in sweep.corners()}
shape = (len({d for _, d in models}), len(sweep.archs))      # rows: smallest and largest d; columns: archs
fig, axes = plt.subplots(*shape, figsize=(4.5 * shape[1], 2.6 * shape[0]), squeeze=False)
for ax, ((arch, d), model) in zip(axes.flat, models.items()):
    ax.imshow(sampling.prior_samples(model).permute(1, 2, 0))
    ax.set_title(f"{arch}, d={d}: z ~ N(0, I) (seed {first})")
    ax.axis("off")
fig.tight_layout()
plots.save(fig, where.figures / "prior_samples.png")
tables.read(where.results / "prior_summary.csv")

# %% [markdown]
# ## Interpolations between test digits
#
# Each row walks in a straight line from the latent mean of one test digit (left) to another's (right), first
# seed. Compare the 2-D rows with the high-d ones: which digits appear on the way. The table below gives the
# classifier's reading of every step (`results/interpolation_summary.csv`; "?": unclear).

# %%
x_test, y_test = data.load(sweep.dataset, train=False, limit=sweep.test_limit)
starts, ends = sampling.interpolation_ends(x_test)
print("pairs (test indices):", sampling.INTERPOLATION_PAIRS)
fig, axes = plt.subplots(*shape, figsize=(5.5 * shape[1], 3 * shape[0]), squeeze=False)
for ax, ((arch, d), model) in zip(axes.flat, models.items()):
    ax.imshow(sampling.interpolations(model, starts, ends).permute(1, 2, 0))
    ax.set_title(f"{arch}, d={d} (seed {first})")
    ax.axis("off")
fig.tight_layout()
plots.save(fig, where.figures / "interpolations.png")
tables.read(where.results / "interpolation_summary.csv")[["arch", "latent_dim", "start_digit", "end_digit", "path"]]

# %% [markdown]
# ### Walk the line yourself
#
# In JupyterLab, pick a model (any run of the sweep, every seed) and two test images (by index); the slider moves `t` from the first image's
# latent mean (`t = 0`) to the second's (`t = 1`), and the middle picture is the decoded point. Watch where
# the digit changes class, and whether it passes through a third digit on the way. (No widgets outside a
# live Jupyter; the figure above is the record.)

# %%
from vaelib.notebook import explore

interpolation_explorer = explore.InterpolationExplorer(
    where.runs, sweep.grid(), x_test, start=0, end=11)
interpolation_explorer

# %% [markdown]
# ## Does a wider dense layer let conv use d = 50?
#
# Does conv's loss gain from the sweep's largest d as linear's does? One
# hypothesis: conv's 64-unit dense layer, not its latent space, limits what it encodes. The report's extra
# `wide-dense` trains the same conv with linear's 256 units (`convwide`) at those two d, every seed, and the
# results step compares it with conv (`results/claims_extras.csv`: Welch's intervals; the difference of the
# two gains is a contrast of four means). Its control, the extra `matched-params`, trains `convch`: conv's
# 64-unit dense layer with convwide's parameter count in wider convolutions (on fewer seeds: it costs about
# twice conv's step); if convwide gains more from d than convch does, the dense layer's width matters, not only
# the parameters it adds. Compare the bars of each panel, and the change of each bar between the panels.

# %%
from vaelib.config.sweep import EXTRAS

wide, base = EXTRAS["wide-dense"]
controls = [arch for arch, compared_with in EXTRAS.values() if compared_with == wide]   # convch
if any(c.arch == wide for c in sweep.extra_configs()):
    final = tables.read(where.results / "final_by_seed.csv")
    plots.save(plots.plot_extra(final, wide, base, controls), where.figures / "wide_dense.png")
    display(tables.read(where.results / "claims_extras.csv").round(3))
else:
    print("the wide-dense extra is not in this sweep (it needs conv and two d)")

# %% [markdown]
# ## Appendix: Fashion-MNIST
#
# The appendix model of the sweep (conv, d = 2 when the sweep has it) trained on Fashion-MNIST. Its latent
# grid and test embedding show how a 2-D code organises clothes: look for which classes take regions of their
# own and which overlap. Its final losses go to `results/fashion.csv`.

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
