"""The CUDA tests, skipped without CUDA: a short CUDA run against the CPU one, resume on the same or another
device, the reference step's CUDA graph against its kernels launched one by one. They import torch, pandas,
torchvision and tqdm (the engine's), none of scipy, statsmodels, Dask or papermill, so that they run on a
borrowed GPU machine that has those with pytest carried: see docs/running.md."""

import pandas as pd
import pytest
import torch

from vaelib.config import RunConfig
from vaelib.training.engine import train

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run on a GPU machine)")


def small(device="cpu", epochs=1, arch="linear", **kw):
    return RunConfig(arch=arch, latent_dim=2, epochs=epochs, train_limit=1000, test_limit=300, num_threads=1,
                     device=device, **kw)


@CUDA
@pytest.mark.parametrize("arch", ["linear", "conv"])
def test_a_short_cuda_run_follows_the_cpu_one(arch, tmp_path):
    """The same draws (CPU generators), fp32 without TF32: the histories agree to float rounding."""
    cpu = train(small("cpu", 2, arch), tmp_path / "cpu", progress=False).history
    gpu = train(small("cuda", 2, arch), tmp_path / "cuda", progress=False).history
    columns = ["train_loss", "train_recon", "train_kl", "test_loss", "test_recon", "test_kl"]
    pd.testing.assert_frame_equal(gpu[columns], cpu[columns], rtol=1e-3, atol=1e-2)


@CUDA
@pytest.mark.parametrize("first, then", [("cuda", "cuda"), ("cpu", "cuda"), ("cuda", "cpu")])
def test_a_run_resumes_on_the_same_or_another_device(first, then, tmp_path):
    """Stopped after epoch 1 on `first`, resumed on `then`: on one device the history is the uninterrupted
    one bit for bit; across devices it follows it to float rounding (the streams are the same)."""
    whole = train(small(then, 2), tmp_path / "whole", progress=False).history
    train(small(first, 1), tmp_path / "parts", progress=False)
    resumed = train(small(then, 2), tmp_path / "parts", progress=False, extend=True).history
    columns = ["train_loss", "test_loss"]
    if first == then:
        pd.testing.assert_frame_equal(resumed[columns], whole[columns], rtol=0, atol=0)
    else:
        pd.testing.assert_frame_equal(resumed[columns], whole[columns], rtol=1e-3, atol=1e-2)


@CUDA
def test_the_reference_step_from_its_cuda_graph_is_the_step_kernel_by_kernel(monkeypatch, tmp_path):
    """The lean step replays its kernels from a captured CUDA graph: the same kernels on the same buffers, so
    the same history and weights bit for bit as launching them one by one (benchmarks.gpu times both)."""
    from vaelib.training import lean
    config = RunConfig(arch="burda", latent_dim=50, dataset="mnist-binarized", protocol="burda", batch_size=20,
                       epochs=2, train_limit=1000, test_limit=100, num_threads=1, device="cuda")
    graphed = train(config, tmp_path / "graph", progress=False)
    monkeypatch.setattr(lean.LeanStep, "graphs", False)
    eager = train(config, tmp_path / "eager", progress=False)
    pd.testing.assert_frame_equal(graphed.history[["train_loss", "test_loss"]],
                                  eager.history[["train_loss", "test_loss"]], rtol=0, atol=0)
    assert all(torch.equal(a, b) for a, b in zip(graphed.model.state_dict().values(),
                                                 eager.model.state_dict().values()))
