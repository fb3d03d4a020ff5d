"""Where a reference training epoch goes: the bare batch-20 step of Burda et al.'s VAE (forward, loss,
backward, optimizer) against the engine's whole epoch, on one thread.

    python -m benchmarks.step [--batches 600]

Prints, per protocol, the bare step's time (median of repeated timings of `--batches` steps) and the
engine's train_epoch time per batch on the same number of batches (binarization, progress, CPU sharing
and the running sums included), so that the part around the step is measured, not guessed.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from vaelib.config.run import RunConfig
from vaelib.core.losses import vae_loss
from vaelib.core.models import build_model
from vaelib.data import datasets as data
from vaelib.training import engine


def bare_steps(model, optimizer, x, batch: int, protocol: str) -> float:
    """Seconds per step of the plain loop: the model's forward, the loss, backward, the optimizer."""
    gen = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for i in range(0, len(x), batch):
        xb = torch.bernoulli(x[i:i + batch], generator=gen)
        logits, mu, logvar = model(xb, generator=gen)
        loss = vae_loss(logits, xb, mu, logvar)[0] * (batch if protocol == "burda" else 1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - start) / (len(x) // batch)


def engine_epoch(model, optimizer, x, cfg: RunConfig) -> float:
    gens = [torch.Generator().manual_seed(s) for s in (0, 1, 2)]
    start = time.perf_counter()
    engine.train_epoch(model, optimizer, x, cfg, gens[0], gens[1], 1, progress=False, binarize_gen=gens[2])
    return (time.perf_counter() - start) / (len(x) // cfg.batch_size)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.step", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    x = data.load("mnist-binarized", train=True, limit=20 * args.batches, grey=True)[0]
    protocols = ["plain", "burda"] if hasattr(RunConfig, "protocol") else ["plain"]
    print("| protocol | bare step (ms) | engine, per batch (ms) | around the step (ms) |\n|---|---:|---:|---:|")
    for protocol in protocols:
        kw = {"protocol": protocol} if protocol != "plain" else {}
        cfg = RunConfig(arch="burda", latent_dim=50, dataset="mnist-binarized", batch_size=20, epochs=1, **kw)
        torch.manual_seed(0)
        model = build_model("burda", 50)
        optimizer = (engine.make_optimizer(model, 1e-3, protocol) if kw else engine.make_optimizer(model, 1e-3))
        bare = statistics.median(bare_steps(model, optimizer, x, 20, protocol) for _ in range(args.repeats))
        whole = statistics.median(engine_epoch(model, optimizer, x, cfg) for _ in range(args.repeats))
        print(f"| {protocol} | {1000 * bare:.3f} | {1000 * whole:.3f} | {1000 * (whole - bare):.3f} |")


if __name__ == "__main__":
    main()
