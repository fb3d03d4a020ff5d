import pandas as pd
import pytest
import torch

from vaelib.config import RunConfig
from vaelib.core.losses import vae_loss
from vaelib.core.models import build_model, load_model
from vaelib.core.bounds import mean_loss
from vaelib.training.engine import train

LOSS_COLUMNS = ["train_loss", "train_recon", "train_kl", "test_loss", "test_recon", "test_kl"]


@pytest.mark.parametrize("arch", ["linear", "conv"])
def test_a_few_hundred_steps_lower_the_test_loss(arch, mnist_slice):
    x_train, _, x_test, _ = mnist_slice
    torch.manual_seed(0)
    model = build_model(arch, 5)
    before = mean_loss(model, x_test)["loss"]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for step in range(300):
        xb = x_train[(step * 64) % 1984:][:64]
        logits, mu, logvar = model(xb)
        loss, _, _ = vae_loss(logits, xb, mu, logvar)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = mean_loss(model, x_test)
    assert after["loss"] < before - 200   # from about 543 nats (random decoder) to about 200
    assert after["recon"] > 0 and after["kl"] > 0


def small(arch="linear", **kw):
    return RunConfig(arch=arch, latent_dim=2, epochs=2, train_limit=1000, test_limit=300, num_threads=1, **kw)


def test_train_writes_a_complete_run_folder(tmp_path):
    run = train(small(), tmp_path, progress=False)
    folder = tmp_path / "linear_2_s0"
    assert run.folder == folder
    for name in ["config.json", "history.csv", "weights.pt", "checkpoint.pt",
                 "test_1.png", "train_1.png", "test_2.png", "train_2.png"]:
        assert (folder / name).stat().st_size > 0, name
    history = pd.read_csv(folder / "history.csv")
    assert list(history["epoch"]) == [1, 2]
    assert set(LOSS_COLUMNS + ["seconds"]) <= set(history.columns)
    assert (history["test_loss"] - history["test_recon"] - history["test_kl"]).abs().max() < 1e-3
    assert load_model(folder).latent_dim == 2


def test_same_seed_same_history(tmp_path):
    a = train(small("conv"), tmp_path / "a", progress=False).history
    b = train(small("conv"), tmp_path / "b", progress=False).history
    c = train(small("conv", seed=1), tmp_path / "c", progress=False).history
    pd.testing.assert_frame_equal(a[LOSS_COLUMNS], b[LOSS_COLUMNS], check_exact=True)
    assert not a[LOSS_COLUMNS].equals(c[LOSS_COLUMNS])


def test_finished_run_is_reused_not_retrained(tmp_path):
    first = train(small(), tmp_path, progress=False)
    mtime = (first.folder / "weights.pt").stat().st_mtime_ns
    again = train(small(), tmp_path, progress=False)
    assert (again.folder / "weights.pt").stat().st_mtime_ns == mtime
    pd.testing.assert_frame_equal(first.history, again.history)


def test_the_training_grids_are_torchvisions_picture(tmp_path):
    from torchvision.utils import save_image
    from vaelib.training.engine import save_grid
    images = torch.rand(32, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    images[0] = 0.0
    images[1] = 1.0
    for n in (32, 13):
        save_image(images[:n], tmp_path / "theirs.png", nrow=8, padding=2)
        save_grid(images[:n], tmp_path / "ours.png", nrow=8, padding=2)
        assert (tmp_path / "ours.png").read_bytes() == (tmp_path / "theirs.png").read_bytes()
