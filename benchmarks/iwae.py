"""Where the IWAE bound's time goes, per model, against its roofline: the whole bound and its stages on one thread.

    MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824 \\
        python -m benchmarks.iwae runs/conv_50_s0 [--images 40] [--repeats 3] [--against /tmp/old]
                                                                          # vaelib.pipeline.schedule.MALLOC_ENV

For each run: this machine's float32 peak (benchmarks.machine.matmul_rate) and one thread's copy bandwidth
(benchmarks.machine.bandwidths, by array size), measured in this process before every repeat; the bound's time on --images test images; and
its roofline (benchmarks.floor.layer_costs: each decoder layer's FLOPs at the peak or its bytes at the bandwidth,
whichever takes longer, and log p(x|z)'s bytes) with the share of it and of the FLOP floor reached (medians over
the repeats). With --against, another checkout's bound on the same images, timed in a child process right after
each of this code's repeats (the same draws: seed 0), and the largest difference between the two codes' bounds
(--parallel: both at once, for that difference alone).
Then, for one chunk of 1,000 samples of 2 images, the time of each stage, and torch's profile of the decoder's
operations.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import statistics
import time

import torch

from vaelib.core import iwae as bounds
from vaelib.core.models import load_model
from vaelib.data import datasets as data

from .floor import layer_costs, other_code, seconds
from .machine import bandwidths, matmul_rate

@torch.inference_mode()
def stages(model, x: torch.Tensor, k: int, repeats: int = 10) -> dict:
    model = copy.deepcopy(model).eval().to(memory_format=torch.channels_last)
    decoder = bounds.bound_decoder(model)
    gen, spent = torch.Generator().manual_seed(0), dict.fromkeys(("encode", "sample", "decode", "log p(x|z)", "rest"), 0.0)
    for _ in range(repeats):
        marks = [time.perf_counter()]
        mu, logvar = model.encode(x)
        marks.append(time.perf_counter())
        eps = torch.randn((k, *mu.shape), generator=gen)
        z = mu + eps * torch.exp(0.5 * logvar)
        marks.append(time.perf_counter())
        logits = decoder(z.flatten(0, 1)).view(k, len(x), -1)
        marks.append(time.perf_counter())
        log_px_z = bounds.log_bernoulli(logits, decoder.order(x), decoder.diagonal)
        marks.append(time.perf_counter())
        log_w = log_px_z - 0.5 * z.pow(2).sum(-1) + 0.5 * (eps.pow(2) + logvar).sum(-1)
        torch.logsumexp(log_w, 0) - math.log(k)
        marks.append(time.perf_counter())
        for name, a, b in zip(spent, marks, marks[1:]):
            spent[name] += (b - a) / repeats * 1000
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(repeats):
            decoder(z.flatten(0, 1))
    return {"stages_ms": spent, "profile": prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.iwae", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("-k", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--against", help="another checkout (e.g. git worktree add /tmp/old <commit>)")
    parser.add_argument("--no-stages", action="store_true", help="the whole bound only")
    parser.add_argument("--parallel", action="store_true",
                        help="with --against, run the two codes at once: for the difference only, not the times")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    x, _ = data.load("mnist", train=False, limit=args.images)
    results = {}
    for run in args.runs:
        model = load_model(run).eval()
        costs = layer_costs(model_arch(run), model.latent_dim)
        seen = {"peak": [], "bandwidth": [], "seconds": [], "flop_share": [], "roofline_share": [], "other_s": []}
        bounds.iwae_bound(model, x[:max(1, bounds.SAMPLES_PER_CHUNK // args.k)], k=args.k)     # warm, untimed
        for _ in range(args.repeats):
            peak, bandwidth = matmul_rate() * 1e9, bandwidths(1)
            other = other_code(args.against, run, args.images, args.k, wait=False) if args.parallel else None
            start = time.perf_counter()
            now = bounds.iwae_bound(model, x, k=args.k)
            took = time.perf_counter() - start
            flop_s, roof_s = (s * args.images * args.k for s in seconds(costs, "bound", peak, bandwidth))
            for key, value in zip(seen, (peak / 1e9, bandwidth[max(bandwidth)], took, flop_s / took, roof_s / took)):
                seen[key].append(value)
            if args.against:
                other_s, before = other() if other else other_code(args.against, run, args.images, args.k)
                seen["other_s"].append(other_s)
        med = {key: statistics.median(v) for key, v in seen.items() if v}
        best = {key: max(seen[key]) for key in ("flop_share", "roofline_share")}
        print(f"{run}: IWAE K={args.k} {now.mean().item():.4f} on {args.images} images, one thread, medians of "
              f"{args.repeats}: {med['seconds']:.2f} s ({med['seconds'] / args.images * 10000 / 60:.1f} min per 10,000 "
              f"images); peak {med['peak']:.1f} GFLOP/s, main memory's bandwidth {med['bandwidth']:.1f} GB/s; "
              f"{med['flop_share']:.0%} of the FLOP floor, {med['roofline_share']:.0%} of the roofline (the best repeat: "
              f"{best['flop_share']:.0%} and {best['roofline_share']:.0%}; each repeat's peak and bandwidth measured just "
              f"before its bound)")
        out = {"run": run, "seconds": [round(s, 3) for s in seen["seconds"]],
               "flop_share": round(med["flop_share"], 3), "roofline_share": round(med["roofline_share"], 3),
               "roofline_shares": [round(v, 3) for v in seen["roofline_share"]],
               "peak_gflops": round(med["peak"], 1), "bandwidth_gbs": round(med["bandwidth"], 1)}
        if args.against:
            rel = ((now - before).abs() / before.abs()).max().item()
            print(f"  {args.against}{' (run at the same time: times not comparable)' if args.parallel else ''}: {med['other_s']:.2f} s ({med['other_s'] / med['seconds']:.2f}x this code's time); "
                  f"largest relative difference of the bounds {rel:.2e} (absolute {(now - before).abs().max().item():.2e} nats)")
            out.update(other_seconds=[round(s, 3) for s in seen["other_s"]], largest_relative_difference=rel)
        if not args.no_stages:
            found = stages(model, x[:max(1, bounds.SAMPLES_PER_CHUNK // args.k)], args.k)
            print(f"  per chunk of {max(1, bounds.SAMPLES_PER_CHUNK // args.k)} x {args.k} samples:",
                  ", ".join(f"{k} {v:.1f} ms" for k, v in found["stages_ms"].items()))
            print(found["profile"])
        results[run] = out
    print(json.dumps(results))
    return results


def model_arch(run: str) -> str:
    from vaelib.training import runs
    return runs.read_config(run)["arch"]


if __name__ == "__main__":
    main()
