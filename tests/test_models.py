import pytest
import torch

from vaelib.core.models import ARCHS, build_model, count_params
from vaelib.config.sweep import Sweep

DIMS = list(Sweep().dims)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("d", DIMS)
def test_shapes(arch, d):
    x = torch.rand(7, 1, 28, 28, generator=torch.Generator().manual_seed(0))   # grey levels in [0, 1): no MNIST needed
    model = build_model(arch, d)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (7, d)
    assert model.decode(mu).shape == (7, 1, 28, 28)
    logits, mu2, _ = model(x)
    assert logits.shape == x.shape and torch.equal(mu, mu2)


def test_any_latent_dim_works():
    for arch in ARCHS:
        assert build_model(arch, 1)(torch.rand(2, 1, 28, 28))[0].shape == (2, 1, 28, 28)


# The exact counts the write-up cites (results/params.csv); the handout's "400K" and "200K" at d = 2.
PARAMS = {("linear", 2): 404_244, ("linear", 3): 405_014, ("linear", 5): 406_554, ("linear", 10): 410_404,
          ("linear", 50): 441_204, ("conv", 2): 219_749, ("conv", 3): 219_943, ("conv", 5): 220_331,
          ("conv", 10): 221_301, ("conv", 50): 229_061}


@pytest.mark.parametrize("arch,d", list(PARAMS))
def test_param_counts_are_the_ones_the_write_up_cites(arch, d):
    assert count_params(build_model(arch, d)) == PARAMS[(arch, d)]


def test_conv_has_about_half_the_params_of_linear_at_small_d():
    ratio = count_params(build_model("conv", 2)) / count_params(build_model("linear", 2))
    assert 0.4 <= ratio <= 0.65


def test_unknown_arch_is_refused():
    with pytest.raises(ValueError, match="arch='mlp'.*linear, conv"):
        build_model("mlp", 2)
