"""A training configuration, validated before any work starts.

Parameters come from the CLI, from papermill ``-p`` (sometimes as strings) and from Python, so
`RunConfig.from_params` coerces strings once and every check names the parameter, the value and
what is allowed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from dataclasses import dataclass

from ..core.models import ARCHS
from ..data.datasets import DATASETS
from ..infra.faults import Refused

PROTOCOL_NAMES = ("plain", "burda")     # training.protocols.PROTOCOLS's (config may not import training)

# Fields that change the result; device and thread count only change the speed.
IDENTITY = ("dataset", "arch", "latent_dim", "epochs", "batch_size", "lr", "beta", "seed",
            "train_limit", "test_limit", "protocol", "init_seed")
DEFAULTS = {"protocol": "plain", "init_seed": None}     # what a saved config without the field (older code) meant


class ConfigError(Refused, ValueError):
    """A parameter is out of its allowed range; raised before any work starts."""


def _as_int(name, value, minimum, optional=False):
    if optional and value in (None, "", "None", "none"):
        return None
    if value is None:
        raise ConfigError(f"{name} is required (an integer >= {minimum})")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):      # a string that is no integer is refused below, as it is
            value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name}={value!r} is not allowed; expected an integer >= {minimum}")
    return value


def _as_float(name, value, *, positive=False, nonnegative=False):
    allowed = "a number > 0" if positive else "a number >= 0"
    try:
        out = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={value!r} is not allowed; expected {allowed}") from None
    if isinstance(value, bool) or out != out or out in (float("inf"), float("-inf")) \
            or (positive and out <= 0) or (nonnegative and out < 0):
        raise ConfigError(f"{name}={value!r} is not allowed; expected {allowed}")
    return out


def _as_choice(name, value, allowed):
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not allowed; expected one of: {', '.join(allowed)}")
    return value


@dataclass(frozen=True)
class RunConfig:
    arch: str
    latent_dim: int
    epochs: int = 15
    batch_size: int = 128
    lr: float = 1e-3
    beta: float = 1.0
    seed: int = 0
    dataset: str = "mnist"
    train_limit: int | None = None
    test_limit: int | None = None
    device: str = "auto"
    num_threads: int = 0   # 0: share the cores with the other running vaelib jobs (vaelib.cpushare)
    protocol: str = "plain"    # how it is trained (training.protocols): "plain", or "burda" (the authors' code)
    # The initial weights' seed when it is not `seed` (which then seeds only the batch order and the noise):
    # the collapse experiment swaps the two between runs. None (the default, and what `seed` gives) keeps a
    # run bit-identical to one trained before the field existed.
    init_seed: int | None = None

    def __post_init__(self):
        checks = {
            "arch": _as_choice("arch", self.arch, ARCHS),
            "latent_dim": _as_int("latent_dim", self.latent_dim, 1),
            "epochs": _as_int("epochs", self.epochs, 1),
            "batch_size": _as_int("batch_size", self.batch_size, 1),
            "lr": _as_float("lr", self.lr, positive=True),
            "beta": _as_float("beta", self.beta, nonnegative=True),
            "seed": _as_int("seed", self.seed, 0),
            "dataset": _as_choice("dataset", self.dataset, tuple(DATASETS)),
            "train_limit": _as_int("train_limit", self.train_limit, 1, optional=True),
            "test_limit": _as_int("test_limit", self.test_limit, 1, optional=True),
            "device": _as_device(self.device),
            "num_threads": _as_int("num_threads", self.num_threads, 0),
            "protocol": _as_choice("protocol", self.protocol, PROTOCOL_NAMES),
            "init_seed": _as_int("init_seed", self.init_seed, 0, optional=True),
        }
        if checks["init_seed"] == checks["seed"]:
            checks["init_seed"] = None          # one run, one name
        for name, value in checks.items():
            object.__setattr__(self, name, value)

    @classmethod
    def from_params(cls, **params) -> "RunConfig":
        """Build from loose parameters (strings welcome), rejecting unknown names."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ConfigError(f"unknown parameter(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
        return cls(**params)

    @property
    def weights_seed(self) -> int:
        """The seed of the initial weights."""
        return self.seed if self.init_seed is None else self.init_seed

    def identity(self) -> dict:
        return {k: getattr(self, k) for k in IDENTITY}

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "RunConfig":
        """A saved config.json (a field it lacks, written by older code, has the meaning DEFAULTS gives)."""
        return cls.from_params(**{**DEFAULTS, **json.loads(text)})

    @property
    def name(self) -> str:
        """The run folder's name: every setting a sweep varies, {arch}_{d}_s{seed} (dataset prefix unless MNIST;
        _i{init_seed} where the initial weights have a seed of their own)."""
        base = f"{self.arch}_{self.latent_dim}_s{self.seed}" + ("" if self.init_seed is None else f"_i{self.init_seed}")
        return base if self.dataset == "mnist" else f"{self.dataset}_{base}"


def check_device(value: str) -> str:
    """A device name this machine can use: 'auto', 'cpu', or 'cuda[:N]' when CUDA is visible."""
    _as_device(value)
    if value.startswith("cuda"):
        import torch
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(value.split(":")[1]) if ":" in value else 0
        if index >= count:
            raise ConfigError(f"device={value!r} is not available here ({count} CUDA device(s) visible); "
                              f"use 'auto' or 'cpu'")
    return value


def _as_device(value):
    if not isinstance(value, str) or not (value in ("auto", "cpu", "mps") or value.startswith("cuda")):
        raise ConfigError(f"device={value!r} is not allowed; expected 'auto', 'cpu' or 'cuda[:N]'")
    return value
