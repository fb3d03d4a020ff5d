"""The default report on one GPU, projected from measurements on that GPU (`python -m benchmarks.gpu --project`).

    python -m benchmarks.gpu --project                      # on a lent GPU machine (carry data/MNIST)
    python -m benchmarks.gpu --project --device cpu --images 1024 --epochs 2 --sharing 1 2   # a check of the code

What it measures on the device:
  - one conv run (d = 10) of every epoch the report trains, each epoch with the test loss the engine takes after it;
  - one such epoch of each architecture the report trains;
  - N conv runs training at once, each in its own process (as the runner's GPU slots run them), their timed epochs
    started together: the device's throughput with N runs against one, the "sharing gain";
  - the estimate's own forecast (vaelib.pipeline.cost, the rates `make report` prints before it starts) of the same
    conv run, beside what it took.
What it projects, from those: the default report's trainings and evaluations (config.sweep.Sweep()) on this one
device, with the runner's GPU slots (pipeline.workers.GPU_TASKS_PER_DEVICE) each slowed by the sharing measured here,
and each step's start-up on the CPU. A lent GPU machine has torch only (no papermill, no kernel), so the
start-ups are options, measured on the CPU machine (`python -m vaelib.report --estimate` times them); the analysis
notebooks run on the CPU beside or after the GPU's work and are not projected.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time


def run_seconds(arch: str, device, x, x_test, epochs: int) -> float:
    """A fresh run's `epochs` epochs of the plain step on `x`, each followed by the test loss on `x_test`: seconds."""
    from vaelib.config.run import RunConfig
    from vaelib.core.bounds import mean_loss
    from vaelib.training import engine
    config = RunConfig(arch=arch, latent_dim=10, epochs=epochs, device=str(device))
    model, optimizer, generators, step = engine.start(config, x, device)
    from vaelib.infra.devices import synced
    synced(device)
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        engine.train_epoch(model, optimizer, step, x, config, generators, epoch)
        mean_loss(model, x_test)
    synced(device)
    return time.perf_counter() - start


