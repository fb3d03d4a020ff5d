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
# # 01 · Train one VAE on MNIST
#
# This notebook trains one variational auto-encoder with `vaelib` and shows how it learns. The encoder maps
# an image to the mean `mu` and log-variance `logvar` of a Gaussian in a latent space of dimension `latent_dim`;
# the decoder maps a sample `z` of that Gaussian to one Bernoulli logit per pixel. The loss is the negative
# ELBO: the pixel-wise binary cross-entropy (reconstruction) plus the KL divergence to N(0, I), both in nats
# per image.
#
# Change the parameters below and run all cells, or let `python -m vaelib.report` run it through papermill
# for every run of the sweep. A finished run of the very same configuration *and code* is reused rather than
# retrained (set `force = True` to retrain); an interrupted one resumes from its last finished epoch. A run
# made by other training code is refused with a message (`force` retrains it, `keep_stale` keeps it).

# %% tags=["parameters"]
import os

arch = "conv"          # "linear" (fully connected) or "conv" (DCGAN-style)
latent_dim = 2         # dimension d of the latent space (1 or more)
seed = 0               # the run folder is named {arch}_{latent_dim}_s{seed}
epochs = 15
batch_size = 128
lr = 1e-3
dataset = "mnist"      # "mnist" or "fashion"
train_limit = None     # use only the first N training images (None: all 60,000)
test_limit = None      # use only the first N test images (None: all 10,000)
num_threads = 0        # torch CPU threads (0: share the cores with other running vaelib jobs)
device = "auto"        # "auto" (CUDA when available), "cpu" or "cuda[:N]"
runs_dir = None        # None: the project's runs/ (its smoke folder in smoke mode)
force = False          # retrain even when a finished run of this config exists
keep_stale = False     # reuse a finished run made by other training code
smoke_test = "CI" in os.environ  # a quick configuration for CI: 2,000 images, 1 epoch

# %% [markdown]
# The parameters are checked first, so a typo fails here with a message naming it, not twenty cells later.

# %%
import dataclasses
import inspect

from vaelib import RunConfig, build_model, count_params, train, vae_loss
from vaelib.analysis import plots
from vaelib.config.sweep import SMOKE
from vaelib.infra import logs, paths

logs.show()     # vaelib's messages (threads, epochs, reuse) as plain lines

config = RunConfig.from_params(
    arch=arch, latent_dim=latent_dim, seed=seed, epochs=epochs, batch_size=batch_size, lr=lr, dataset=dataset,
    train_limit=train_limit, test_limit=test_limit, num_threads=num_threads, device=device)
if smoke_test:
    config = dataclasses.replace(config, **{k: SMOKE[k] for k in ("epochs", "train_limit", "test_limit")})
where = paths.resolve(smoke_test, runs_dir=runs_dir)
config

# %% [markdown]
# ## The model and its loss
#
# The network this run trains, layer by layer (`vaelib.core.models`): the encoder ends in a layer of
# `2 * latent_dim` outputs, split into `mu` and `logvar`; the decoder ends in 784 logits, one per pixel. Look
# at the parameter count, and at where most parameters sit (the layers next to the 784 pixels).

# %%
model = build_model(config.arch, config.latent_dim)
print(model)
print(f"{count_params(model):,} parameters")

# %% [markdown]
# The loss, as code (`vaelib.core.losses`): the two terms of the negative ELBO, each summed over the pixels
# (or the latent coordinates) of an image and averaged over the batch. The KL term is the closed form for a
# diagonal Gaussian against N(0, I); `beta` weights it (1 gives the ELBO).

# %%
print(inspect.getsource(vae_loss))

# %% [markdown]
# ## Training
#
# Each epoch is one pass over the training images in shuffled batches held in memory. After each epoch the
# run folder receives the test metrics, two reconstruction grids and a checkpoint. The first line says how
# many CPU threads the run uses and why (other vaelib jobs running at the same time share the cores).

# %%
run = train(config, where.runs, force=force, keep_stale=keep_stale)
run.history.round(2)

# %% [markdown]
# ## Loss curves
#
# Look at the two parts of the loss: the reconstruction term falls steeply in the first epochs, while the KL
# term *rises*: the encoder spends nats of KL (moves its posteriors away from the prior) to buy better
# reconstructions. Train values are running means over each epoch, so they lag the test values early on.

# %%
plots.plot_history(run.history, title=f"{config.name}: nats per image");

# %% [markdown]
# ## Reconstructions through training
#
# In each grid the top two rows are fixed test images and the bottom two rows their reconstructions
# (pixel probabilities decoded from the posterior mean). Watch blurry average digits sharpen into the
# right classes; with a 2-D latent space some digits stay confused (a 4 read as a 9, a 5 as a 3 or an 8).

# %%
shown = plots.epochs_to_show(config.epochs)
plots.show_images({f"test, epoch {e}": run.folder / f"test_{e}.png" for e in shown});

# %% [markdown]
# The same for training images: if these were much sharper than the test grids, the model would be overfitting.

# %%
plots.show_images({f"train, epoch {e}": run.folder / f"train_{e}.png" for e in shown});
