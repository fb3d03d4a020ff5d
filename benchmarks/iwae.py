"""Where the IWAE bound's time goes, per model: the whole bound and its stages on one thread.

    MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824 \
        python -m benchmarks.iwae runs/conv_50_s0 runs/linear_50_s0 [--images 40]     # vaelib.pipeline.launch.MALLOC_ENV

Prints the bound's time (and its projection to the 10,000 test images), then, for one chunk of
1,000 samples of 2 images, the time of each stage and of each decoder layer (vaelib.core.iwae.bound_decoder)
with the rate of its useful arithmetic against this machine's peak (a large matrix product on one thread).
"""

from __future__ import annotations

import argparse
import copy
import math
import time

import torch
import torch.nn.functional as F

from vaelib.data import datasets as data
from vaelib.core import iwae as bounds
from vaelib.core.models import load_model


def score(logits, x):
    """log p(x|z) as the library scores it (older code: the elementwise BCE)."""
    if hasattr(bounds, "log_bernoulli"):
        return bounds.log_bernoulli(logits, x)
    return -F.binary_cross_entropy_with_logits(logits, x.expand(len(logits), -1, -1), reduction="none").sum(-1)


def stages(model, x: torch.Tensor, k: int, repeats: int = 10) -> dict:
    model = copy.deepcopy(model).eval().to(memory_format=torch.channels_last)
    decoder = bounds.bound_decoder(model)
    gen, spent = torch.Generator().manual_seed(0), dict.fromkeys(("encode", "sample", "decode", "log p(x|z)", "rest"), 0.0)
    with torch.inference_mode():
        for _ in range(repeats):
            marks = [time.perf_counter()]
            mu, logvar = model.encode(x)
            marks.append(time.perf_counter())
            eps = torch.randn((k, *mu.shape), generator=gen)
            z = mu + eps * torch.exp(0.5 * logvar)
            marks.append(time.perf_counter())
            logits = decoder(z.flatten(0, 1)).view(k, len(x), -1)
            marks.append(time.perf_counter())
            log_px_z = score(logits, x.flatten(1))
            marks.append(time.perf_counter())
            log_w = log_px_z - 0.5 * z.pow(2).sum(-1) + 0.5 * (eps.pow(2) + logvar).sum(-1)
            torch.logsumexp(log_w, 0) - math.log(k)
            marks.append(time.perf_counter())
            for name, a, b in zip(spent, marks, marks[1:]):
                spent[name] += (b - a) / repeats * 1000
        layers, h = [], z.flatten(0, 1)
        for layer in decoder:
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                out = layer(h)
                times.append(time.perf_counter() - start)
            layers.append((type(layer).__name__, tuple(out.shape[1:]), 1000 * min(times), useful_flop(layer, h, out)))
            h = out
    return {"stages_ms": spent, "layers": layers}


def useful_flop(layer, h: torch.Tensor, out: torch.Tensor) -> int:
    """The multiply-adds (x2) a layer needs, whatever its form: a dense layer's in x out per row; a stride-2,
    kernel-4 transposed convolution's c_in x c_out x 16 per input pixel (every input pixel meets 16 taps),
    whichever of its equal forms computes it (the sub-pixel form's zero taps are not counted)."""
    if isinstance(layer, torch.nn.Linear):
        return 2 * h.shape[0] * layer.in_features * layer.out_features
    if h.dim() == 4 and out.dim() == 4 and out.shape[2:] == (2 * h.shape[2], 2 * h.shape[3]):
        n, c_in, height, width = h.shape
        return 2 * n * c_in * out.shape[1] * 16 * height * width
    return 0


def matmul_rate(sizes=(512, 1024, 1536), trials: int = 5, repeats: int = 5) -> float:
    """GFLOP/s of large square float32 matrix products on one thread, the best of a few sizes and trials
    (this machine's speed drifts): the most its math library does, the ceiling for every layer above."""
    best, threads = 0.0, torch.get_num_threads()
    torch.set_num_threads(1)         # per core: a caller's default of all cores measured them all together
    try:
        for size in sizes:
            a, b = torch.randn(size, size), torch.randn(size, size)
            a @ b
            for _ in range(trials):
                start = time.perf_counter()
                for _ in range(repeats):
                    a @ b
                best = max(best, 2 * size ** 3 * repeats / (time.perf_counter() - start) / 1e9)
    finally:
        torch.set_num_threads(threads)
    return best


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.iwae", description=__doc__)
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("-k", type=int, default=1000)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    x, _ = data.load("mnist", train=False, limit=args.images)
    peak = matmul_rate()
    print(f"this machine's peak: square float32 matrix products at {peak:.1f} GFLOP/s (1 thread, best of several)")
    for run in args.runs:
        model = load_model(run).eval()
        start = time.perf_counter()
        bound = bounds.iwae_bound(model, x, k=args.k).mean().item()
        seconds = time.perf_counter() - start
        print(f"{run}: IWAE K={args.k} {bound:.4f} on {args.images} images in {seconds:.2f} s -> "
              f"{seconds / args.images * 10000 / 60:.1f} min per 10,000 images (1 thread)")
        found = stages(model, x[:2], args.k)
        print("  per chunk of 2 x", args.k, "samples:", ", ".join(f"{k} {v:.1f} ms" for k, v in found["stages_ms"].items()))
        floor = 0.0
        for name, shape, ms, flop in found["layers"]:
            rate = f"{flop / ms / 1e6:5.1f} GFLOP/s ({flop / ms / 1e6 / peak:4.0%} of the peak)" if flop else ""
            floor += flop / (peak * 1e9) * 1000
            print(f"    {name:18s} -> {str(shape):16s} {ms:6.1f} ms  {rate}")
        print(f"  decoding at the peak rate would take {floor:.1f} ms per chunk (its matrix arithmetic alone)")


if __name__ == "__main__":
    main()