def data(device, images: int | None):
    from vaelib.data import datasets
    x, _ = datasets.load("mnist", train=True, limit=images)
    x_test, _ = datasets.load("mnist", train=False, limit=images and max(images // 6, 128))
    return x.to(device), x_test.to(device)


# a run sharing the device, in its own process: ARCH DEVICE IMAGES EPOCHS AT (a lent GPU machine has torch alone)
CHILD = ("import sys; from benchmarks.gpu import stub_missing; stub_missing(); from benchmarks.gpuproject import child; "
         "arch, device, images, epochs, at = sys.argv[1:6]; child(arch, device, int(images) or None, int(epochs), float(at))")


def child(arch: str, device_name: str, images: int | None, epochs: int, at: float) -> None:
    """One of N runs sharing the device: a warm-up epoch, then, from the wall-clock time `at`, `epochs` timed
    epochs; prints its seconds as JSON, and whether it was ready only after `at` (its epochs then overlap the
    others' less than they should)."""
    import torch
    device = torch.device(device_name)
    x, x_test = data(device, images)
    run_seconds(arch, device, x[:4096], x_test[:512], 1)                  # the kernels loaded, the caches warm
    late = time.time() > at
    time.sleep(max(0.0, at - time.time()))
    print(json.dumps({"seconds": run_seconds(arch, device, x, x_test, epochs), "late": late}))


def shared(n: int, device_name: str, images: int | None, epochs: int) -> float:
    """The slowest of `n` conv runs' `epochs` epochs when all `n` start together, each in its own process."""
    at = time.time() + 20 + 4 * n          # every child has loaded torch, the data and its kernels by then
    args = [sys.executable, "-c", CHILD, "conv", device_name, str(images or 0), str(epochs), str(at)]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, text=True) for _ in range(n)]
    outs = [p.communicate()[0] for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit(f"benchmarks.gpuproject: a run sharing the device failed ({[p.returncode for p in procs]})")
    results = [json.loads(out.strip().splitlines()[-1]) for out in outs]
    if any(r["late"] for r in results):
        raise SystemExit(f"benchmarks.gpuproject: {sum(r['late'] for r in results)} of {n} runs were not ready "
                         f"at the common start; their epochs did not overlap, so no sharing gain is measured")
    return max(r["seconds"] for r in results)


def project(device, images: int | None, epochs: int | None, sharing: list[int], startup: dict,
            sharing_epochs: int = 3) -> dict:
    """The measurements and the projection (see the module's docstring). The sharing gain is measured over
    `sharing_epochs` epochs (a steady state), against the same epochs of one run alone."""
    from vaelib.config.run import RunConfig
    from vaelib.config.sweep import Sweep
    from vaelib.pipeline import cost, workers
    sweep = Sweep()
    epochs = epochs or sweep.epochs
    cost.startup = lambda kind="train": startup[kind]          # no papermill here: the CPU machine's start-ups
    x, x_test = data(device, images)
    archs = sorted({c.arch for c in sweep.configs()})
    found = {"device": str(device), "images": len(x), "test_images": len(x_test), "epochs": epochs, "startup_s": startup}
    run_seconds("conv", device, x[:4096], x_test[:512], 1)     # warm-up
    found["conv run, seconds"] = run_seconds("conv", device, x, x_test, epochs)
    limits = {"train_limit": images, "test_limit": images and len(x_test)}
    conv = RunConfig("conv", 10, epochs=epochs, device=str(device), **limits)
    found["conv run, the estimate's forecast of its work, seconds"] = cost.train_seconds(conv, None) - startup["train"]
    epoch = {}
    for arch in archs:
        run_seconds(arch, device, x[:4096], x_test[:512], 1)      # warm-up: this architecture's kernels chosen
        epoch[arch] = run_seconds(arch, device, x, x_test, 1)
    found["one epoch with its test loss, seconds"] = epoch
    alone = found["conv run, seconds"] * min(sharing_epochs, epochs) / epochs
    gain = {1: 1.0}
    for n in sharing:
        if n > 1:
            gain[n] = n * alone / shared(n, str(device), images, min(sharing_epochs, epochs))
    found["sharing gain (throughput of N runs at once against one)"] = gain
    # the default report's GPU steps, each: its start-up on the CPU, then its work on the device
    scale = epochs / sweep.epochs
    trains = [startup["train"] + c.epochs * scale * epoch[c.arch] for c in sweep.configs()]
    evaluations = [cost.evaluate_seconds(dataclasses.replace(c, device=str(device), **limits), sweep.iwae_k_for(c), None)
                   for c in sweep.configs() if c.dataset == sweep.dataset]
    work = sum(trains) + sum(evaluations) - startup["train"] * len(trains) - startup["evaluate"] * len(evaluations)
    starts = startup["train"] * len(trains) + startup["evaluate"] * len(evaluations)
    slots = max(n for n in gain if n <= workers.GPU_TASKS_PER_DEVICE)
    found["report"] = {"runs": len(trains), "evaluations": len(evaluations), "work_task_min": work / 60,
                       "startup_task_min": starts / 60, "slots": slots,
                       "wall_min_one_slot": (work + starts) / 60,
                       "wall_min": (work * slots / gain[slots] + starts) / slots / 60}
    return found


def show(found: dict) -> None:
    r = found["report"]
    print(f"\n| on {found['device']} ({found['images']:,} training, {found['test_images']:,} test images, "
          f"{found['epochs']} epoch(s)) | seconds |\n|---|---:|")
    print(f"| one conv run (d = 10), every epoch with its test loss | {found['conv run, seconds']:.1f} |")
    forecast = found["conv run, the estimate's forecast of its work, seconds"]
    print(f"| the same, forecast by the estimate's rates | {forecast:.1f} |")
    for arch, s in found["one epoch with its test loss, seconds"].items():
        print(f"| one {arch} epoch with its test loss | {s:.2f} |")
    print("\n| runs at once | throughput against one |\n|---:|---:|")
    for n, g in found["sharing gain (throughput of N runs at once against one)"].items():
        print(f"| {n} | {g:.2f}x |")
    print(f"\nthe default report's {r['runs']} trainings and {r['evaluations']} evaluations: {r['work_task_min']:.1f} "
          f"task-min of device work and {r['startup_task_min']:.1f} of start-ups (train {found['startup_s']['train']} s, "
          f"evaluate {found['startup_s']['evaluate']} s each, measured on the CPU machine); on this one device "
          f"{r['wall_min_one_slot']:.1f} min one step at a time, {r['wall_min']:.1f} min with {r['slots']} at once")
