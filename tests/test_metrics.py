"""The evaluation step's metrics, and the sampling pictures, on small real MNIST slices."""

import pytest
import torch

from vaelib.data import datasets as data
from vaelib.core import iwae as bounds
from vaelib.evaluation import classifier, latent, sampling
from vaelib.config import RunConfig
from vaelib.core.losses import vae_loss
from vaelib.training.engine import train


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    config = RunConfig(arch="linear", latent_dim=5, epochs=2, train_limit=2000, test_limit=300, num_threads=1)
    return train(config, tmp_path_factory.mktemp("runs"), progress=False).model


def test_iwae_bound_is_above_the_elbo_and_rises_with_k(small_model, mnist_slice):
    x = mnist_slice[2][:100]
    with torch.inference_mode():
        elbos = []
        for seed in range(20):    # average the single-sample ELBO over noise
            gen = torch.Generator().manual_seed(seed)
            mu, logvar = small_model.encode(x)
            logits = small_model.decode(small_model.reparameterize(mu, logvar, gen))
            elbos.append(-vae_loss(logits, x, mu, logvar)[0].item())
    elbo = sum(elbos) / len(elbos)
    by_k = {k: bounds.iwae_bound(small_model, x, k=k).mean().item() for k in (1, 10, 100)}
    assert abs(by_k[1] - elbo) < 2.0          # K = 1 is the ELBO, up to sampling noise
    assert by_k[100] > by_k[10] > by_k[1]
    assert by_k[100] > elbo + 1.0


def test_iwae_bound_does_not_depend_on_chunking(small_model, mnist_slice):
    x = mnist_slice[2][:30]
    a = bounds.iwae_bound(small_model, x, k=50, samples_per_chunk=50, seed=3)
    b = bounds.iwae_bound(small_model, x, k=50, samples_per_chunk=50 * 30, seed=3)
    assert a.shape == (30,) and torch.isfinite(a).all()
    assert abs(a.mean() - b.mean()) < 1.0        # other noise draws, same quantity


@pytest.mark.slow
def test_classifier_scores_above_97_percent_on_held_out_digits():
    x, y = data.load("mnist", train=True, limit=22000)     # one thread (conftest): two spin against any other load
    model = classifier.fit(x[:20000], y[:20000], epochs=2, batch_size=64, progress=False)
    accuracy = (classifier.predict(model, x[20000:]) == y[20000:]).float().mean().item()
    assert accuracy > 0.97, accuracy


def test_knn_on_real_digits(mnist_slice):
    x_train, y_train, x_test, y_test = mnist_slice
    pred = latent.knn_predict(x_train.flatten(1), y_train, x_test.flatten(1), k=5)
    assert (pred == y_test).float().mean() > 0.85   # k-NN on raw pixels: a well-known ~90% at 2,000 images
    matrix = latent.confusion_matrix(y_test, pred)
    assert matrix.sum() == len(y_test) and torch.equal(matrix.diag().sum(), (pred == y_test).sum())


def test_interpolations_start_and_end_at_the_reconstructions(small_model, mnist_slice):
    x = mnist_slice[2]
    grid = sampling.interpolations(small_model, x[:2], x[2:4], steps=6)
    assert grid.shape[1:] == (2 * 29 + 1, 6 * 29 + 1)
    recon = small_model.reconstruct(x[:1])[0, 0]
    assert torch.allclose(grid[0, 1:29, 1:29], recon, atol=1e-5)
    assert sampling.prior_samples(small_model, n=16).shape == (3, 2 * 29 + 1, 8 * 29 + 1)


def test_the_latent_grid_is_drawn_as_a_plot_and_each_tile_is_its_code_decoded(small_model):
    """One layout for the drawn grid and for the classifier's reading of its cells (reading.read_grid):
    z1 grows to the right, z2 upward, each tile the decoder's image of its code."""
    values = [-2.0, 0.0, 1.5]
    z = latent.grid_codes(small_model.latent_dim, values)
    assert z[0, :2].tolist() == [-2.0, 1.5] and z[2, :2].tolist() == [1.5, 1.5] and z[6, :2].tolist() == [-2.0, -2.0]
    assert not z[:, 2:].any()                            # the other latent dims at 0
    grid = latent.decode_grid(small_model, values)
    assert grid.shape == (3, 3 * 29 + 1, 3 * 29 + 1)
    row, column = 2, 1                                   # bottom row, middle column: z = (0, -2, 0, 0, 0)
    tile = grid[0, 1 + 29 * row: 29 * (row + 1), 1 + 29 * column: 29 * (column + 1)]
    with torch.inference_mode():
        want = torch.sigmoid(small_model.decode(torch.tensor([[0.0, -2.0, 0.0, 0.0, 0.0]])))[0, 0]
    assert torch.allclose(tile, want, atol=1e-6)


def test_the_embedding_marks_each_centroid_and_keeps_crowded_numbers_apart(small_model, mnist_slice):
    """Test-set means of a trained model, with digit 1's points moved onto digit 0's centroid (two centroids
    0.01 apart): each digit's number is drawn once, no two numbers' boxes overlap, and each dot is its class's
    mean."""
    import matplotlib.pyplot as plt
    from vaelib.analysis import plots
    _, _, x, y = mnist_slice
    z2 = latent.encode_means(small_model, x)[:, :2].clone()
    centre = lambda c: z2[y == c].mean(0)                # noqa: E731
    z2[y == 1] += centre(0) - centre(1) + 0.01
    fig = plots.plot_embedding(z2, y)
    ax = fig.axes[0]
    fig.canvas.draw()
    numbers = [t for t in ax.texts if t.get_text().isdigit()]
    assert sorted(int(t.get_text()) for t in numbers) == sorted(set(y.tolist()))
    boxes = [t.get_bbox_patch().get_window_extent() for t in numbers]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    dots = ax.collections[-1].get_offsets()
    means = torch.stack([z2[y == c].mean(0) for c in sorted(set(y.tolist()))])
    assert torch.allclose(torch.as_tensor(dots.data, dtype=torch.float32), means, atol=1e-5)
    plt.close(fig)


