import pytest
import torch

from vaelib.models import ARCHS, build_model, count_params

DIMS = [2, 3, 5, 10, 50]


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("d", DIMS)
def test_shapes(arch, d, mnist_slice):
    x = mnist_slice[0][:7]
    model = build_model(arch, d)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (7, d)
    assert model.decode(mu).shape == (7, 1, 28, 28)
    logits, mu2, _ = model(x)
    assert logits.shape == x.shape and torch.equal(mu, mu2)


def test_any_latent_dim_works():
    for arch in ARCHS:
        assert build_model(arch, 1)(torch.rand(2, 1, 28, 28))[0].shape == (2, 1, 28, 28)


@pytest.mark.parametrize("arch,target", [("linear", 400_000), ("conv", 200_000)])
def test_param_counts_near_the_seed(arch, target):
    n = count_params(build_model(arch, 2))
    assert abs(n - target) / target <= 0.25, n


def test_conv_has_about_half_the_params_of_linear_at_small_d():
    ratio = count_params(build_model("conv", 2)) / count_params(build_model("linear", 2))
    assert 0.4 <= ratio <= 0.65


def test_unknown_arch_is_refused():
    with pytest.raises(ValueError, match="arch='mlp'.*linear, conv"):
        build_model("mlp", 2)
