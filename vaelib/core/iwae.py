"""The importance-weighted bound on log p(x) of a trained VAE (Burda et al. 2015). Apart from core.bounds
(the ELBO that training reports every epoch): the training code does not depend on it."""

from __future__ import annotations

import copy
from functools import lru_cache
import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .losses import LOG_2PI
from .models import VAE, build_model



SAMPLES_PER_CHUNK = 2000   # decoded samples per chunk of images: cache-sized tensors, the same sizes every chunk


def log_bernoulli(logits: torch.Tensor, x: torch.Tensor, diagonal: bool = False) -> torch.Tensor:
    """log p(x | logits) summed over the pixels, for logits [k, B, P] and pixels x [B, P] (grey or binary):
    sum x*l - softplus(l), i.e. minus the summed BCE, to float rounding. softplus(l) = relu(l) - log sigmoid(|l|),
    so that only vectorized kernels (relu, abs, sigmoid, log) touch every pixel: torch's softplus and log-sigmoid
    run element by element on some CPUs (benchmarks.iwae times it). The x*l term is a matrix product with no
    [k, B, P] temporary: with `diagonal`, for a few images per chunk (B <= 16, as at K = 1,000) one product against all B images,
    whose diagonal is kept (a matrix product runs near the peak; the B matrix-vector products of einsum run at a
    sixth of its speed here), for many images the B matrix-vector products (the other B - 1 columns would cost more)."""
    k, b, p = logits.shape
    if diagonal and b <= 16:
        xl = (logits.reshape(k * b, p) @ x.T).view(k, b, b).diagonal(dim1=1, dim2=2)
    else:
        xl = torch.einsum("kbp,bp->kb", logits, x)
    return xl - torch.relu(logits).sum(-1) + logits.abs().sigmoid_().log_().sum(-1)


def _strided2(conv: nn.ConvTranspose2d) -> bool:
    """A transposed convolution of kernel 4, stride 2, padding 1 (the conv decoder's): it doubles the image."""
    return (isinstance(conv, nn.ConvTranspose2d) and conv.kernel_size == (4, 4) and conv.stride == (2, 2)
            and conv.padding == (1, 1) and conv.output_padding == (0, 0) and conv.groups == 1
            and conv.dilation == (1, 1))


class SubPixelDecoder(nn.Module):
    """The conv decoder (Linear, ReLU, Linear, ReLU, Unflatten to C x H x W, two transposed convolutions of kernel
    4 and stride 2 with a ReLU between, the last to one channel) as three matrix-product layers that compute the same
    logits, to float rounding, with no zero taps and no scattering:

    - the second Linear's rows reordered so that its output is the image channels_last (no layout copy);
    - the first transposed convolution as a 2 x 2 convolution (padding 1) whose 4 x C1 output channels are the
      four output parities (s, t): channel (s, t, c) at grid point (u, v) holds output pixel (2u - s, 2v - t) of
      channel c. The grid is (H + 1) x (W + 1); its points that fall outside the image (row -1 or 2H) are set to 0,
      as the transposed convolution's padding crops them;
    - the last transposed convolution read straight off that grid: a 2 x 2 convolution (no padding) from its
      4 x C1 channels to 16 output phases (r, r'), phase (r, r') at point (P, P') being output pixel (4P + r, 4P' + r').
      Three quarters of its taps are zero (each phase reads one row offset of each parity): it is the smallest layer,
      and its alternatives (gathering the parities into an image first, or torch's transposed convolution, whose
      oneDNN kernel runs this 16-to-1 layer at 4% of the peak here) cost more than the zeros do.

    The logits come out in phase order (P, P', r, r'); `order` puts images in the same order, and log p(x|z) is a
    sum over pixels, so nothing else changes. The form is fixed by the layers' shapes (bound_decoder's rule), never
    by timing: the same numbers every run on a machine. Its bounds differ from LayerDecoder's by float rounding
    (at most 5.9e-7 relative over the test set at K = 1,000, docs/benchmarks.md): a version of their own."""

    VERSION = 2         # the version of this form's bounds (version), bumped when its numbers change
    diagonal = True     # log_bernoulli's x*l as one product's diagonal

    def __init__(self, decoder: nn.Sequential):
        super().__init__()
        first, _, second, _, unflatten, up1, _, up2 = decoder
        c2, height, width = unflatten.unflattened_size
        c1 = up1.out_channels
        self.shape = (c2, height, width, c1)
        self.first = copy.deepcopy(first)
        self.second = nn.Linear(second.in_features, second.out_features)
        with torch.no_grad():
            self.second.weight.copy_(second.weight.view(c2, height, width, -1).permute(1, 2, 0, 3).reshape(c2 * height * width, -1))
            self.second.bias.copy_(second.bias.view(c2, height, width).permute(1, 2, 0).reshape(-1))
            w = up1.weight                                     # [C2, C1, 4, 4]
            parities = w.new_empty(2, 2, c1, c2, 2, 2)
            for s, t, dy, dx in itertools.product(range(2), repeat=4):
                parities[s, t, :, :, dy, dx] = w[:, :, 3 - s - 2 * dy, 3 - t - 2 * dx].T
            self.register_buffer("w1", parities.reshape(4 * c1, c2, 2, 2).contiguous(memory_format=torch.channels_last))
            self.register_buffer("b1", up1.bias.repeat(4).clone())
            w = up2.weight[:, 0]                               # [C1, 4, 4]
            phases = w.new_zeros(4, 4, 2, 2, c1, 2, 2)         # (r, r', s, t, c, dy, dx)
            for r, r2, s, t, dy, dx in itertools.product(range(4), range(4), *[range(2)] * 4):
                ky, kx = r + 1 + 2 * s - 4 * dy, r2 + 1 + 2 * t - 4 * dx
                if 0 <= ky < 4 and 0 <= kx < 4:
                    phases[r, r2, s, t, :, dy, dx] = w[:, ky, kx]
            self.register_buffer("w2", phases.reshape(16, 4 * c1, 2, 2).contiguous(memory_format=torch.channels_last))
            self.register_buffer("b2", up2.bias.repeat(16).clone())
        self.to(first.weight.device)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        (c2, height, width, c1), n = self.shape, len(z)
        h = torch.relu_(self.second(torch.relu_(self.first(z))))
        h = h.view(n, height, width, c2).permute(0, 3, 1, 2)                     # channels_last, no copy
        grid = torch.relu_(F.conv2d(h, self.w1, self.b1, padding=1))            # [n, 4 C1, H + 1, W + 1]
        cells = grid.permute(0, 2, 3, 1).view(n, height + 1, width + 1, 2, 2, c1)
        cells[:, 0, :, 1] = 0                                                  # row -1
        cells[:, height, :, 0] = 0                                             # row 2H
        cells[:, :, 0, :, 1] = 0
        cells[:, :, width, :, 0] = 0
        return F.conv2d(grid, self.w2, self.b2).permute(0, 2, 3, 1).reshape(n, -1)

    def order(self, x: torch.Tensor) -> torch.Tensor:
        """Images [B, ...] as [B, P] in the logits' phase order."""
        _, height, width, _ = self.shape
        return x.reshape(len(x), height, 4, width, 4).permute(0, 1, 3, 2, 4).reshape(len(x), -1)


