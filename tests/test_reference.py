"""The binarized protocol and the reference run (Burda et al. 2015), on real MNIST slices."""

import dataclasses
import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from vaelib.analysis import writeup
from vaelib.infra import paths
from vaelib.data import datasets as data
from vaelib.config import reference
from vaelib.training import runs
from vaelib.config import ConfigError, RunConfig
from vaelib.core.models import build_model, count_params
from vaelib.infra.atomic import torch_load
from vaelib.infra.paths import PROJECT
from vaelib.training.engine import train
from vaelib.evaluation.nll import images_of


def test_binarized_splits_are_fixed_seeded_draws_of_the_grey_levels():
    grey, labels = data.load("mnist", train=False)
    binary, same_labels = data.load("mnist-binarized", train=False)
    assert torch.equal(labels, same_labels)
    assert set(binary.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(binary, data.load("mnist-binarized", train=False)[0])          # fixed
    assert torch.equal(binary[:300], data.load("mnist-binarized", train=False, limit=300)[0])  # a slice: same pixels
    assert binary[grey == 0].sum() == 0 and binary[grey == 1].min() == 1               # certain pixels stay
    assert abs(binary.mean().item() - grey.mean().item()) < 2e-3                       # a draw of the grey levels
    assert torch.equal(data.load("mnist-binarized", train=False, grey=True)[0], grey)


def test_the_output_bias_starts_at_the_log_odds_of_the_mean_training_pixel(mnist_slice):
    x = mnist_slice[0]
    model = build_model("burda", 50)
    assert count_params(model) == 425_284        # 784-200-200-(2x50) and 50-200-200-784
    model.init_from_data(x)
    expected = torch.logit(x.flatten(1).mean(0).clamp(1e-3, 1 - 1e-3))
    assert torch.allclose(model.decoder[-2].bias, expected)
    assert all(isinstance(m, torch.nn.Tanh) for m in model.modules() if isinstance(m, (torch.nn.Tanh, torch.nn.ReLU)))


def test_training_binarizes_each_draw_afresh(tmp_path):
    """Same seed and data, grey vs binarized: the fixed test set is binary, and the training draws differ
    from epoch to epoch (two epochs over the same images do not see the same pixels)."""
    config = RunConfig(arch="burda", latent_dim=5, epochs=2, train_limit=500, test_limit=100, num_threads=1,
                       dataset="mnist-binarized", batch_size=100)
    x, _ = data.load("mnist-binarized", train=True, limit=500, grey=True)
    gen = torch.Generator().manual_seed(config.seed + 2)
    first, second = data.binarize(x, gen), data.binarize(x, gen)
    assert not torch.equal(first, second)
    run = train(config, tmp_path, progress=False, snapshot_epochs=[1])
    ckpt = torch_load(run.folder / "checkpoint.pt", weights_only=False)
    assert "binarize" in ckpt["rng"]
    assert (run.folder / "weights_epoch1.pt").is_file()
    assert run.history["test_loss"].iloc[-1] < run.history["test_loss"].iloc[0]


@pytest.mark.slow
def test_reference_command_end_to_end_and_its_rendered_section(tmp_path):
    """The whole command on tiny slices (the engine, snapshots, NLL in pieces), its files, a second run
    that reuses everything, and the write-up section rendered beside the committed report's results."""
    cmd = [sys.executable, "-m", "vaelib.reference", "--epochs", "2", "--train-limit", "500", "--test-limit", "40",
           "--k", "20", "--curve-images", "10", "--out", str(tmp_path)]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    info = json.loads((tmp_path / "results" / "reference.json").read_text())
    curve = pd.read_csv(tmp_path / "results" / "reference_by_epoch.csv")
    assert list(curve["epoch"]) == [1, 2] and set(curve["test_images"]) == {10}
    assert info["paper"]["vae_nll"] == 86.76 and info["ours"]["epochs"] == 2 and info["ours"]["test_images"] == 40
    assert info["gap_nats"] == pytest.approx(info["ours"]["nll"] - 86.76)
    folder = tmp_path / "runs" / "mnist-binarized_burda_50_s0"
    history = runs.load_history(folder)
    # the whole-test-set estimate: 40 per-image bounds from its pieces, each at most log p(x) <= 0
    parts = [json.loads((folder / f"nll_epoch2_k20_images{a}-{b}.json").read_text()) for a, b in reference.pieces(40)]
    bounds = torch.tensor([b for p in parts for b in p["bounds"]])
    assert len(bounds) == 40 and (bounds < 0).all()
    assert info["ours"]["nll"] == pytest.approx(-bounds.double().mean().item())
    # the IWAE bound (K=20) is tighter than the ELBO: NLL below -ELBO, on the same fixed test images
    assert info["ours"]["nll"] < history["test_loss"].iloc[-1] + 1.0
    assert (tmp_path / "figures" / "reference_nll.png").stat().st_size > 10_000
    # the stage table, the active units on 500 training images, and the training subset beside the test one
    assert list(curve["stage"]) == [1, 2] and curve["learning_rate"].tolist() == pytest.approx([1e-3, 7.2e-4])
    # the figure's left panel: the -ELBO on the NLL's own images, which the IWAE bound (K=20) lies below
    assert (curve["nll"] < curve["test_neg_elbo_curve_images"] + 1.0).all()
    assert not curve["test_neg_elbo_curve_images"].equals(curve["test_neg_elbo"])
    assert curve["stage_minutes"].sum() == pytest.approx(curve["train_minutes"].iloc[-1])
    assert 0 <= info["ours"]["active_units"] <= 50 and info["ours"]["active_unit_images"] == 500
    train_part = json.loads((folder / "nll_epoch2_k20_train_images0-10.json").read_text())
    assert info["ours"]["train_subset_nll"] == pytest.approx(-torch.tensor(train_part["bounds"]).double().mean().item())
    assert info["ours"]["subset_images"] == 10 and info["ours"]["test_subset_nll"] == pytest.approx(curve["nll"].iloc[-1])
    # the gap's interval: the spread of the whole-test-set NLL over 5 binarizations (draw 0: the fixed one), each
    # at K = 1,000 and its own estimator draws; the draws score other pixels than the fixed binarization
    draws = [json.loads((folder / f"nll_epoch2_k1000_images0-40_draw{n}.json").read_text()) for n in range(5)]
    means = [-np.mean(d["bounds"]) for d in draws]
    assert info["binarizations"]["nll"] == pytest.approx(means) and len(set(means)) == 5
    assert [d["settings"]["seed"] for d in draws] == [n * 100_003 for n in range(5)]
    half = stats.t.ppf(0.975, 4) * np.sqrt(2) * np.std(means, ddof=1)
    gap = info["gap"]
    assert (gap["ci_low"], gap["ci_high"]) == pytest.approx((info["gap_nats"] - half, info["gap_nats"] + half))
    assert gap["difference"] == pytest.approx(info["gap_nats"]) and "verdict" not in gap
    config = runs.read_config(folder)
    fixed, other = images_of(config, "test", 0), images_of(config, "test", 1)
    assert torch.equal(fixed, data.load("mnist-binarized", train=False, limit=40)[0]) and len(other) == 40
    assert set(other.unique().tolist()) == {0.0, 1.0} and not torch.equal(fixed, other)
    test_part = json.loads((folder / "nll_epoch2_k20_images0-10.json").read_text())
    welch = stats.ttest_ind(-np.array(test_part["bounds"]), -np.array(train_part["bounds"]), equal_var=False)
    low, high = welch.confidence_interval(0.95)
    assert (info["overfit"]["ci_low"], info["overfit"]["ci_high"]) == pytest.approx((low, high))
    assert info["overfit"]["difference"] == pytest.approx(info["ours"]["test_subset_nll"] - info["ours"]["train_subset_nll"])

    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "reused" in again.stdout + again.stderr
    assert json.loads((tmp_path / "results" / "reference.json").read_text())["ours"]["nll"] == info["ours"]["nll"]

    results = tmp_path / "report_results"
    shutil.copytree(PROJECT / "results", results)
    for name in ("reference.json", "reference_by_epoch.csv"):
        shutil.copy(tmp_path / "results" / name, results / name)
    text = writeup.render(results)
    section = text[text.index("## Against the literature"):text.index("## Reproduce")]
    assert f"{info['ours']['nll']:.2f}" in section and "86.76" in section and "| 2 | 2 |" in section
    assert f"| {info['paper']['active_units']} | {info['ours']['active_units']} (a count of one seed beside one of " \
           f"the paper's: no test) |" in section and info["active_units"]["count"] == info["ours"]["active_units"]
    assert f"The gap is {gap['difference']:.2f} nats, 95% interval\n[{gap['ci_low']:.2f}, {gap['ci_high']:.2f}]" in section
    assert "no verdict on the protocol" in section
    assert f"the claim \"the training images score better\": **{info['overfit']['verdict']}**" in section


def test_bad_reference_input_is_refused_before_any_work(tmp_path):
    out = subprocess.run([sys.executable, "-m", "vaelib.reference", "--epochs", "0", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "epochs=" in out.stderr
    assert not any(tmp_path.iterdir())


def test_a_whole_sweep_can_be_about_binarized_mnist(tmp_path):
    """The sweep's first dataset may be the binarized protocol: runs are named by it, and the write-up says
    that its likelihoods are those of binary images (and the grey-level caveat otherwise)."""
    from vaelib.config.sweep import Sweep
    sweep = Sweep(archs=["linear"], dims=[2], seeds=[0], datasets=["mnist-binarized"])
    assert [c.name for c in sweep.configs()] == ["mnist-binarized_linear_2_s0"]
    results = tmp_path / "results"
    shutil.copytree(PROJECT / "results", results)
    assert "The pixels are grey levels" in writeup.render(results)
    run = json.loads((results / "run.json").read_text())
    run["sweep"]["datasets"] = ["mnist-binarized"]
    (results / "run.json").write_text(json.dumps(run))
    text = writeup.render(results)
    assert "The pixels are binary" in text and "The pixels are grey levels" not in text


def test_burda_adam_takes_the_hand_computed_steps():
    """Three steps of the authors' Adam on one parameter, by hand: the first moves nothing (the previous
    moments are the initial ones, m = 0), step t moves by alpha(t) * m(t-1) / (sqrt(v(t-1)) + 1e-4), with
    m and v holding the gradients up to t-1 (v starting at 1)."""
    from vaelib.training.protocols import BurdaAdam
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    opt = BurdaAdam([p], lr=0.1, betas=(0.99, 0.999), eps=1e-4, v0=1.0)
    grads = [torch.tensor(g, dtype=torch.float64) for g in ([0.5, -1.0], [2.0, 0.25], [-0.3, 4.0])]
    m, v, want = torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64), p.detach().clone()
    for t, g in enumerate(grads, start=1):
        alpha = 0.1 * (1 - 0.999 ** t) ** 0.5 / (1 - 0.99 ** t)
        want = want - alpha * m / (v.sqrt() + 1e-4)
        m, v = 0.99 * m + 0.01 * g, 0.999 * v + 0.001 * g ** 2
        p.grad = g.clone()
        opt.step()
        assert p.grad is None                                                # the optimizer took it
        assert torch.allclose(p.detach(), want, rtol=0, atol=1e-12), t
        if t == 1:
            assert torch.equal(p.detach(), torch.tensor([1.0, -2.0], dtype=torch.float64))   # no move
    state = opt.state[p]                     # the moments of steps 1-2, gradient 3 pending, as checkpointed
    assert torch.allclose(state["exp_avg"], 0.99 * (0.01 * grads[0]) + 0.01 * grads[1], atol=1e-15)
    assert torch.equal(state["pending"], grads[2]) and state["step"].item() == 3


def test_the_authors_stages_and_rates():
    from vaelib.training.protocols import PROTOCOLS
    authors = PROTOCOLS["burda"]
    assert reference.STAGE_ENDS == (1, 4, 13, 40, 121, 364, 1093, 3280)
    rates = [authors.learning_rate(1e-3, end) for end in reference.STAGE_ENDS]
    assert rates == pytest.approx([1e-3, 7.2e-4, 5.2e-4, 3.7e-4, 2.7e-4, 1.9e-4, 1.4e-4, 1e-4])
    assert reference.stage_of(64) == 5 and authors.learning_rate(1e-3, 64) == pytest.approx(2.7e-4)
    assert PROTOCOLS["plain"].learning_rate(1e-3, 3000) == 1e-3


def test_a_config_names_exactly_the_protocols_there_are():
    """config.run validates the protocol's name before any work, without importing training (the floors):
    its list of names is the protocols' own, and each protocol is registered under its stored name."""
    from vaelib.config.run import PROTOCOL_NAMES
    from vaelib.training.protocols import PROTOCOLS
    assert tuple(PROTOCOLS) == PROTOCOL_NAMES
    assert all(p.name == name for name, p in PROTOCOLS.items())
    with pytest.raises(ConfigError, match="protocol"):
        RunConfig(arch="linear", latent_dim=2, protocol="literature")


def test_the_protocol_table_is_the_description_results_reference_json_holds():
    """The report's protocol table comes from the protocols' descriptions; the committed results hold them."""
    from vaelib.training.protocols import PROTOCOLS
    settings = json.loads((PROJECT / "results" / "reference.json").read_text())["protocol_settings"]
    assert list(settings) == list(PROTOCOLS)
    for name, protocol in PROTOCOLS.items():
        assert list(settings[name].items()) == list(dataclasses.asdict(protocol.description).items())  # the rows' order too


def test_the_burda_protocol_trains_in_order_and_resumes_exactly(tmp_path):
    """In-order minibatches and the stage schedule through the engine: a run of 2 epochs extended to 5 equals
    an uninterrupted one of 5 (the optimizer's moments and timestep are in the checkpoint)."""
    cfg = RunConfig(arch="burda", latent_dim=5, dataset="mnist-binarized", epochs=5, batch_size=20,
                    train_limit=200, test_limit=50, num_threads=1, protocol="burda")
    whole = train(cfg, tmp_path / "whole", progress=False).history
    short = train(dataclasses.replace(cfg, epochs=2), tmp_path / "parts", progress=False)
    with pytest.raises(runs.RunConflictError, match="epochs: 2 there, 5 asked"):
        train(cfg, tmp_path / "parts", progress=False)                      # not without asking
    resumed = train(cfg, tmp_path / "parts", progress=False, extend=True).history
    assert (short.folder / "weights_epoch2.pt").is_file()
    cols = ["train_loss", "train_recon", "train_kl", "test_loss"]
    pd.testing.assert_frame_equal(whole[cols], resumed[cols], check_exact=True)


COMMITTED = PROJECT / "checkpoints" / "reference" / "mnist-binarized_burda_50_s0"


def test_the_committed_run_and_its_estimates_are_fresh_by_their_versions_and_stale_after_a_bump(monkeypatch):
    """The committed reference run and its NLL estimates were made before versions existed; the migration
    (infra.provenance.BEFORE_VERSIONS) counts them as training 1 and nll 1, so they are reused as they are,
    with no file touched; a bumped version makes them stale (the golden tests hold the numbers behind each)."""
    from vaelib.core import iwae
    from vaelib.evaluation import nll
    from vaelib.training import engine
    before = {p.name: p.read_bytes() for p in COMMITTED.glob("*.json")}
    assert not runs.is_stale(COMMITTED, engine.TRAINING_VERSION)
    assert runs.is_stale(COMMITTED, engine.TRAINING_VERSION + 1)
    estimate = nll.cached(COMMITTED, 3280, 5000, 5000, 7500)
    assert estimate is not None and len(estimate["bounds"]) == 2500
    monkeypatch.setattr(iwae.LayerDecoder, "VERSION", iwae.LayerDecoder.VERSION + 1)
    iwae.version.cache_clear()
    assert nll.cached(COMMITTED, 3280, 5000, 5000, 7500) is None
    iwae.version.cache_clear()
    assert {p.name: p.read_bytes() for p in COMMITTED.glob("*.json")} == before


def test_the_reference_run_counts_active_units_by_the_authors_rule_on_the_committed_run():
    """The authors' rule (variance of the posterior mean over 500 training images > 0.01), not the sweep's
    KL rule: the committed run's count stays the 20 its results record."""
    from vaelib.analysis.reference import active_units
    folder = paths.PROJECT / "checkpoints" / "reference" / "mnist-binarized_burda_50_s0"
    info = json.loads((paths.PROJECT / "results" / "reference.json").read_text())
    assert active_units(folder, 3280)["count"] == info["ours"]["active_units"] == 20
