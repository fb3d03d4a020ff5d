"""Where a reference training epoch goes: the batch-20 step of Burda et al.'s VAE (binarization, forward,
loss, backward, optimizer), autograd's and the lean one (vaelib.training.lean), bare and through the
engine's epoch loop, on one thread; with --against, the engine of another checkout beside them.

    python -m benchmarks.step [--batches 600] [--repeats 5] [--profile] [--against /path/to/old/checkout]

Prints, per protocol and step, the bare loop's time per step (median of `--repeats` timings of
`--batches` steps) and the engine's train_epoch time per batch on the same batches (progress, CPU
sharing, the divergence check and the running sums included), so that the part around the step is
measured, not guessed. The variants take turns in every repeat, so a slow spell of the machine (they
come and go on shared machines) hits them all. `--against` imports that checkout's vaelib as a second
package in this process and times its engine on the same batches: before and after, side by side.
`--profile` adds torch.profiler's table of the operations of each step.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import torch

from vaelib.config.run import RunConfig
from vaelib.data import datasets as data
from vaelib.training import engine, plain
from vaelib.training.protocols import PROTOCOLS, OneSampleStep


def config(protocol: str, run_config=RunConfig, batches: int = 600):
    return run_config(arch="burda", latent_dim=50, dataset="mnist-binarized", batch_size=20, epochs=1,
                      protocol=protocol, train_limit=20 * batches)


def variant(protocol: str, lean: bool, x: torch.Tensor):
    """The engine's own model, optimizer, generators and step for the reference (lean where it applies),
    or autograd's step with the protocol's optimizer."""
    cfg = config(protocol, batches=len(x) // 20)
    model, optimizer, generators, step = engine.start(cfg, x, torch.device("cpu"))
    if protocol == "plain":
        def update(xb, noise):
            plain.train_step(model, optimizer, xb, cfg.beta, noise)
    else:
        if not lean:
            step = OneSampleStep(model, cfg.beta)
            optimizer = PROTOCOLS[protocol].optimizer(step.parameters(), cfg.lr)

        def update(xb, noise):
            step(xb, noise)
            optimizer.step()
    return {"cfg": cfg, "model": model, "optimizer": optimizer, "generators": generators, "step": step,
            "update": update}


def before(checkout: Path, protocol: str, x: torch.Tensor):
    """Another checkout's engine (its vaelib imported as `vaelib_before`), set up as it trains the reference."""
    if "vaelib_before" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "vaelib_before", checkout / "vaelib" / "__init__.py", submodule_search_locations=[str(checkout / "vaelib")])
        sys.modules["vaelib_before"] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    old_engine = importlib.import_module("vaelib_before.training.engine")
    cfg = config(protocol, importlib.import_module("vaelib_before.config.run").RunConfig, len(x) // 20)
    model, optimizer, generators, step = (getattr(old_engine, "start", None) or old_engine._start)(
        cfg, x, torch.device("cpu"))
    return {"cfg": cfg, "model": model, "optimizer": optimizer, "generators": generators, "engine": old_engine,
            "old_step": step}


def bare_steps(v: dict, x, batch: int = 20) -> float:
    """Seconds per step of the plain loop: binarize, the step (forward, loss, backward), the optimizer."""
    gen, noise = torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)
    update = v["update"]
    start = time.perf_counter()
    for i in range(0, len(x), batch):
        update(data.binarize(x[i:i + batch], gen), noise)
    return (time.perf_counter() - start) / (len(x) // batch)


def engine_epoch(v: dict, x) -> float:
    """Seconds per batch of the engine's train_epoch (this checkout's, or the one of --against)."""
    gens, cfg = v["generators"], v["cfg"]
    start = time.perf_counter()
    if "engine" in v and hasattr(v["engine"], "start"):     # another checkout of today's engine
        v["engine"].train_epoch(v["model"], v["optimizer"], v["old_step"], x, cfg, gens, 1)
    elif "engine" in v:            # a checkout before the plain and literature modules, as it was called then
        v["engine"].train_epoch(v["model"], v["optimizer"], x, cfg, gens["perm"], gens["noise"], 1,
                                progress=False, binarize_gen=gens["binarize"])
    else:
        engine.train_epoch(v["model"], v["optimizer"], v["step"], x, cfg, gens, 1)
    return (time.perf_counter() - start) / (len(x) // cfg.batch_size)


def profile(v: dict, x) -> str:
    from torch.profiler import ProfilerActivity, profile as torch_profile
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        bare_steps(v, x)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.step", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--against", type=Path, default=None, help="another checkout, timed beside this one")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    x = data.load("mnist-binarized", train=True, limit=20 * args.batches, grey=True)[0]
    variants = {(p, name): variant(p, name == "lean", x)
                for p, name in (("plain", "autograd"), ("burda", "autograd"), ("burda", "lean"))}
    if args.against:
        variants.update({(p, "before (--against)"): before(args.against.resolve(), p, x) for p in ("plain", "burda")})
    times = {key: ([], []) for key in variants}
    for _ in range(args.repeats):                   # round robin
        for key, v in variants.items():
            if "update" in v:
                times[key][0].append(bare_steps(v, x))
            times[key][1].append(engine_epoch(v, x))
    print(f"one thread, batch 20, {args.batches} steps, median of {args.repeats} turns\n")
    print("| protocol | step | bare step (ms) | engine, per batch (ms) | around the step (ms) |\n"
          "|---|---|---:|---:|---:|")
    for (protocol, name), (bare, whole) in times.items():
        whole = statistics.median(whole)
        bare = statistics.median(bare) if bare else float("nan")
        print(f"| {protocol} | {name} | {1000 * bare:.3f} | {1000 * whole:.3f} | {1000 * (whole - bare):.3f} |")
    if args.against:
        ratio = statistics.median(times[("burda", "before (--against)")][1]) / statistics.median(times[("burda", "lean")][1])
        print(f"\nthe reference's engine per batch: {ratio:.2f}x faster than --against")
    if args.profile:
        for (protocol, name), v in variants.items():
            if "update" in v:
                print(f"\n{protocol}, {name}:\n{profile(v, x[:4000])}")


if __name__ == "__main__":
    main()
