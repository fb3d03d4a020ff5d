"""The GPU check: vaelib's numbers on CUDA against the CPU's, and the times on both, in one short run.

    python -m benchmarks.gpu [--out benchmarks/out/gpu.json] [--images 4000]

Made for a borrowed GPU machine that has torch and nothing else (no pandas, torchvision, tqdm, Dask,
papermill, network): the modules these checks never call into are replaced by stubs when missing, and
MNIST is read from data/MNIST/raw (carry `data/MNIST` there; it is not tracked). On a machine without CUDA
the CUDA parts are skipped, with the reason, and the CPU times are still printed. What it checks, each from
the same start and the same draws (vaelib draws every random number on the CPU):
  - one epoch of the plain step, linear and conv (d = 10), CPU against CUDA: the losses and weights;
  - the reference step (Burda et al.'s model, lean step, batch 20), CPU against CUDA;
  - a run resumed on CUDA from its checkpoint against the uninterrupted one, bit for bit;
  - the IWAE bound (K = 1,000) of one model on both devices;
and it times an epoch, an IWAE chunk (2 images x 1,000 samples) and a reference step on each device, and
counts the times a training step makes the host wait for the GPU (torch's sync debug mode), with where;
the reference step from its CUDA graph against kernel by kernel, bit for bit and timed.
Prints one table; writes the same as JSON.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
import types
from pathlib import Path

from vaelib.infra.devices import synced     # torch only: importable before the stubs


def stub_missing() -> list[str]:
    """Stand-ins for the packages a bare torch machine lacks and these checks never use (pandas in the run
    history, torchvision's image grids, tqdm's bars): importable, and failing loudly if ever called."""
    import importlib.machinery
    import importlib.util
    stubbed = []

    def refuse(*_a, **_k):
        raise RuntimeError("benchmarks.gpu: a stub was called; this check must not need it")

    def module(name: str, **attrs):     # with a __spec__: torch._dynamo asks importlib for every module it knows
        sys.modules[name] = types.ModuleType(name)
        sys.modules[name].__spec__ = importlib.machinery.ModuleSpec(name, None)
        sys.modules[name].__dict__.update(attrs)

    for name in ("pandas", "torchvision", "tqdm"):
        if importlib.util.find_spec(name) is None:
            stubbed.append(name)
    if "pandas" in stubbed:
        module("pandas", DataFrame=refuse, read_csv=refuse)
    if "torchvision" in stubbed:
        module("torchvision")
        module("torchvision.utils", save_image=refuse, make_grid=refuse)
        module("torchvision.datasets", MNIST=RawMNIST, FashionMNIST=refuse)
    if "tqdm" in stubbed:
        module("tqdm")
        module("tqdm.auto", tqdm=lambda iterable=None, *a, **k: iterable)
    return stubbed


class RawMNIST:
    """torchvision.datasets.MNIST's two fields, read from the idx files in ROOT/MNIST/raw (what torchvision
    itself reads; vaelib.data verifies their SHA-256 first)."""

    def __init__(self, root, train: bool = True, download: bool = False):
        import torch
        raw = Path(root) / "MNIST" / "raw"
        prefix = "train" if train else "t10k"
        images = (raw / f"{prefix}-images-idx3-ubyte").read_bytes()
        labels = (raw / f"{prefix}-labels-idx1-ubyte").read_bytes()
        n = int.from_bytes(images[4:8], "big")
        self.data = torch.frombuffer(bytearray(images[16:]), dtype=torch.uint8).reshape(n, 28, 28)
        self.targets = torch.frombuffer(bytearray(labels[8:]), dtype=torch.uint8).long()


def seconds(fn, device, repeats: int = 3) -> float:
    """The best of `repeats` timings of fn() (after one untimed call), the device synchronized."""
    fn()
    synced(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synced(device)
        best = min(best, time.perf_counter() - start)
    return best


def host_waits(fn) -> tuple[int, dict]:
    """How many times fn() made the host wait for the GPU (torch's sync debug mode warns at each wait: a
    .item(), a tensor's truth value, a copy to or from pageable memory), and where: {file:line: count}."""
    import collections
    import warnings
    import torch
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fn()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    waits = [w for w in caught if "synchroniz" in str(w.message)]
    where = collections.Counter(f"{Path(w.filename).name}:{w.lineno}" for w in waits)
    return len(waits), dict(where.most_common())


def max_rel(a, b) -> float:
    """The largest |a - b| / max(|b|, 1) over paired tensors or numbers."""
    import torch
    pairs = zip(a, b) if isinstance(a, (list, tuple)) else [(a, b)]
    worst = 0.0
    for x, y in pairs:
        x, y = torch.as_tensor(x).double().cpu(), torch.as_tensor(y).double().cpu()
        worst = max(worst, ((x - y).abs() / y.abs().clamp(min=1.0)).max().item())
    return worst


def plain_epoch(arch: str, device, x, epochs: int = 1):
    """A fresh run's model after `epochs` epochs of the plain protocol on `x`, and the epochs' losses."""
    from vaelib.config.run import RunConfig
    from vaelib.training import engine, plain
    config = RunConfig(arch=arch, latent_dim=10, epochs=epochs, device=str(device))
    model, optimizer, generators, _ = engine.start(config, x.to(device), device)
    losses = [plain.train_epoch(model, optimizer, x.to(device), config.batch_size, config.beta, generators, e)
              for e in range(1, epochs + 1)]
    return model, optimizer, generators, losses


def reference_steps(device, x, steps: int):
    """The reference protocol's first `steps` batches (lean step, batch 20): the model and the losses."""
    from vaelib.config.run import RunConfig
    from vaelib.training import engine
    config = RunConfig(arch="burda", latent_dim=50, dataset="mnist-binarized", batch_size=20, epochs=1,
                       protocol="burda", train_limit=20 * steps, device=str(device))
    xs = x[:20 * steps].to(device)
    model, optimizer, generators, step = engine.start(config, xs, device)
    history = engine.train_epoch(model, optimizer, step, xs, config, generators, 1)
    return model, history, (config, optimizer, generators, step, xs)


def run_checks(devices, images: int, full_images: int | None = None) -> dict:
    import torch
    from vaelib.core.iwae import iwae_bound
    from vaelib.data import datasets as data
    from vaelib.infra import numerics
    from vaelib.training import checkpoint

    numerics.fix()
    x, _ = data.load("mnist", train=True, limit=images)
    x_test, _ = data.load("mnist", train=False, limit=20)
    grey, _ = data.load("mnist-binarized", train=True, limit=2000, grey=True)
    out = {"checks": {}, "times_s": {}}
    models = {}
    for index, device in enumerate(devices):
        for arch in ("linear", "conv"):
            model, optimizer, generators, losses = plain_epoch(arch, device, x)
            models[(arch, index)] = (model, losses)
            out["times_s"][f"{arch} epoch of {images} images, {device.type}"] = seconds(
                lambda: plain_epoch(arch, device, x), device, repeats=1)
        lit_model, lit_history, (cfg, opt, gens, step, xs) = reference_steps(device, grey, 50)
        models[("reference", index)] = (lit_model, lit_history)
        out["times_s"][f"reference step (batch 20), {device.type}"] = seconds(
            lambda: (step(xs[:20], gens["noise"]), opt.step()), device, repeats=20)
        conv = models[("conv", index)][0]
        chunk = x_test[:2].to(device)
        out["times_s"][f"IWAE chunk (2 images x 1,000), conv, {device.type}"] = seconds(
            lambda: iwae_bound(conv, chunk, k=1000), device)
    if len(devices) == 2:
        out["host_waits"] = waits_per_step(devices[1], x, grey)
        out["checks"]["a diverging run on CUDA says"] = divergence_named(devices[1], x)
        graph = graph_against_eager(devices[1])
        out["checks"].update(graph["checks"])
        out["times_s"].update(graph["times_s"])
        for arch in ("linear", "conv", "reference"):
            (m_cpu, l_cpu), (m_gpu, l_gpu) = models[(arch, 0)], models[(arch, 1)]
            loss_cpu = [r["loss"] for r in l_cpu] if isinstance(l_cpu, list) else [l_cpu["loss"]]
            loss_gpu = [r["loss"] for r in l_gpu] if isinstance(l_gpu, list) else [l_gpu["loss"]]
            weights = max_rel(list(m_gpu.state_dict().values()), list(m_cpu.state_dict().values()))
            out["checks"][f"{arch}: CUDA loss vs CPU, largest relative difference"] = max_rel(loss_gpu, loss_cpu)
            out["checks"][f"{arch}: CUDA weights vs CPU, largest relative difference"] = weights
        cpu_conv = models[("conv", 0)][0]
        gpu_conv = copy.deepcopy(cpu_conv).to(devices[1])
        b_cpu = iwae_bound(cpu_conv, x_test, k=1000, seed=3)
        b_gpu = iwae_bound(gpu_conv, x_test.to(devices[1]), k=1000, seed=3)
        out["checks"]["IWAE K=1,000 (conv, 20 images): CUDA vs CPU, largest difference (nats)"] = \
            (b_gpu.cpu() - b_cpu).abs().max().item()
        # resume on CUDA: one epoch, checkpoint, a fresh engine resumes; against two epochs straight
        device = devices[1]
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            model, optimizer, generators, _ = plain_epoch("conv", device, x, epochs=1)
            checkpoint.save(Path(tmp), 1, model, optimizer, generators, [])
            from vaelib.config.run import RunConfig
            from vaelib.training import engine, plain
            config = RunConfig(arch="conv", latent_dim=10, epochs=2, device=str(device))
            resumed, opt2, gens2, _ = engine.start(config, x.to(device), device)
            checkpoint.restore(Path(tmp), resumed, opt2, gens2)
            plain.train_epoch(resumed, opt2, x.to(device), config.batch_size, config.beta, gens2, 2)
        straight = plain_epoch("conv", device, x, epochs=2)[0]
        out["checks"]["resume on CUDA: weights equal to the uninterrupted run's"] = all(
            torch.equal(a, b) for a, b in zip(resumed.state_dict().values(), straight.state_dict().values()))
        # a CPU-made checkpoint resumed on CUDA (and on the CPU): the generators come back the same, and the
        # second epoch from that one start agrees across devices as the first did
        with tempfile.TemporaryDirectory() as tmp:
            model, optimizer, generators, _ = plain_epoch("conv", devices[0], x, epochs=1)
            checkpoint.save(Path(tmp), 1, model, optimizer, generators, [])
            from vaelib.config.run import RunConfig
            from vaelib.training import engine, plain
            second = []
            for dev in devices:
                config = RunConfig(arch="conv", latent_dim=10, epochs=2, device=str(dev))
                resumed, opt2, gens2, _ = engine.start(config, x.to(dev), dev)
                checkpoint.restore(Path(tmp), resumed, opt2, gens2)
                same = all(torch.equal(gens2[k].get_state(), generators[k].get_state()) for k in generators)
                second.append((same, plain.train_epoch(resumed, opt2, x.to(dev), config.batch_size, config.beta,
                                                       gens2, 2)))
        out["checks"]["CPU checkpoint resumed on CUDA: generators restored equal"] = second[1][0]
        out["checks"]["CPU checkpoint resumed: epoch 2 loss, CUDA vs CPU, largest relative difference"] = max_rel(
            second[1][1]["loss"], second[0][1]["loss"])
        sized = full_size(devices[1], full_images)
        out["checks"].update(sized["checks"])
        out["times_s"].update(sized["times_s"])
        out["checks"].update(classifier_check(devices, x, images))
    return out


def waits_per_step(device, x, grey) -> dict:
    """The host's waits for the GPU per 100 training steps: a plain epoch (linear, conv) and 100 reference
    steps, each after a first pass that loads the kernels. Each pass builds its run afresh, so the count
    includes the set-up's waits (the model's move, the first optimizer step's read, the graph's capture, the
    epoch's end): `where` tells them from the per-step ones (those that occur once per step). Torch's sync
    debug mode sees torch's own synchronizations only, not the driver's staging of a pageable copy."""
    found = {}
    steps = -(-len(x) // 128)
    for arch in ("linear", "conv"):
        plain_epoch(arch, device, x)
        count, where = host_waits(lambda: plain_epoch(arch, device, x))
        found[f"{arch}: waits per 100 steps"] = 100 * count / steps
        found[f"{arch}: where"] = where
    reference_steps(device, grey, 10)
    count, where = host_waits(lambda: reference_steps(device, grey, 100))
    found["reference: waits per 100 steps"] = count
    found["reference: where"] = where
    return found


def divergence_named(device, x) -> str:
    """The error a diverging plain run (rate 1e10) raises in its first epoch on `device`: on a GPU the losses
    are looked at every 100 batches, so it names the range of batches."""
    from vaelib.config.run import RunConfig
    from vaelib.training import engine, plain
    config = RunConfig(arch="linear", latent_dim=10, epochs=1, lr=1e10, device=str(device))
    model, optimizer, generators, _ = engine.start(config, x.to(device), device)
    try:
        plain.train_epoch(model, optimizer, x.to(device), config.batch_size, config.beta, generators, 1)
    except plain.DivergenceError as e:
        return str(e)
    return "not caught"


def graph_against_eager(device, steps: int = 2500) -> dict:
    """The reference step replayed from its CUDA graph against the same step launched kernel by kernel:
    the weights and losses after `steps` steps (bit for bit), and the time of those steps each way."""
    import torch
    from vaelib.data import datasets as data
    from vaelib.training import lean
    grey, _ = data.load("mnist-binarized", train=True, limit=20 * steps, grey=True)
    found, ran = {}, {}
    try:
        for graphs in (False, True):
            lean.LeanStep.graphs = graphs
            ran[graphs] = reference_steps(device, grey, steps)[:2]
            found[f"reference, {steps} steps, {'CUDA graph' if graphs else 'kernel by kernel'}"] = seconds(
                lambda: reference_steps(device, grey, steps), device, repeats=2)
    finally:
        lean.LeanStep.graphs = True
    (graph_model, graph_history), (eager_model, eager_history) = ran[True], ran[False]
    same = all(torch.equal(a, b) for a, b in zip(graph_model.state_dict().values(),
                                                  eager_model.state_dict().values()))
    return {"checks": {f"reference, {steps} steps: CUDA graph's weights equal kernel by kernel's": same,
                       f"reference, {steps} steps: CUDA graph's mean loss equals": graph_history == eager_history},
            "times_s": found}


def only_waits(images: int) -> dict:
    """--waits: the host waits and the epoch and step times on CUDA alone (a short check of the step's code)."""
    import torch
    from vaelib.data import datasets as data
    from vaelib.infra import numerics
    numerics.fix()
    device = torch.device("cuda")
    x, _ = data.load("mnist", train=True, limit=images)
    grey, _ = data.load("mnist-binarized", train=True, limit=2000, grey=True)
    out = {"checks": {"a diverging run on CUDA says": divergence_named(device, x)}, "times_s": {},
           "host_waits": waits_per_step(device, x, grey)}
    for arch in ("linear", "conv"):
        out["times_s"][f"{arch} epoch of {images} images, cuda"] = seconds(lambda: plain_epoch(arch, device, x),
                                                                           device, repeats=3)
    out["times_s"]["reference, 100 steps (batch 20), cuda"] = seconds(lambda: reference_steps(device, grey, 100),
                                                                        device, repeats=3)
    graph = graph_against_eager(device)
    out["checks"].update(graph["checks"])
    out["times_s"].update(graph["times_s"])
    return out


def classifier_check(devices, x, images: int) -> dict:
    """The digit classifier (now trained on the report's device): one epoch on `images` on each device from
    the same start and batches; the accuracy each reaches on those images, and the time."""
    from vaelib.data import datasets as data
    from vaelib.evaluation import classifier
    _, y = data.load("mnist", train=True, limit=images)
    found = {}
    for device in devices:
        start = time.perf_counter()
        model = classifier.fit(x.to(device), y.to(device), epochs=1, progress=False)
        synced(device)
        found[f"classifier: one epoch of {images} images on {device.type}, seconds"] = time.perf_counter() - start
        found[f"classifier: its accuracy on those images, {device.type}"] = \
            (classifier.predict(model, x) == y).float().mean().item()
    return found


def full_size(device, limit: int | None = None) -> dict:
    """A full-size conv epoch (60,000 images, batch 128) and a full-size IWAE bound (all 10,000 test images,
    K = 1,000) on the GPU: seconds and the most GPU memory torch held (what GPU_TASK_MB plans)."""
    import torch
    from vaelib.core.iwae import iwae_bound
    from vaelib.data import datasets as data
    x_full, _ = data.load("mnist", train=True, limit=limit)
    x_test_full, _ = data.load("mnist", train=False, limit=limit)
    found = {"checks": {}, "times_s": {}}
    torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    model = plain_epoch("conv", device, x_full)[0]
    synced(device)
    found["times_s"]["conv epoch, all 60,000 images (the engine's step, no test pass), cuda"] = time.perf_counter() - start
    found["checks"]["conv epoch, all 60,000 images: most GPU memory reserved (MB)"] = \
        torch.cuda.max_memory_reserved(device) / 2 ** 20
    torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    bound = iwae_bound(model, x_test_full.to(device), k=1000).mean().item()
    synced(device)
    found["times_s"]["IWAE K=1,000, conv, all 10,000 test images, cuda"] = time.perf_counter() - start
    found["checks"]["IWAE K=1,000, all 10,000 test images: most GPU memory reserved (MB)"] = \
        torch.cuda.max_memory_reserved(device) / 2 ** 20
    found["checks"]["IWAE K=1,000, all 10,000 test images: the bound (nats, after one epoch)"] = bound
    return found


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/out/gpu.json")
    parser.add_argument("--images", type=int, default=None, help="training images per timed epoch (default 4,000; "
                                                                   "--project: all)")
    parser.add_argument("--waits", action="store_true", help="only the host waits and the CUDA times")
    parser.add_argument("--full-images", type=int, default=None, help="images of the full-size GPU measures "
                                                                       "(default: all)")
    parser.add_argument("--project", action="store_true", help="the default report on this GPU, projected from "
                        "a full conv run, each architecture's epoch and N runs at once (benchmarks.gpuproject)")
    parser.add_argument("--device", default="cuda", help="--project: where (cpu: a check of the code)")
    parser.add_argument("--epochs", type=int, default=None, help="--project: epochs of the timed run (default: "
                                                                  "the report's)")
    parser.add_argument("--sharing", type=int, nargs="+", default=[1, 2, 4], help="--project: runs at once")
    parser.add_argument("--startup-train", type=float, default=None, help="--project: a training step's start-up "
                        "in seconds, measured where papermill is (python -m vaelib.report --estimate)")
    parser.add_argument("--startup-evaluate", type=float, default=None, help="--project: an evaluation step's")
    args = parser.parse_args(argv)
    if args.project and (args.startup_train is None or args.startup_evaluate is None):
        parser.error("--project needs --startup-train and --startup-evaluate: seconds measured on the CPU machine "
                     "(a lent GPU machine has no papermill to time them)")
    stubbed = stub_missing()
    import torch
    if args.project:
        from benchmarks import gpuproject
        found = gpuproject.project(torch.device(args.device), args.images,
                                   args.epochs, args.sharing,
                                   {"train": args.startup_train, "evaluate": args.startup_evaluate})
        found.update({"torch": torch.__version__, "gpu": torch.cuda.get_device_name(0)
                      if torch.cuda.is_available() else None, "stubbed": stubbed})
        gpuproject.show(found)
        out = Path(args.out).with_name("gpu_project.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(found, indent=1, default=str) + "\n")
        print(f"\n{out}")
        return
    devices = [torch.device("cpu")]
    skipped = "" if torch.cuda.is_available() else "no CUDA device here: the CUDA checks and times are skipped"
    if not skipped:
        devices.append(torch.device("cuda"))
    start = time.perf_counter()
    if args.waits and skipped:
        raise SystemExit(f"python -m benchmarks.gpu --waits: {skipped}")
    images = args.images or 4000
    found = only_waits(images) if args.waits else run_checks(devices, images, args.full_images)
    found.update({"torch": torch.__version__, "cuda": torch.cuda.get_device_name(0) if not skipped else None,
                  "cpu_threads": torch.get_num_threads(), "stubbed": stubbed, "skipped": skipped,
                  "wall_s": time.perf_counter() - start})
    print(f"torch {found['torch']}; {found['cuda'] or skipped}; {found['cpu_threads']} CPU threads; "
          f"stand-ins for {', '.join(stubbed) or 'nothing'}")
    print("\n| check | value |\n|---|---:|")
    for name, value in found["checks"].items():
        print(f"| {name} | {value if isinstance(value, (bool, str)) else f'{value:.3g}'} |")
    if "host_waits" in found:
        print("\n| host waits for the GPU | per 100 steps | where (file:line: count) |\n|---|---:|---|")
        for kind in ("linear", "conv", "reference"):
            where = ", ".join(f"{k}: {v}" for k, v in found["host_waits"][f"{kind}: where"].items())
            print(f"| {kind} | {found['host_waits'][f'{kind}: waits per 100 steps']:.1f} | {where or 'none'} |")
    print("\n| time | seconds |\n|---|---:|")
    for name, value in found["times_s"].items():
        print(f"| {name} | {value:.4f} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(found, indent=1) + "\n")
    print(f"\n{args.out}; {found['wall_s']:.0f} s in all")


if __name__ == "__main__":
    main()
