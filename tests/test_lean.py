"""The lean training step of the reference run (vaelib.training.lean) computes what autograd computes:
the same losses and gradients on one batch, and through the engine the same training, to float tolerance."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import torch

from vaelib.config import RunConfig
from vaelib.core.models import build_model
from vaelib.data import datasets as data
from vaelib.training import engine
from vaelib.training.lean import LeanStep, applies
from vaelib.training.protocols import PROTOCOLS, OneSampleStep


@pytest.fixture(scope="module")
def grey():
    return data.load("mnist-binarized", train=True, limit=400, grey=True)[0]


def model_pair(grey, d=50):
    torch.manual_seed(0)
    model = build_model("burda", d)
    model.init_from_data(grey)
    return model, copy.deepcopy(model)


def named_grads(model):
    return {name: p.grad.clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("beta", [1.0, 0.5])
def test_one_lean_step_gives_autograds_losses_and_gradients(grey, beta):
    xb = data.binarize(grey[:20], torch.Generator().manual_seed(3))
    lean_model, auto_model = model_pair(grey)
    lean = LeanStep(lean_model, beta)
    got = lean(xb, torch.Generator().manual_seed(5))
    want = OneSampleStep(auto_model, beta)(xb, torch.Generator().manual_seed(5))
    assert torch.allclose(got, want, rtol=1e-5, atol=2e-4), (got, want)
    # the flat gradient, read through the model's parameters' places in it
    offsets = {}
    for name, p in lean_model.named_parameters():
        offsets[name] = p.data_ptr() - lean.param.data_ptr()
    flat = lean.param.grad
    for name, p in auto_model.named_parameters():
        start = offsets[name] // flat.element_size()
        g = flat[start:start + p.numel()].view_as(p)
        assert torch.allclose(g, p.grad, rtol=1e-4, atol=1e-4), (name, (g - p.grad).abs().max())
        assert p.grad.abs().max() > 0.1, name                    # a real gradient, not two zeros


def test_the_models_parameters_live_in_the_flat_vector(grey):
    model, _ = model_pair(grey)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    lean = LeanStep(model)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)      # laid out, not changed
    assert lean.param.numel() == sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        lean.param.add_(1.0)
    assert torch.equal(model.mean.bias, before["mean.bias"] + 1.0)      # an update of the vector moves the model


def test_training_with_the_lean_step_follows_autograds(tmp_path, grey):
    """The engine's reference training, 3 epochs of 20 batches, lean and autograd from the same start."""
    cfg = RunConfig(arch="burda", latent_dim=50, dataset="mnist-binarized", epochs=3, batch_size=20,
                    train_limit=400, protocol="burda", num_threads=1)
    x = grey[:400]
    histories, weights = {}, {}
    for kind in ("lean", "autograd"):
        model, optimizer, gens, step = engine.start(cfg, x, torch.device("cpu"))
        if kind == "autograd":
            step = OneSampleStep(model, cfg.beta)
            optimizer = PROTOCOLS[cfg.protocol].optimizer(model.parameters(), cfg.lr)
        assert isinstance(step, LeanStep) == (kind == "lean")
        histories[kind] = pd.DataFrame([
            engine.train_epoch(model, optimizer, step, x, cfg, gens, e) for e in range(1, 4)])
        weights[kind] = model.state_dict()
    pd.testing.assert_frame_equal(histories["lean"], histories["autograd"], rtol=1e-5, atol=1e-3)
    assert histories["lean"]["loss"].iloc[-1] < histories["lean"]["loss"].iloc[0] - 3      # it learns
    for name, w in weights["autograd"].items():
        assert torch.allclose(weights["lean"][name], w, rtol=1e-4, atol=1e-5), name


def test_the_lean_step_is_used_only_where_it_is_written(grey):
    assert applies(build_model("burda", 5))
    assert isinstance(PROTOCOLS["burda"].step(build_model("burda", 5)), LeanStep)
    # the plain protocol on the authors' model keeps autograd's step (training.plain) and the model's parameters
    model = build_model("burda", 5)
    optimizer, step = PROTOCOLS["plain"].start(model, 1e-3, 1.0)
    assert step is None and optimizer.param_groups[0]["params"] == list(model.parameters())
    assert not applies(build_model("linear", 5))
    assert isinstance(PROTOCOLS["burda"].step(build_model("linear", 2)), OneSampleStep)
    with pytest.raises(ValueError, match="BurdaVAE"):
        LeanStep(build_model("conv", 2))


def test_binarizing_by_a_uniform_draw_is_torchs_bernoulli_draw():
    """The faster binarization draws exactly what torch.bernoulli drew from the same generator state, so the
    fixed test-set binarization and every training draw are those of the earlier code."""
    grey = torch.rand(50, 1, 28, 28)
    a, b = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    assert torch.equal(data.binarize(grey, a), torch.bernoulli(grey, generator=b))
    assert torch.equal(data.binarize(grey, a), torch.bernoulli(grey, generator=b))     # and the next draw too
