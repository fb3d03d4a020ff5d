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
# # 02 · Compare the losses of the sweep
#
# Two architectures (fully connected `linear`, convolutional `conv`) times the latent dimensions of the
# sweep, each trained with several seeds by notebook 01. This notebook reads every run of the sweep and
# the tables that the pipeline's results step wrote (`results/final_by_seed.csv`, `results/summary.csv`: mean
# and standard deviation over seeds, `results/params.csv`, `results/claims.csv`: the handout's claims, each with a
# verdict; `vaelib.analysis.results`), and draws the loss and its components per epoch with their
# seed-to-seed spread, and the figures named below.

# %% tags=["parameters"]
import os

sweep = None          # what the report covers (vaelib.Sweep settings); None: the default sweep
runs_dir = None       # None: the project's folders (its smoke folders in smoke mode)
figures_dir = None
results_dir = None
executed_dir = None
smoke_test = "CI" in os.environ

# %%
from vaelib.analysis import inference, plots, tables
from vaelib.notebook import setup

sweep, where = setup.notebook_setup(sweep, smoke_test, runs_dir, figures_dir, results_dir, executed_dir)
history = tables.histories(where.runs, sweep)
final = tables.read(where.results / "final_by_seed.csv")
tables.read(where.results / "summary.csv").round(2)

# %% [markdown]
# ## Loss curves and their components
#
# Columns: total loss, reconstruction, KL; rows: train and test of each architecture. Colour is the latent
# dimension; each seed is a thin line and their median a thick one. Compare the order of the colours in the
# reconstruction column with their order in the KL column (claims 1 and 3 below test it), and look for a thin
# line that stays apart from its colour's others: a run that collapses (REPORT.md, "Runs that collapse").

# %%
fig = plots.plot_sweep_curves(history)
plots.save(fig, where.figures / "loss_curves.png");

# %% [markdown]
# ## Final test losses against the latent dimension
#
# The same comparison at the last epoch: a dot for each seed and a bar for their median, the two
# architectures side by side at each d. The gap between the bars, against the spread of the dots, answers
# "is the convolutional model better at each d?"; a dot far from its bar is a seed the median ignores.

# %%
fig = plots.plot_final_by_dim(final)
plots.save(fig, where.figures / "final_by_dim.png");

# %% [markdown]
# ## The handout's claims, with a verdict
#
# Each claim is checked at every setting it covers by the rule below (a Welch 95% interval over the seeds),
# with Holm's correction over the whole family beside it, then summed up per claim: where it holds, where it
# is refuted, where the seeds cannot tell.

# %%
print(inference.RULE)
display(tables.read(where.results / "claims.csv").round(3))
tables.read(where.results / "verdicts.csv")

# %% [markdown]
# The handout quotes its test reconstruction loss as "from around 7,000 to almost 15,000", sums over a batch
# whose size it does not give. The batch size under which our per-image values land on those end points:

# %%
tables.read(where.results / "seed_batch.csv").round(2)

# %% [markdown]
# ## Reconstructions: the handout's figures
#
# How the test reconstructions (left) and the training reconstructions (right) of the convolutional 2-D
# model (first seed) evolve, at epochs 1, 5, 10 and the last. In each grid the top two rows are the images,
# the bottom two their reconstructions.

# %%
if sweep.has_2d() and "conv" in sweep.archs:
    conv2 = where.runs / sweep.config("conv", 2).name
    shown = plots.epochs_to_show(sweep.epochs)
    fig = plots.show_images({f"{split}, epoch {e} (conv, d=2, seed {sweep.seeds[0]})": conv2 / f"{split}_{e}.png" for e in shown
                             for split in ("test", "train")}, ncols=2)
    plots.save(fig, where.figures / "recon_evolution_conv_2.png")
else:
    print("no conv model with d=2 in this sweep: the handout's reconstruction figure is skipped")

# %% [markdown]
# ...and the final test reconstructions at the smallest and largest d of the sweep (first seed). Compare the
# rows for what survives: the class of each digit, and its style (slant, stroke width); notebook 05 counts
# how often the class survives (the reconstruction accuracy).

# %%
fig = plots.show_images({f"{a}, d={d} (seed {sweep.seeds[0]})": where.runs / sweep.config(a, d).name / f"test_{sweep.epochs}.png"
                         for a, d in sweep.corners()}, ncols=len(sweep.archs))
plots.save(fig, where.figures / "recon_final.png");
