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
# # 03 · Explore the 2-D latent space
#
# With d = 2 the whole latent space fits on a page. We decode a grid of points `z = (z1, z2)` and look at
# the digits the decoder produces (first seed of each 2-D model). The handout decodes the 5 x 5 grid z1, z2 in
# {-2, -1, 0, 1, 2}; we also decode a finer grid at quantiles of the standard normal, so that each cell
# covers the same prior mass. The digit classifier of the evaluation step reads the corners and the
# every cell of the 5 x 5 grids, so that the write-up can say which digits live there and which cells are
# no clear digit (`results/grid_cells.csv`, `results/grid_summary.csv`). A sweep without d = 2 has nothing to
# show here: the cells say so and skip.

# %% tags=["parameters"]
import os

sweep = None          # what the report covers (vaelib.Sweep settings); None: the default sweep
runs_dir = None       # None: the project's folders (its smoke folders in smoke mode)
figures_dir = None
results_dir = None
executed_dir = None
grid_values = [-2, -1, 0, 1, 2]
fine_n = 15           # the finer grid is fine_n x fine_n
smoke_test = "CI" in os.environ

# %%
from vaelib.analysis import plots, tables
from vaelib.evaluation import latent
from vaelib.notebook import setup
from vaelib.training import runs
from vaelib.core.models import load_model

sweep, where = setup.notebook_setup(sweep, smoke_test, runs_dir, figures_dir, results_dir, executed_dir)
models = {arch: load_model(runs.find(where.runs, sweep.config(arch, 2))) for arch in sweep.archs} \
    if sweep.has_2d() else {}
if not models:
    print(f"no 2-D model in this sweep (dims {list(sweep.dims)}): nothing to explore in two dimensions")

# %% [markdown]
# ## The handout's 5 x 5 grid
#
# Compare neighbouring cells, and find which digits own which region; the decoder never saw these exact
# points. The table after it says, cell by cell, what the classifier reads.

# %%
for arch, model in models.items():
    fig = plots.plot_latent_grid(latent.decode_grid(model, grid_values), grid_values,
                                 title=f"{arch}, d=2 (seed {sweep.seeds[0]})")
    plots.save(fig, where.figures / f"latent_grid_{arch}.png")

# %% [markdown]
# What the classifier reads in every cell (row 0 is the top of the picture), and per grid how many cells are
# a clear digit and which classes are missing:

# %%
if models:
    display(tables.read(where.results / "grid_cells.csv").round(3))
    display(tables.read(where.results / "grid_summary.csv"))

# %% [markdown]
# ## A finer grid at standard-normal quantiles
#
# Look for the classes that the coarse grid misses, and at the borders between classes: compare the shapes
# there with the confusions of notebook 04.

# %%
fine_values = latent.normal_quantiles(fine_n)
for arch, model in models.items():
    fig = plots.plot_latent_grid(latent.decode_grid(model, fine_values), fine_values,
                                 title=f"{arch}, d=2, quantiles 5%-95% (seed {sweep.seeds[0]})")
    plots.save(fig, where.figures / f"latent_grid_fine_{arch}.png")

# %% [markdown]
# ## Explore it yourself
#
# Open this notebook in JupyterLab (`make lab`) and drag the sliders: the digit decoded at `z = (z1, z2)`
# follows (on the left), and the cross on the embedding of 2,000 test digits (right) shows where that point
# sits among the data. Look for the borders: a small move there turns a 4 into a 9. Every run of the sweep
# is in the model picker (each seed too: compare how two seeds of one model lay out the same digits). Pick a model with
# d > 2 to choose which two of its coordinates the sliders move, while the others stay at the posterior mean of the
# test image whose index you choose. Outside a live Jupyter (papermill, nbval, a static export) this cell
# shows no widgets and changes nothing; the figures above are the record.

# %%
from vaelib.data import datasets as data
from vaelib.notebook import explore

x_test, y_test = data.load(sweep.dataset, train=False, limit=sweep.test_limit)
latent_explorer = explore.LatentExplorer(where.runs, sweep.grid(), x_test, y_test)
latent_explorer
