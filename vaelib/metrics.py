"""The evaluation step: every per-model number the report cites, computed once per run and cached.

    python -m vaelib.metrics runs/conv_2_s0 --classifier runs/classifier_mnist.pt --iwae-k 1000

For one finished run: the test ELBO, the IWAE bound (Burda et al. 2015; optional, it is the costly
one), reconstruction accuracy (a digit classifier reads each reconstruction) with its confusion
matrix, 5-NN accuracy of the latent means with its confusion matrix, and latent diagnostics (KL per
dimension, active units). The result goes to the run's metrics.json with the settings and the code
that made it; a cache made by other code or settings is recomputed, never reused.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import classifier, data, locks, provenance, runs
from .atomic import atomic_write_text
from .cpushare import CpuShare
from .models import VAE, load_model
from .train import evaluate

LOG_2PI = math.log(2 * math.pi)
ACTIVE_THRESHOLD = 0.01   # a unit is active when Var_x[E q(z_i|x)] exceeds this (Burda et al. 2015)


def subpixel(layer: nn.ConvTranspose2d) -> nn.Sequential:
    """The same map as a ConvTranspose2d(kernel 4, stride 2, padding 1), as a 3x3 convolution to 4x the
    channels followed by PixelShuffle(2) (the "sub-pixel" form): each output phase (row and column parity)
    is a 2x2 slice of the transposed kernel. Equal up to float rounding; faster for some layer shapes."""
    w = layer.weight.detach()                                   # [c_in, c_out, 4, 4]
    c_in, c_out = w.shape[:2]
    taps = {0: {0: 3, 1: 1}, 1: {1: 2, 2: 0}}                   # phase -> {3x3 tap: transposed kernel index}
    kernel = torch.zeros(c_out, 2, 2, c_in, 3, 3, dtype=w.dtype)
    for a, rows in taps.items():
        for b, cols in taps.items():
            for t, k in rows.items():
                for u, l in cols.items():
                    kernel[:, a, b, :, t, u] = w[:, :, k, l].T
    conv = nn.Conv2d(c_in, 4 * c_out, 3, padding=1).to(w.device)
    conv.weight.data = kernel.reshape(4 * c_out, c_in, 3, 3).to(w.device)
    conv.bias.data = layer.bias.detach().repeat_interleave(4)
    return nn.Sequential(conv, nn.PixelShuffle(2))


def _seconds(module: nn.Module, x: torch.Tensor, repeats: int = 3) -> float:
    module(x)
    start = time.perf_counter()
    for _ in range(repeats):
        module(x)
    return time.perf_counter() - start


@torch.inference_mode()
def fastest_decoder(model: VAE, z: torch.Tensor) -> nn.Module:
    """A channels_last copy of the decoder where each stride-2 transposed convolution takes whichever of
    its two equal forms (transposed, sub-pixel) runs faster on this machine for inputs like `z`, and each
    ReLU works in place (no new tensor per call: 13% off a conv d=50 bound, the same numbers, measured)."""
    decoder = copy.deepcopy(model.decoder).eval().to(memory_format=torch.channels_last)
    if not isinstance(decoder, nn.Sequential):
        return decoder
    layers, h = [], z
    for layer in decoder:
        if isinstance(layer, nn.ConvTranspose2d) and layer.kernel_size == (4, 4) and layer.stride == (2, 2) \
                and layer.padding == (1, 1) and layer.groups == 1 and layer.dilation == (1, 1):
            h = h.contiguous(memory_format=torch.channels_last)
            other = subpixel(layer).to(memory_format=torch.channels_last)
            layer = other if _seconds(other, h) < _seconds(layer, h) else layer
        elif isinstance(layer, nn.ReLU):
            layer = nn.ReLU(inplace=True)       # its input is the previous layer's fresh output
        layers.append(layer)
        h = layer(h)
    return nn.Sequential(*layers)


@torch.inference_mode()
def iwae_bound(model: VAE, x: torch.Tensor, k: int = 1000, samples_per_chunk: int = 2000,
               seed: int = 0, progress: bool = False, each_chunk=lambda: None, fast: bool = True) -> torch.Tensor:
    """Per-image importance-weighted lower bound on log p(x), in nats.

    With k = 1 it is the ELBO (in expectation); it rises towards log p(x) as k grows. Images are
    processed a few at a time so that their k decoded samples stay cache-sized (~2,000 decodes:
    measured fastest here), on a channels_last copy of the model (measured 2x faster decoding here;
    the caller's model is left as it is) whose transposed convolutions take their fastest equal form
    (`fast`; see fastest_decoder). Run it in a process started with
    MALLOC_MMAP_THRESHOLD_=65536 (the runner does): glibc's moving threshold otherwise fragments the
    heap with these mid-size tensors (6.6 GB instead of 1.0 GB for one linear model, measured).
    """
    model = copy.deepcopy(model).eval().to(memory_format=torch.channels_last)
    gen = torch.Generator().manual_seed(seed)
    per_chunk = max(1, samples_per_chunk // k)
    decode = model.decode
    if fast:
        probe = torch.randn(min(samples_per_chunk, per_chunk * k), model.latent_dim, generator=torch.Generator())
        decode = fastest_decoder(model, probe)
    bounds = []
    for xb in tqdm(x.split(per_chunk), desc=f"IWAE k={k}", disable=not progress, leave=False, mininterval=2):
        each_chunk()
        mu, logvar = model.encode(xb)
        eps = torch.randn((k, *mu.shape), generator=gen)
        z = mu + eps * torch.exp(0.5 * logvar)                                   # [k, B, d]
        logits = decode(z.flatten(0, 1)).view(k, len(xb), -1)
        target = xb.flatten(1).expand(k, -1, -1)
        log_px_z = -F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1)
        log_pz = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)
        log_qz = -0.5 * (eps.pow(2) + LOG_2PI + logvar).sum(-1)
        bounds.append(torch.logsumexp(log_px_z + log_pz - log_qz, dim=0) - math.log(k))
    return torch.cat(bounds)


@torch.inference_mode()
def encode_means(model: VAE, x: torch.Tensor, batch_size: int = 2500) -> torch.Tensor:
    device = next(model.parameters()).device
    return torch.cat([model.encode(xb.to(device))[0].cpu() for xb in x.split(batch_size)])


def knn_predict(train_z, train_y, test_z, k: int = 5, batch_size: int = 1000) -> torch.Tensor:
    """Majority label among the k nearest training means (Euclidean), ties to the nearest."""
    preds = []
    for zb in test_z.split(batch_size):
        idx = torch.cdist(zb, train_z).topk(k, largest=False).indices
        labels = train_y[idx]                                   # [B, k], nearest first
        votes = torch.zeros(len(zb), int(train_y.max()) + 1).scatter_add_(
            1, labels, torch.linspace(1.0, 0.99, k).expand(len(zb), k))  # tiny weights break ties
        preds.append(votes.argmax(1))
    return torch.cat(preds)


def confusion_matrix(y_true: torch.Tensor, y_pred: torch.Tensor, n_classes: int = 10) -> torch.Tensor:
    return torch.bincount(y_true * n_classes + y_pred, minlength=n_classes ** 2).reshape(n_classes, n_classes)


@torch.inference_mode()
def reconstruction_accuracy(model: VAE, clf, x, y) -> tuple[float, torch.Tensor]:
    """Share of reconstructions (decoded posterior means) the classifier reads as the true digit."""
    recon = torch.cat([model.reconstruct(xb) for xb in x.split(2500)])
    pred = classifier.predict(clf, recon)
    return (pred == y).float().mean().item(), pred


@torch.inference_mode()
def latent_diagnostics(model: VAE, x: torch.Tensor) -> dict:
    """KL to the prior per latent dimension (mean over images, sorted high to low) and active units."""
    mus, logvars = zip(*(model.encode(xb) for xb in x.split(2500)))
    mu, logvar = torch.cat(mus), torch.cat(logvars)
    kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).mean(0)
    active = mu.var(0) > ACTIVE_THRESHOLD
    return {"kl_per_dim": sorted(kl.tolist(), reverse=True), "active_units": int(active.sum())}


def settings_of(config: dict, iwae_k: int | None, knn_k: int = 5) -> dict:
    return {"iwae_k": iwae_k, "test_limit": config.get("test_limit"), "train_limit": config.get("train_limit"),
            "knn_k": knn_k}


def cached(folder: Path, settings: dict) -> dict | None:
    """The run's metrics.json when it was made with these settings by today's code for today's run."""
    path = Path(folder) / "metrics.json"
    if not path.is_file():
        return None
    saved = json.loads(path.read_text())
    run_code = (runs.read_provenance(folder) or {}).get("code")
    fresh = (saved.get("provenance", {}).get("code") == provenance.fingerprint(provenance.EVALUATION_CODE)
             and saved.get("run_code") == run_code)
    return saved if fresh and saved.get("settings") == settings else None


def evaluate_run(folder: Path | str, clf_path: Path | str, iwae_k: int | None = 1000, knn_k: int = 5,
                 num_threads: int = 0, progress: bool = False, log=print) -> dict:
    """All metrics of one finished run, cached in its metrics.json (recomputed when stale)."""
    folder = Path(folder)
    with locks.exclusive(folder, log=log):   # one writer per run folder (another runner may be here)
        config = runs.read_config(folder)
        if not runs.is_finished(folder):
            raise FileNotFoundError(f"{folder} holds no finished run to evaluate")
        settings = settings_of(config, iwae_k, knn_k)
        if (hit := cached(folder, settings)) is not None:
            return hit
        return _evaluate(folder, config, settings, clf_path, iwae_k, knn_k, num_threads, progress, log)


def _evaluate(folder: Path, config: dict, settings: dict, clf_path, iwae_k, knn_k, num_threads, progress,
              log) -> dict:
    clf = classifier.load(clf_path)
    model = load_model(folder)
    x_test, y_test = data.load(config["dataset"], train=False, limit=config.get("test_limit"))
    x_train, y_train = data.load(config["dataset"], train=True, limit=config.get("train_limit"))
    out = {"run": folder.name, "arch": config["arch"], "latent_dim": config["latent_dim"], "seed": config["seed"],
           "dataset": config["dataset"], "settings": settings, "seconds": {}}
    with CpuShare(num_threads) as share:
        start = time.perf_counter()
        out["test_elbo"] = -evaluate(model, x_test, seed=config["seed"])["loss"]  # as in the history
        if iwae_k:
            out["iwae_bound"] = iwae_bound(model, x_test, k=iwae_k, progress=progress,
                                           each_chunk=share.adjust).mean().item()
        out["seconds"]["bounds"] = time.perf_counter() - start

        start = time.perf_counter()
        out["recon_accuracy"], pred = reconstruction_accuracy(model, clf, x_test, y_test)
        out["recon_confusion"] = confusion_matrix(y_test, pred).tolist()
        out["seconds"]["recon_accuracy"] = time.perf_counter() - start

        start = time.perf_counter()
        z_train, z_test = encode_means(model, x_train), encode_means(model, x_test)
        knn = knn_predict(z_train, y_train, z_test, k=knn_k)
        out["knn_accuracy"] = (knn == y_test).float().mean().item()
        out["knn_confusion"] = confusion_matrix(y_test, knn).tolist()
        out.update(latent_diagnostics(model, x_test))
        out["seconds"]["latent"] = time.perf_counter() - start
        out["provenance"] = provenance.record(provenance.EVALUATION_CODE, **share.record())
    out["run_code"] = (runs.read_provenance(folder) or {}).get("code")
    atomic_write_text(folder / "metrics.json", json.dumps(out, indent=1))
    log(f"{folder.name}: ELBO {out['test_elbo']:.2f}" + (f", IWAE {out['iwae_bound']:.2f}" if iwae_k else "")
        + f", recon acc {out['recon_accuracy']:.4f}, k-NN {out['knn_accuracy']:.4f}, "
          f"{out['active_units']} active units ({sum(out['seconds'].values()):.0f}s)")
    return out


def read(folder: Path | str) -> dict:
    return json.loads((Path(folder) / "metrics.json").read_text())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vaelib.metrics", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="finished run folders")
    parser.add_argument("--classifier", required=True, help="the digit classifier (vaelib.classifier)")
    parser.add_argument("--iwae-k", type=int, default=1000, help="importance samples; 0 skips the bound")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: share with other jobs)")
    args = parser.parse_args(argv)
    for folder in args.runs:
        evaluate_run(folder, args.classifier, iwae_k=args.iwae_k or None, num_threads=args.threads,
                     progress=sys.stderr.isatty())
    return 0


if __name__ == "__main__":
    sys.exit(main())
