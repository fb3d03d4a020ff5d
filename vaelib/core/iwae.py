"""The importance-weighted bound on log p(x) of a trained VAE (Burda et al. 2015), and the exact faster
forms of the conv decoder that it runs on. Apart from core.bounds (the ELBO that training reports every
epoch), so that the training code, and the runs it fingerprints, do not depend on it."""

from __future__ import annotations

import copy
import math
import time

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .losses import LOG_2PI
from .models import VAE


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


class PhaseTranspose(nn.Module):
    """The same map as a ConvTranspose2d(kernel 4, stride 2, padding 1), as one matrix product on the
    channels-last input (every input pixel's 4 x 4 output patch at once) and, for each of the 4 output
    phases (row and column parity), the sum of the 2 x 2 patch taps that land on it, shifted by at most one
    pixel; then the phases interleaved. No col2im, no zero taps: much faster for a few output channels
    (the 16 -> 1 layer of the conv decoder). Equal up to float rounding."""

    # output parity -> ((kernel tap, input offset), ...): y = 2i - 1 + ky, so ky = 1 (i = p), 3 (i = p - 1)
    # land on even rows y = 2p, and ky = 2 (i = p), 0 (i = p + 1) on odd rows y = 2p + 1
    TAPS = {0: ((1, 0), (3, -1)), 1: ((2, 0), (0, 1))}

    def __init__(self, layer: nn.ConvTranspose2d):
        super().__init__()
        c_in, c_out, kh, kw = layer.weight.shape
        self.c_out = c_out
        # [c_in, (ky, kx, c_out)]: the product's columns grouped by tap, channels last in each
        self.register_buffer("matrix", layer.weight.detach().permute(0, 2, 3, 1).reshape(c_in, kh * kw * c_out).clone())
        self.register_buffer("bias", layer.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c_in, h, w = x.shape
        rows = x.permute(0, 2, 3, 1).reshape(n * h * w, c_in)            # free for a channels_last input
        # every tap's plane contiguous: [ky, kx, c_out, n, h, w]
        cols = torch.matmul(self.matrix.t(), rows.t()).view(4, 4, self.c_out, n, h, w)
        out = x.new_empty(2, 2, self.c_out, n, h, w)
        for a, row_taps in self.TAPS.items():
            for b, col_taps in self.TAPS.items():
                phase = out[a, b]
                phase.copy_(cols[row_taps[0][0], col_taps[0][0]])           # the tap of offset (0, 0)
                for ky, di in row_taps:
                    for kx, dj in col_taps:
                        if (di, dj) != (0, 0):                     # a shifted tap: no pixel beyond the border
                            phase[..., max(0, -di):h - max(0, di), max(0, -dj):w - max(0, dj)].add_(
                                cols[ky, kx, ..., max(0, di):h + min(0, di), max(0, dj):w + min(0, dj)])
        out += self.bias.view(1, 1, -1, 1, 1, 1)
        # interleave the phases: y = 2p + a, x = 2q + b
        return out.permute(3, 2, 4, 0, 5, 1).reshape(n, self.c_out, 2 * h, 2 * w)


def log_bernoulli(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x | logits) summed over the pixels, for logits [k, B, P] and pixels x [B, P] (grey or binary):
    sum x*l - softplus(l), i.e. minus the summed BCE, to float rounding. The x*l term is one batched matrix
    product (no [k, B, P] temporary); softplus(l) = relu(l) - log sigmoid(|l|), so that only vectorized
    kernels (relu, abs, sigmoid, log) touch every pixel: torch's softplus and log-sigmoid run element by
    element on some CPUs (benchmarks.iwae times it)."""
    relu_sum = torch.relu(logits).sum(-1)
    return torch.einsum("kbp,bp->kb", logits, x) - relu_sum + logits.abs().sigmoid_().log_().sum(-1)


def _seconds(module: nn.Module, x: torch.Tensor, repeats: int = 3) -> float:
    module(x)
    start = time.perf_counter()
    for _ in range(repeats):
        module(x)
    return time.perf_counter() - start


@torch.inference_mode()
def fastest_decoder(model: VAE, z: torch.Tensor) -> nn.Module:
    """A channels_last copy of the decoder where each stride-2 transposed convolution takes whichever of
    its three equal forms (transposed, sub-pixel, by phase) runs fastest on this machine for inputs like `z`, and each
    ReLU works in place (no new tensor per call: 13% off a conv d=50 bound, the same numbers, measured)."""
    decoder = copy.deepcopy(model.decoder).eval().to(memory_format=torch.channels_last)
    if not isinstance(decoder, nn.Sequential):
        return decoder
    layers, h = [], z
    for layer in decoder:
        if isinstance(layer, nn.ConvTranspose2d) and layer.kernel_size == (4, 4) and layer.stride == (2, 2) \
                and layer.padding == (1, 1) and layer.groups == 1 and layer.dilation == (1, 1):
            h = h.contiguous(memory_format=torch.channels_last)
            forms = [layer, subpixel(layer).to(memory_format=torch.channels_last), PhaseTranspose(layer)]
            layer = min(forms, key=lambda form: _seconds(form, h))
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
    (`fast`; see fastest_decoder). Run it in a process started with glibc's malloc thresholds fixed
    (pipeline.launch.MALLOC_ENV: the runner starts every step so): the chunk's tensors have the same sizes every chunk, so freed blocks
    are reused as they are, neither returned to the kernel and faulted in again (a low mmap threshold)
    nor fragmenting the heap (glibc's moving threshold); see benchmarks/iwae.py.
    """
    model = copy.deepcopy(model).eval().to(memory_format=torch.channels_last)
    gen = torch.Generator().manual_seed(seed)
    per_chunk = max(1, samples_per_chunk // k)
    decode = model.decode
    if fast:
        probe = torch.randn(min(samples_per_chunk, per_chunk * k), model.latent_dim, generator=torch.Generator())
        probe = probe.to(next(model.parameters()).device)
        decode = fastest_decoder(model, probe)
    bounds = []
    for xb in tqdm(x.split(per_chunk), desc=f"IWAE k={k}", disable=not progress, leave=False, mininterval=2):
        each_chunk()
        mu, logvar = model.encode(xb)
        eps = torch.randn((k, *mu.shape), generator=gen).to(mu.device)     # the same draws on any device
        z = mu + eps * torch.exp(0.5 * logvar)                                   # [k, B, d]
        logits = decode(z.flatten(0, 1)).reshape(k, len(xb), -1)
        log_px_z = log_bernoulli(logits, xb.flatten(1))
        log_pz = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)
        log_qz = -0.5 * (eps.pow(2) + LOG_2PI + logvar).sum(-1)
        bounds.append(torch.logsumexp(log_px_z + log_pz - log_qz, dim=0) - math.log(k))
    return torch.cat(bounds)
