"""The sweep definition: one place, validated before any work, read by the runner and notebooks."""

import pytest

from vaelib.config import ConfigError
from vaelib.config.sweep import SMOKE, Sweep


def test_the_default_sweep_is_the_seed_grid_with_ten_seeds_extras_and_an_appendix():
    sweep = Sweep()
    names = [c.name for c in sweep.configs()]
    assert len(names) == 2 * 5 * 10 + 2 * 10 + 2 * 5 + 1 and len(set(names)) == len(names)
    assert "conv_2_s0" in names and "linear_50_s9" in names and names[-1] == "fashion_conv_2_s0"
    # the wide-dense extra: conv with a 256-unit dense layer at the two largest d, every seed, no IWAE bound
    extras = [c for c in sweep.configs() if c.arch == "convwide"]
    assert sorted({c.latent_dim for c in extras}) == [10, 50] and {c.seed for c in extras} == set(range(10))
    assert all(sweep.iwae_k_for(c) == 0 for c in extras) and sweep.iwae_k_for(sweep.grid()[0]) == 1000
    # its control, parameter-matched conv with conv's dense width: the same d, the first five seeds
    control = [c for c in sweep.configs() if c.arch == "convch"]
    assert sorted({c.latent_dim for c in control}) == [10, 50] and {c.seed for c in control} == set(range(5))
    assert Sweep(extras=()).configs() == [c for c in sweep.configs() if c.arch not in ("convwide", "convch")]
    assert Sweep(extras=["matched-params"]).extra_configs() == []   # nothing to compare the control with
    assert Sweep(archs=["linear"]).extra_configs() == []         # no conv to compare with: no extra


def test_subsets_and_papermill_strings():
    sweep = Sweep.from_params({"archs": ["conv"], "dims": ["10", "5"], "seeds": "0", "datasets": ["mnist"],
                               "extras": "wide-dense"})
    assert [c.name for c in sweep.configs()] == ["conv_5_s0", "conv_10_s0", "convwide_5_s0", "convwide_10_s0"]
    assert not sweep.has_2d()
    assert Sweep.from_params(sweep.to_params()) == sweep          # round trip through a notebook parameter


def test_seeds_are_named_as_runs_of_consecutive_numbers():
    from vaelib.config.sweep import seed_runs
    assert [seed_runs(s) for s in (range(10), [0, 1, 2, 3, 4, 7], [0, 2], [0, 1], [3], [9, 8, 0])] == \
        ["0-9", "0-4, 7", "0, 2", "0, 1", "3", "0, 8, 9"]


def test_smoke_sizes_apply_on_top():
    sweep = Sweep.from_params({"dims": [2]}, smoke=True)
    assert sweep.epochs == SMOKE["epochs"] and sweep.train_limit == SMOKE["train_limit"]
    assert sweep.configs()[0].test_limit == SMOKE["test_limit"]


@pytest.mark.parametrize("params,message", [
    ({"archs": ["mlp"]}, "archs='mlp' is not allowed; expected one of: linear, conv"),
    ({"dims": [0]}, "dims=0 is not allowed; expected an integer >= 1"),
    ({"dims": [2, 2]}, "dims=[2, 2] repeats a value"),
    ({"seeds": []}, "seeds is empty"),
    ({"datasets": ["fashion"]}, "the first dataset must be one of mnist, mnist-binarized"),
    ({"epoch": 3}, "unknown sweep setting(s) epoch"),
    ({"extras": ["wider"]}, "extras='wider' is not allowed; expected one of: wide-dense, matched-params"),
])
def test_bad_sweeps_are_refused_by_name(params, message):
    with pytest.raises(ConfigError) as err:
        Sweep.from_params(params)
    assert message in str(err.value)
