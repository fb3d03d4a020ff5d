"""The importance-weighted bound on log p(x) of a trained VAE (Burda et al. 2015). Apart from core.bounds
(the ELBO that training reports every epoch): the training code does not depend on it."""

from __future__ import annotations

import copy
import math

import torch
from torch import nn
from tqdm.auto import tqdm

from .losses import LOG_2PI
from .models import VAE

# The version of the bound's numbers (draws, chunking, arithmetic): bump it in the commit that changes any of
# them, and only the cached bounds are computed again (evaluation.metrics' "iwae", evaluation.nll's estimates).
VERSION = 1


def log_bernoulli(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x | logits) summed over the pixels, for logits [k, B, P] and pixels x [B, P] (grey or binary):
    sum x*l - softplus(l), i.e. minus the summed BCE, to float rounding. The x*l term is one batched matrix
    product (no [k, B, P] temporary); softplus(l) = relu(l) - log sigmoid(|l|), so that only vectorized
    kernels (relu, abs, sigmoid, log) touch every pixel: torch's softplus and log-sigmoid run element by
    element on some CPUs (benchmarks.iwae times it)."""
    relu_sum = torch.relu(logits).sum(-1)
    return torch.einsum("kbp,bp->kb", logits, x) - relu_sum + logits.abs().sigmoid_().log_().sum(-1)


def bound_decoder(model: VAE) -> nn.Module:
    """The decoder the bound runs: a channels_last copy (faster decoding of the conv decoder; the caller's
    model is left as it is) whose ReLUs work in place (each one's input is the previous layer's fresh
    output). torch's own layers only: the same numbers on every machine, and memory that stays flat over
    any number of chunks (benchmarks.taskmem measures both)."""
    decoder = copy.deepcopy(model.decoder).eval().to(memory_format=torch.channels_last)
    if isinstance(decoder, nn.Sequential):
        decoder = nn.Sequential(*(nn.ReLU(inplace=True) if isinstance(layer, nn.ReLU) else layer
                                  for layer in decoder))
    return decoder


@torch.inference_mode()
def iwae_bound(model: VAE, x: torch.Tensor, k: int = 1000, samples_per_chunk: int = 2000,
               seed: int = 0, progress: bool = False, each_chunk=lambda: None) -> torch.Tensor:
    """Per-image importance-weighted lower bound on log p(x), in nats.

    With k = 1 it is the ELBO (in expectation); it rises towards log p(x) as k grows. Images are
    processed a few at a time so that their k decoded samples stay cache-sized (~2,000 decodes), on
    bound_decoder's copy of the decoder. Run it in a process started with glibc's malloc thresholds fixed
    (pipeline.launch.MALLOC_ENV: the runner starts every step so): the chunk's tensors have the same
    sizes every chunk, so freed blocks are reused as they are, neither returned to the kernel and
    faulted in again (a low mmap threshold) nor fragmenting the heap (glibc's moving threshold).
    """
    model = copy.deepcopy(model).eval().to(memory_format=torch.channels_last)
    gen = torch.Generator().manual_seed(seed)
    per_chunk = max(1, samples_per_chunk // k)
    decode = bound_decoder(model)
    # written in place, chunk by chunk: no small tensor kept per chunk between the chunk's large temporaries
    # (with the malloc thresholds above, such leftovers fragment the heap and it grows with every chunk)
    bounds = torch.empty(len(x), device=x.device)
    for start, xb in tqdm(zip(range(0, len(x), per_chunk), x.split(per_chunk)), total=math.ceil(len(x) / per_chunk),
                          desc=f"IWAE k={k}", disable=not progress, leave=False, mininterval=2):
        each_chunk()
        mu, logvar = model.encode(xb)
        eps = torch.randn((k, *mu.shape), generator=gen).to(mu.device)     # the same draws on any device
        z = mu + eps * torch.exp(0.5 * logvar)                                   # [k, B, d]
        logits = decode(z.flatten(0, 1)).reshape(k, len(xb), -1)
        log_px_z = log_bernoulli(logits, xb.flatten(1))
        log_pz = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)
        log_qz = -0.5 * (eps.pow(2) + LOG_2PI + logvar).sum(-1)
        torch.logsumexp(log_px_z + log_pz - log_qz, dim=0, out=bounds[start:start + len(xb)])
        bounds[start:start + len(xb)] -= math.log(k)
    return bounds