def test_the_extras_figure_is_the_same_for_the_same_results():
    """The committed final losses drawn twice give the same picture (the points' jitter is seeded), and the
    caller's numpy generator is left where it was."""
    import io
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd
    from vaelib.analysis import plots
    from vaelib.infra import paths
    final = pd.read_csv(paths.PROJECT / "results" / "final_by_seed.csv")
    np.random.seed(7)
    before = np.random.get_state()[1].copy()
    pictures = []
    for _ in range(2):
        fig = plots.plot_extra(final, "convwide", "conv", ["convch"])
        buffer = io.BytesIO()
        fig.savefig(buffer, format="rgba")
        pictures.append(buffer.getvalue())
        plt.close(fig)
    assert pictures[0] == pictures[1]
    assert (np.random.get_state()[1] == before).all()


def test_fashion_mnist_loads_verified():
    x, y = data.load("fashion", train=False)
    assert x.shape == (10_000, 1, 28, 28) and torch.bincount(y).tolist() == [1000] * 10


def bound_as_before(model, x, k, seed):
    """The IWAE bound as the code before the fused scoring computed it: the elementwise BCE of every
    decoded sample, the plain transposed-convolution decoder, the same noise draws."""
    import math
    import torch.nn.functional as F
    gen, out = torch.Generator().manual_seed(seed), []
    with torch.inference_mode():
        for xb in x.split(max(1, 2000 // k)):
            mu, logvar = model.encode(xb)
            eps = torch.randn((k, *mu.shape), generator=gen)
            z = mu + eps * torch.exp(0.5 * logvar)
            logits = model.decode(z.flatten(0, 1)).view(k, len(xb), -1)
            log_px_z = -F.binary_cross_entropy_with_logits(logits, xb.flatten(1).expand(k, -1, -1),
                                                           reduction="none").sum(-1)
            log_w = log_px_z - 0.5 * (z.pow(2) + bounds.LOG_2PI).sum(-1) + 0.5 * (eps.pow(2) + bounds.LOG_2PI
                                                                                + logvar).sum(-1)
            out.append(torch.logsumexp(log_w, 0) - math.log(k))
    return torch.cat(out)


@pytest.mark.parametrize("arch", ["linear", "conv"])
def test_the_faster_bound_equals_the_former_one_on_the_same_samples(arch, mnist_slice, tmp_path):
    """The bound's own forms (log p(x|z) as relu - log sigmoid|l| with x*l a matrix product; conv's decoder as
    sub-pixel convolutions, its logits in phase order) against the plain decoder and the elementwise BCE on the same
    draws: the same bound to 1e-4 nats and 1e-5 relative per image, on real test digits."""
    config = RunConfig(arch=arch, latent_dim=10, epochs=1, train_limit=2000, test_limit=100, num_threads=1)
    model = train(config, tmp_path, progress=False).model
    x = mnist_slice[2][:30]
    before = bound_as_before(model, x, k=500, seed=3)
    form = bounds.bound_decoder(model)
    assert isinstance(form, bounds.SubPixelDecoder if arch == "conv" else bounds.LayerDecoder)
    now = bounds.iwae_bound(model, x, k=500, seed=3)
    assert (before - now).abs().max().item() < 1e-4
    assert ((before - now).abs() / before.abs()).max().item() < 1e-5


@pytest.mark.parametrize("arch", ["conv", "convwide", "convch", "linear", "burda"])
def test_the_bounds_decoder_form_is_fixed_by_the_layers_and_gives_the_decoders_logits(arch):
    """Every conv-shaped decoder (any channels, any dense width) gets the sub-pixel form, the others their own
    layers; either way the logits are the decoder's, in the order `order` puts the images in."""
    from vaelib.core.models import build_model
    torch.manual_seed(0)
    model = build_model(arch, 4).eval()
    form = bounds.bound_decoder(model)
    assert isinstance(form, bounds.SubPixelDecoder if arch.startswith("conv") else bounds.LayerDecoder)
    z = torch.randn(50, 4)
    with torch.inference_mode():
        expected = form.order(model.decode(z))
        got = form(z)
    assert got.shape == (50, 784)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    pixels = torch.arange(784.0).view(1, 1, 28, 28)
    assert sorted(form.order(pixels)[0].tolist()) == pixels.flatten().tolist()     # a permutation of the pixels


def test_the_sweeps_active_units_are_the_coordinates_the_kl_panel_shows_above_its_threshold(mnist_slice):
    """Half the coordinates' posterior silenced (mean 0, log-variance 0: KL 0), the other half left as the
    untrained encoder makes them: the count is the number of coordinates whose KL exceeds ACTIVE_KL, and
    the silenced ones are not counted however their mean varies."""
    from vaelib.core.models import build_model
    torch.manual_seed(0)
    model = build_model("linear", 6)
    head = model.encoder[-1]                                  # -> (mu, logvar), 6 each
    with torch.no_grad():
        head.weight.mul_(20)                                  # informative codes on the live half
        for i in (0, 2, 4):
            head.weight[[i, 6 + i]] = 0
            head.bias[[i, 6 + i]] = 0
    x = mnist_slice[0][:500]
    out = latent.latent_diagnostics(model, x)
    kl = sorted(out["kl_per_dim"], reverse=True)
    assert out["active_units"] == latent.count_active(kl) == sum(k > latent.ACTIVE_KL for k in kl) == 3
    assert out["active_rule"] == latent.ACTIVE_RULE
