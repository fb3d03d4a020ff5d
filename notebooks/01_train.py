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
# Change the parameters below and run all cells. Before handing the training to the library, the notebook
# writes one training step by hand (the reparameterization, the loss, the gradient step) and runs it a couple of
# hundred times on a demo model; `teach = False` skips that part. The last section, "Running it for real", says
# how the report runs this notebook for each of its runs, and what happens when a run is already there.

# %% tags=["parameters"]
import os

arch = "conv"          # "linear" (fully connected) or "conv" (DCGAN-style)
latent_dim = 2         # dimension d of the latent space (1 or more)
seed = 0               # the run folder is named {arch}_{latent_dim}_s{seed}
epochs = 15            # these names and their values are RunConfig's own defaults (a test holds them so)
batch_size = 128
lr = 1e-3
dataset = "mnist"      # "mnist" or "fashion"
train_limit = None     # use only the first N training images (None: all 60,000)
test_limit = None      # use only the first N test images (None: all 10,000)
teach = True           # first write one training step by hand on a small demo model (False skips it)

# how and where it runs: see "Running it for real" at the end (the report sets these)
config = None          # a whole RunConfig as a dict (the report passes each run's); None: from the names above
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

if config is None:
    config = RunConfig.from_params(arch=arch, latent_dim=latent_dim, seed=seed, epochs=epochs,
                                   batch_size=batch_size, lr=lr, dataset=dataset, train_limit=train_limit,
                                   test_limit=test_limit)
else:
    config = RunConfig.from_params(**config)
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
# ## One training step, by hand
#
# `train()` below hides the training loop behind run folders, checkpoints and CPU sharing. Here is what it
# repeats, written out on a *demo* model: a fresh model of the same architecture, seeded with `seed`,
# trained for a couple of hundred steps by the cells below and then thrown away (the run that `train()` makes
# starts from its own fresh model). The demo runs on the CPU, on the first 6,000 training images (fewer in
# smoke mode, on one thread), with the run's `batch_size` and `lr`. This cell only sets it up and says what
# the demo holds.

# %%
if teach:
    import time

    import matplotlib.pyplot as plt
    import torch
    import torch.nn.functional as F
    from vaelib.data import datasets

    threads = torch.get_num_threads()
    torch.set_num_threads(1)            # a small demo: one CPU thread is fastest on a busy machine
    torch.manual_seed(config.seed)
    demo = build_model(config.arch, config.latent_dim)         # not the model `train()` trains below
    opt = torch.optim.Adam(demo.parameters(), lr=config.lr)
    x_demo, _ = datasets.load(config.dataset, train=True, limit=min(6000, config.train_limit or 6000))
    print(f"demo: a fresh {config.arch} model, {len(x_demo):,} images {tuple(x_demo.shape[1:])} in [0, 1]")

# %% [markdown]
# One step on one real batch. The forward pass: the encoder gives each image a Gaussian (`mu`, `logvar`)
# over z; the reparameterization draws `z` as `mu` plus noise scaled by the standard deviation
# `exp(logvar / 2)`, so the gradient flows back through `mu` and `logvar` (the noise `eps` is a constant);
# the decoder turns `z` into one logit per pixel. The loss is the one printed above, written again in two
# lines, and the `assert` checks it is the very number the library's `vae_loss` gives on the same batch.
# Then the three lines of every PyTorch step: clear the old gradients, backpropagate, update. Look at the
# two terms: an untrained decoder costs about 550 nats per image (784 pixels at about log 2 = 0.69 nats
# each: it says 50/50 for every pixel), and the KL term starts near 0, since the untrained encoder's
# posteriors sit close to the prior.

# %%
if teach:
    x = x_demo[:config.batch_size]                                    # a batch of real images
    mu, logvar = demo.encode(x)                                       # q(z|x) = N(mu, exp(logvar)), per image
    eps = torch.randn_like(mu)                                        # noise from N(0, I)
    z = mu + eps * torch.exp(0.5 * logvar)                            # the reparameterization trick
    logits = demo.decode(z)                                           # one Bernoulli logit per pixel

    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
    kl = -0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(1).mean()
    loss = recon + kl                                                 # the negative ELBO, nats per image
    assert torch.allclose(loss, vae_loss(logits, x, mu, logvar)[0])   # the library's loss: the same number

    opt.zero_grad()                                                   # forget the previous step's gradients
    loss.backward()                                                   # d loss / d every weight
    opt.step()                                                        # move the weights downhill (Adam)
    print(f"reconstruction {recon.item():.1f} + KL {kl.item():.2f} = {loss.item():.1f} nats per image")

# %% [markdown]
# The same step, repeated on batches drawn at random, now with the library's `vae_loss` (the same number,
# as the `assert` showed). Look at the curve: the loss falls fast from about 550 nats, then more slowly;
# it is noisy because each point is one batch. `train()` below repeats this step over shuffled batches,
# epoch after epoch.

# %%
if teach:
    steps = 100 if smoke_test else 200          # a few seconds for conv on one CPU thread
    losses = []
    start = time.perf_counter()
    for step in range(steps):
        x = x_demo[torch.randint(len(x_demo), (config.batch_size,))]
        mu, logvar = demo.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        loss, recon, kl = vae_loss(demo.decode(z), x, mu, logvar)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    seconds = time.perf_counter() - start
    print(f"{steps} steps in {seconds:.1f} s: loss {losses[0]:.0f} -> {losses[-1]:.0f} nats per image")
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(range(1, steps + 1), losses)
    ax.set(xlabel="step", ylabel="loss (nats per image)", title=f"demo {config.arch} model, by hand")
    plt.show()
    torch.set_num_threads(threads)      # back to the thread count the demo found

# %% [markdown]
# ## Training
#
# Each epoch is one pass over the training images in shuffled batches held in memory. After each epoch the
# run folder receives the test metrics, two reconstruction grids and a checkpoint. The first line says how
# many CPU threads the run uses and why (other vaelib jobs running at the same time share the cores). An
# interrupted run resumes from its last finished epoch.

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

# %% [markdown]
# ## Running it for real
#
# `python -m vaelib.report` runs this notebook through papermill for every run of the sweep, passing each run's
# whole `RunConfig` as the `config` parameter (with `teach = False`). A finished run of the very same
# configuration, made by today's training version (`TRAINING_VERSION` in `vaelib/training/engine.py`), is
# reused rather than trained again; `force = True` retrains it (the old folder is kept aside). A run made by
# another training version is refused with a message: `force` retrains it, `keep_stale` uses it knowingly.
# Calling `train` again here shows the reuse: it returns at once with the same history.

# %%
import pandas as pd

again = train(config, where.runs, force=False, keep_stale=keep_stale)
pd.testing.assert_frame_equal(again.history, run.history)   # the same epochs, read back from its folder
