"""vaelib against pythae 0.1.2's TrainingPipeline on linear d = 10, one thread, in one process.

Both train the same VAE, vaelib's linear d = 10 (784-256-ReLU-(10, 10) / 10-256-ReLU-784: pythae's encoder has
the mean and log-variance heads that vaelib's one 256 -> 20 layer holds, its decoder ends with the sigmoid that
its BCE needs), batch 128, Adam at lr 1e-3, on the 60,000 training images, each epoch followed by its test
evaluation (pythae's pipeline evaluates eval_data every epoch). Runs alternate: pythae's pipeline for --epochs
epochs, vaelib's epochs (training.plain's epoch and core.bounds.mean_loss on the test set), again --repeats
times; the seconds per epoch are medians over the repeats. pythae's wall time is its whole pipeline call (it
sets up its trainer and writes its final model under a temporary folder): what a user of it waits for.

pythae is not a dependency of the project: install it in a throwaway environment that sees this one's packages,

    python -m venv /tmp/pythae-venv && echo "$PWD/.venv/lib/python3.11/site-packages" \\
        > /tmp/pythae-venv/lib/python3.11/site-packages/vaelib-venv.pth
    /tmp/pythae-venv/bin/pip install --no-deps pythae==0.1.2 && /tmp/pythae-venv/bin/pip install "pydantic>=2" cloudpickle imageio scikit-learn
    PYTHONPATH=$PWD /tmp/pythae-venv/bin/python -m benchmarks.vs_pythae [--epochs 2] [--repeats 3]

Then a profile of vaelib's step (one thread, 50 steps): its largest operations, and two faster loss forms timed
against today's (softplus(l) - x*l, and relu(l) - x*l - log sigmoid(|l|) as core.iwae.log_bernoulli has it), with
whether each equals today's loss and gradients bit for bit.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import os
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F
from torch import nn

from vaelib.training.protocols import PROTOCOLS
from vaelib.core.bounds import mean_loss
from vaelib.core.losses import vae_loss
from vaelib.core.models import LinearVAE
from vaelib.data import datasets as data
from vaelib.training import plain

D, HIDDEN = 10, 256


def pythae_model(seed: int):
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.hidden = nn.Sequential(nn.Flatten(), nn.Linear(784, HIDDEN), nn.ReLU())
            self.mean, self.log_var = nn.Linear(HIDDEN, D), nn.Linear(HIDDEN, D)

        def forward(self, x):
            h = self.hidden(x)
            return ModelOutput(embedding=self.mean(h), log_covariance=self.log_var(h))

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.layers = nn.Sequential(nn.Linear(D, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 784))

        def forward(self, z):
            return ModelOutput(reconstruction=torch.sigmoid(self.layers(z)).view(-1, 1, 28, 28))

    torch.manual_seed(seed)
    config = VAEConfig(input_dim=(1, 28, 28), latent_dim=D, reconstruction_loss="bce")
    return VAE(config, encoder=Encoder(), decoder=Decoder())


def run_pythae(x_train, x_test, epochs: int, seed: int) -> tuple[float, float]:
    """pythae's pipeline for `epochs` epochs: (seconds per epoch, its last test loss per image)."""
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig
    model = pythae_model(seed)
    with tempfile.TemporaryDirectory() as out:
        config = BaseTrainerConfig(output_dir=out, per_device_train_batch_size=128, per_device_eval_batch_size=128,
                                   num_epochs=epochs, learning_rate=1e-3, optimizer_cls="Adam", no_cuda=True,
                                   seed=seed, steps_saving=None)
        pipeline = TrainingPipeline(training_config=config, model=model)
        start = time.perf_counter()
        pipeline(train_data=x_train, eval_data=x_test)
        took = time.perf_counter() - start
    with torch.no_grad():
        test = pipeline.trainer._best_model if hasattr(pipeline.trainer, "_best_model") else model
        loss = sum(test({"data": xb}).loss.item() * len(xb) for xb in x_test.split(1000)) / len(x_test)
    return took / epochs, loss


def run_vaelib(x_train, x_test, epochs: int, seed: int) -> tuple[float, float]:
    """vaelib's plain epochs, each with its test evaluation: (seconds per epoch, last test loss per image)."""
    torch.manual_seed(seed)
    model = LinearVAE(D, hidden=HIDDEN)
    optimizer = PROTOCOLS["plain"].optimizer(model.parameters(), 1e-3)
    gens = {"perm": torch.Generator().manual_seed(seed), "noise": torch.Generator().manual_seed(seed + 1)}
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        plain.train_epoch(model, optimizer, x_train, 128, 1.0, gens, epoch)
        loss = mean_loss(model, x_test)["loss"]
    return (time.perf_counter() - start) / epochs, loss


