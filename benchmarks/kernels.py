"""Do the CPU kernels torch picks for this machine change the numbers? The golden-test training (linear
and conv, d=2, 2 epochs on 1,000 images, one thread) in fresh processes, once with the defaults and
once per restriction of the instruction sets that oneDNN (convolutions), ATen (the other kernels) and
MKL (matrix products) may use, once with oneDNN off and once with MKL's reproducible mode; prints each run's final test loss and whether it equals the default
bit for bit.

    python -m benchmarks.kernels

A restriction that changes a model's numbers is what a machine with other instruction sets does by itself:
the likely cause of runs that differ between machines of the same code and seeds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

SETTINGS = {
    "default": {},
    "oneDNN at most AVX2": {"DNNL_MAX_CPU_ISA": "AVX2"},
    "oneDNN at most AVX-512 (no AMX)": {"DNNL_MAX_CPU_ISA": "AVX512_CORE"},
    "ATen at most AVX2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "oneDNN and ATen at most AVX2": {"DNNL_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"},
    "oneDNN off": {"VAELIB_NO_MKLDNN": "1"},
    "MKL at most AVX2": {"MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "MKL conditional reproducibility (COMPATIBLE)": {"MKL_CBWR": "COMPATIBLE"},
}

CHILD = """
import json, os, sys, tempfile, torch
from pathlib import Path
if os.environ.get("VAELIB_NO_MKLDNN"):
    torch.backends.mkldnn.enabled = False
from vaelib.config import RunConfig
from vaelib.training.engine import train
torch.set_num_threads(1)
out = {}
with tempfile.TemporaryDirectory() as tmp:
    for arch in ("linear", "conv"):
        cfg = RunConfig(arch=arch, latent_dim=2, epochs=2, train_limit=1000, test_limit=300, num_threads=1)
        out[arch] = train(cfg, Path(tmp), progress=False).history["test_loss"].tolist()
print(json.dumps(out))
"""


def main(argv=None) -> None:
    names = (argv if argv is not None else sys.argv[1:]) or list(SETTINGS)
    results = {}
    for name in ["default"] + [n for n in names if n != "default"]:
        env = SETTINGS[name]
        done = subprocess.run([sys.executable, "-c", CHILD], env={**os.environ, **env}, capture_output=True,
                              text=True, check=True)
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
    base = results["default"]
    print("| kernels | linear: final test loss | same as default | conv: final test loss | same as default |")
    print("|---|---:|---|---:|---|")
    for name, got in results.items():
        print(f"| {name} | {got['linear'][-1]:.6f} | {got['linear'] == base['linear']} | "
              f"{got['conv'][-1]:.6f} | {got['conv'] == base['conv']} |")


if __name__ == "__main__":
    main()
