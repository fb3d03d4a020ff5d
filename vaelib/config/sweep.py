"""What a report covers, defined once: architectures, latent dimensions, seeds, datasets, epochs.

The runner, the notebooks (as a papermill parameter), the benchmarks and the tests all read a
`Sweep`. The first dataset gets the whole grid (archs x dims x seeds); every further dataset gets
one appendix model (conv, the smallest d, the first seed).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from ..core.models import ARCHS, SWEEP_ARCHS
from ..data.datasets import DATASETS
from .run import ConfigError, RunConfig, _as_choice, _as_int

DIGITS = ("mnist", "mnist-binarized")   # datasets a report can be about (its claims read digits)

DIMS = (2, 3, 5, 10, 50)
# Named extras: experiments beside the grid, each an architecture trained at the grid's two largest d
# with every seed, to test an explanation the write-up would otherwise only assert.
EXTRAS = {
    # Does conv's 64-unit dense layer limit what it gains from the second-largest d to the largest? The same
    # conv with linear's 256 units (models.WIDE_HIDDEN), compared with conv at the same d.
    "wide-dense": ("convwide", "conv"),      # (arch trained, the arch it is compared with)
    # The control: is it the dense layer's width or the parameters it adds? Conv with convwide's parameter
    # count in its channels and conv's dense width (models.MATCHED_CHANNELS), compared with convwide.
    "matched-params": ("convch", "convwide"),
}
# Extras trained on the sweep's first seeds only (the rest: every seed). convch's step costs about twice
# conv's; five seeds against convwide's ten.
EXTRA_SEEDS = {"matched-params": 5}
SEEDS = tuple(range(10))
# CI-sized: a few thousand images, one epoch, a cheap likelihood bound; two seeds so spreads exist.
SMOKE = {"epochs": 1, "train_limit": 2000, "test_limit": 500, "iwae_k": 50, "seeds": (0, 1)}
# A quick look (python -m vaelib.report --quick): the grid's two ends for two epochs, one seed, no extras and no
# appendix, a cheaper bound, and a digit classifier trained on 10,000 images (the full one took most of the time).
QUICK = {"epochs": 2, "dims": (2, 50), "seeds": (0,), "iwae_k": 100, "extras": (), "datasets": ("mnist",),
         "classifier_limit": 10000}


def seed_runs(seeds) -> str:
    """Seeds as runs of consecutive numbers, as the write-up and the figures name them: "0-9", "0-4, 7", "0, 2"."""
    seeds, parts = sorted(int(s) for s in set(seeds)), []
    for s in seeds:
        if parts and s == parts[-1][1] + 1:
            parts[-1][1] = s
        else:
            parts.append([s, s])
    return ", ".join(str(a) if a == b else f"{a}, {b}" if b == a + 1 else f"{a}-{b}" for a, b in parts)


def _as_tuple(name, values, item):
    if isinstance(values, (str, int)):
        values = [values]
    try:
        out = tuple(item(v) for v in values)
    except ConfigError as e:
        raise ConfigError(f"{name}: {e}") from None
    if not out:
        raise ConfigError(f"{name} is empty; give at least one value")
    if len(set(out)) != len(out):
        raise ConfigError(f"{name}={list(out)} repeats a value")
    return out


@dataclass(frozen=True)
class Sweep:
    archs: tuple = SWEEP_ARCHS
    dims: tuple = DIMS
    seeds: tuple = SEEDS
    epochs: int = RunConfig.epochs
    datasets: tuple = ("mnist", "fashion")
    train_limit: int | None = None
    test_limit: int | None = None
    iwae_k: int = 1000            # importance samples of the IWAE bound, on the first seed only (0: none)
    extras: tuple = tuple(EXTRAS)  # named extra experiments (EXTRAS); () for none
    classifier_limit: int | None = None   # training images of the digit classifier (None: as the runs)

    def __post_init__(self):
        fix = {
            "archs": _as_tuple("archs", self.archs, lambda a: _as_choice("archs", a, ARCHS)),
            "dims": tuple(sorted(_as_tuple("dims", self.dims, lambda d: _as_int("dims", d, 1)))),
            "seeds": _as_tuple("seeds", self.seeds, lambda s: _as_int("seeds", s, 0)),
            "datasets": _as_tuple("datasets", self.datasets, lambda s: _as_choice("datasets", s, tuple(DATASETS))),
            "epochs": _as_int("epochs", self.epochs, 1),
            "train_limit": _as_int("train_limit", self.train_limit, 1, optional=True),
            "test_limit": _as_int("test_limit", self.test_limit, 1, optional=True),
            "iwae_k": _as_int("iwae_k", self.iwae_k, 0),
            "classifier_limit": _as_int("classifier_limit", self.classifier_limit, 1, optional=True),
            "extras": tuple(_as_choice("extras", e, tuple(EXTRAS)) for e in
                            ([self.extras] if isinstance(self.extras, str) else self.extras)),
        }
        if fix["datasets"][0] not in DIGITS:
            raise ConfigError(f"datasets={list(fix['datasets'])} is not allowed; the first dataset must be "
                              f"one of {', '.join(DIGITS)} (the report reads digits), others are appendices")
        for name, value in fix.items():
            object.__setattr__(self, name, value)

    @classmethod
    def from_params(cls, params=None, smoke: bool = False) -> "Sweep":
        """From a dict (or its JSON, as papermill may pass it), None for the default; smoke sizes on top."""
        if isinstance(params, str):
            params = json.loads(params) if params.strip() not in ("", "None") else None
        params = dict(params or {})
        unknown = sorted(set(params) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ConfigError(f"unknown sweep setting(s) {', '.join(unknown)}; allowed: "
                              f"{', '.join(f.name for f in dataclasses.fields(cls))}")
        if smoke:
            params = {**params, **SMOKE, "seeds": params.get("seeds", SMOKE["seeds"])}
        return cls(**params)

    def to_params(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @property
    def classifier_images(self) -> int | None:
        """The training images of the digit classifier that reads this sweep's digits (None: all)."""
        limits = [n for n in (self.train_limit, self.classifier_limit) if n is not None]
        return min(limits, default=None)

    @property
    def dataset(self) -> str:
        return self.datasets[0]

    @property
    def appendix(self) -> tuple[str, int, int]:
        """(arch, d, seed) of the model trained on each further dataset."""
        return ("conv" if "conv" in self.archs else self.archs[0]), self.dims[0], self.seeds[0]

    def config(self, arch: str, latent_dim: int, seed: int | None = None, dataset: str | None = None,
               **extra) -> RunConfig:
        return RunConfig(arch=arch, latent_dim=latent_dim, seed=self.seeds[0] if seed is None else seed,
                         dataset=dataset or self.dataset, epochs=self.epochs, train_limit=self.train_limit,
                         test_limit=self.test_limit, **extra)

    def grid(self) -> list[RunConfig]:
        """The runs on the first dataset: every arch, d and seed."""
        return [self.config(a, d, s) for a in self.archs for d in self.dims for s in self.seeds]

    def extra_dims(self, extra: str) -> tuple:
        """The d of an extra: the grid's two largest, when the arch it is compared with is in the grid or is
        trained by another extra of this sweep (else none)."""
        base = EXTRAS[extra][1]
        there = base in self.archs or any(EXTRAS[e][0] == base and self.extra_dims(e) for e in self.extras if e != extra)
        return self.dims[-2:] if there and len(self.dims) >= 2 else ()

    def extra_seeds(self, extra: str) -> tuple:
        return self.seeds[:EXTRA_SEEDS.get(extra, len(self.seeds))]

    def extra_configs(self) -> list[RunConfig]:
        return [self.config(EXTRAS[e][0], d, s) for e in self.extras for d in self.extra_dims(e)
                for s in self.extra_seeds(e)]

    def configs(self) -> list[RunConfig]:
        """Every run of the report: the grid on the first dataset, the extras, then one appendix model per
        other dataset."""
        arch, d, seed = self.appendix
        return self.grid() + self.extra_configs() + [self.config(arch, d, seed, dataset=ds)
                                                     for ds in self.datasets[1:]]

    def iwae_k_for(self, config: RunConfig) -> int:
        """Importance samples of a run's IWAE bound: the grid's first seed only (extras: the ELBO alone)."""
        return self.iwae_k if config.seed == self.seeds[0] and config.arch in self.archs else 0

    def has_2d(self) -> bool:
        return 2 in self.dims

    def corners(self) -> list[tuple[str, int]]:
        """(arch, d) at the smallest and largest d, for side-by-side figures."""
        return [(a, d) for d in sorted({self.dims[0], self.dims[-1]}) for a in self.archs]