def loss_forms(x: torch.Tensor, steps: int = 50) -> list[dict]:
    """Today's loss and two faster forms on one linear d = 10 model's steps: time per step and bit-equality."""
    def today(logits, xb):
        return F.binary_cross_entropy_with_logits(logits, xb, reduction="sum")

    def softplus(logits, xb):
        return (F.softplus(logits) - xb * logits).sum()

    def split(logits, xb):
        return (torch.relu(logits) - xb * logits).sum() - F.logsigmoid(logits.abs()).sum()

    rows, reference = [], None
    for name, recon in {"binary_cross_entropy_with_logits (today)": today, "softplus(l) - x*l": softplus,
                        "relu(l) - x*l - log sigmoid|l|": split}.items():
        torch.manual_seed(0)
        model = LinearVAE(D, hidden=HIDDEN)
        optimizer = PROTOCOLS["plain"].optimizer(model.parameters(), 1e-3)
        noise, times, losses = torch.Generator().manual_seed(1), [], []
        for i in range(steps):
            xb = x[(i * 128) % len(x):][:128]
            start = time.perf_counter()
            logits, mu, logvar = model(xb, generator=noise)
            n = len(xb)
            kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / n
            loss = recon(logits, xb) / n + kl
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            times.append(time.perf_counter() - start)
            losses.append(loss.item())
        reference = reference or losses
        rows.append({"loss form": name, "ms_per_step": statistics.median(times[5:]) * 1e3,
                     "equal": losses == reference, "last_loss_diff": losses[-1] - reference[-1]})
    return rows


def profile_step(x: torch.Tensor, steps: int = 50) -> str:
    torch.manual_seed(0)
    model = LinearVAE(D, hidden=HIDDEN)
    optimizer = PROTOCOLS["plain"].optimizer(model.parameters(), 1e-3)
    noise = torch.Generator().manual_seed(1)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for i in range(steps):
            plain.train_step(model, optimizer, x[(i * 128) % len(x):][:128], 1.0, noise)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.vs_pythae", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    os.environ.setdefault("TQDM_DISABLE", "1")            # pythae's per-batch progress bars
    logging.getLogger("pythae").setLevel(logging.WARNING)
    version = importlib.metadata.version("pythae")
    torch.set_num_threads(1)
    x_train, x_test = data.load("mnist", train=True)[0], data.load("mnist", train=False)[0]
    assert vae_loss  # today's loss: core.losses.vae_loss, which plain.train_step calls
    seen = {"pythae": [], "vaelib": []}
    for r in range(args.repeats):
        p_s, p_loss = run_pythae(x_train, x_test, args.epochs, r)
        v_s, v_loss = run_vaelib(x_train, x_test, args.epochs, r)
        seen["pythae"].append(p_s)
        seen["vaelib"].append(v_s)
        print(f"repeat {r + 1}: pythae {p_s:.2f} s per epoch (test loss {p_loss:.2f}), vaelib {v_s:.2f} "
              f"(test loss {v_loss:.2f}): {p_s / v_s:.2f}x", flush=True)
    p, v = statistics.median(seen["pythae"]), statistics.median(seen["vaelib"])
    print(f"pythae {version} TrainingPipeline {p:.2f} s per epoch, vaelib {v:.2f} (medians of "
          f"{args.repeats}, {args.epochs} epochs each, with the test evaluation, 1 thread): vaelib {p / v:.2f}x faster")
    print(profile_step(x_train))
    import pandas as pd
    forms = pd.DataFrame(loss_forms(x_train))
    print(forms.to_string(index=False, float_format=lambda f: f"{f:.3g}"))
    result = {"pythae": version, "pythae_s_per_epoch": round(p, 3), "vaelib_s_per_epoch": round(v, 3), "speedup": round(p / v, 2),
              "epochs": args.epochs, "repeats": args.repeats, "pythae_runs": seen["pythae"], "vaelib_runs": seen["vaelib"],
              "loss_forms_ms": dict(zip(forms["loss form"], forms["ms_per_step"].round(3)))}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