class LayerDecoder(nn.Module):
    """Any other decoder as it is: a channels_last copy whose ReLUs work in place (each one's input is the
    previous layer's fresh output); logits [n, P] in the images' own pixel order: the bound as it was made before
    the sub-pixel form, bit for bit (so the literature run's cached estimates stay fresh)."""

    VERSION = 1
    diagonal = False

    def __init__(self, decoder: nn.Module):
        super().__init__()
        decoder = copy.deepcopy(decoder).eval().to(memory_format=torch.channels_last)
        if isinstance(decoder, nn.Sequential):
            decoder = nn.Sequential(*(nn.ReLU(inplace=True) if isinstance(layer, nn.ReLU) else layer
                                      for layer in decoder))
        self.layers = decoder

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.layers(z).reshape(len(z), -1)

    def order(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(len(x), -1)


def bound_decoder(model: VAE) -> SubPixelDecoder | LayerDecoder:
    """The decoder the bound runs, chosen by the layers' shapes alone: the conv decoder's form (two stride-2,
    kernel-4 transposed convolutions, the last to one channel, after two Linear layers) as SubPixelDecoder, any
    other as it is (LayerDecoder). A copy: the caller's model is left as it is. torch's own layers only, tensors
    of the same sizes every chunk: the same numbers on every machine, and memory that stays flat over any number
    of chunks (tests/test_memory.py, benchmarks.taskmem)."""
    layers = list(model.decoder) if isinstance(model.decoder, nn.Sequential) else []
    kinds = [type(layer) for layer in layers]
    if (kinds == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Unflatten, nn.ConvTranspose2d, nn.ReLU, nn.ConvTranspose2d]
            and _strided2(layers[5]) and _strided2(layers[7]) and layers[7].out_channels == 1):
        return SubPixelDecoder(model.decoder).eval()
    return LayerDecoder(model.decoder).eval()


@lru_cache(maxsize=None)
def version(arch: str) -> int:
    """The version of an architecture's bounds: that of the form bound_decoder runs for it. Bump a form's VERSION
    in the commit that changes its numbers: only the cached bounds of that form are computed again
    (evaluation.metrics' "iwae", evaluation.nll's estimates)."""
    return bound_decoder(build_model(arch, 2)).VERSION


@torch.inference_mode()
def iwae_bound(model: VAE, x: torch.Tensor, k: int = 1000, samples_per_chunk: int = SAMPLES_PER_CHUNK,
               seed: int = 0, progress: bool = False, each_chunk=lambda: None) -> torch.Tensor:
    """Per-image importance-weighted lower bound on log p(x), in nats.

    With k = 1 it is the ELBO (in expectation); it rises towards log p(x) as k grows. Images are
    processed a few at a time so that their k decoded samples stay cache-sized (~2,000 decodes), on
    bound_decoder's copy of the decoder. Run it in a process started with glibc's malloc thresholds fixed
    (pipeline.schedule.MALLOC_ENV: the runner starts every step so): the chunk's tensors have the same
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
        logits = decode(z.flatten(0, 1)).view(k, len(xb), -1)
        log_px_z = log_bernoulli(logits, decode.order(xb), decode.diagonal)
        log_pz = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)
        log_qz = -0.5 * (eps.pow(2) + LOG_2PI + logvar).sum(-1)
        torch.logsumexp(log_px_z + log_pz - log_qz, dim=0, out=bounds[start:start + len(xb)])
        bounds[start:start + len(xb)] -= math.log(k)
    return bounds
