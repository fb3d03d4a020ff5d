"""The lean training step of the reference run: Burda et al.'s VAE (core.models.BurdaVAE) under the
one-sample objective, its forward and backward pass written out over buffers made once.

A batch of 20 images makes each step cheap and autograd's bookkeeping dear: a graph of some 60 nodes,
a fresh tensor for every activation and gradient, twelve parameters for the optimizer to walk. Here the
parameters are views of one flat vector (the model still owns them: its state dict, checkpoints and
evaluations see nothing new), each gradient is written by one kernel into a view of a flat gradient, and
the optimizer takes one tensor. The numbers are autograd's to float tolerance (tests/test_lean.py);
`python -m benchmarks.step` times both. On a GPU the step's kernels are replayed from a CUDA graph.
"""

from __future__ import annotations

import torch
from torch import nn

from ..core.models import BurdaVAE


def applies(model: nn.Module) -> bool:
    """The lean step is written for BurdaVAE (under the reference protocol, training.protocols.Reference, the
    one that asks for it); every other model uses autograd's step."""
    return isinstance(model, BurdaVAE)


class _Buffers:
    """The activations and their gradients for one batch size (made on the first batch of that size)."""

    def __init__(self, n: int, d: int, hidden: int, pixels: int, like: torch.Tensor):
        def new(*shape):
            return torch.empty(shape, dtype=like.dtype, device=like.device)
        self.h1, self.h2, self.g1, self.g2 = (new(n, hidden) for _ in range(4))
        self.head, self.dhead = new(n, 2 * d), new(n, 2 * d)      # [mu | log sigma] and its gradient
        self.mu, self.log_sigma = self.head[:, :d], self.head[:, d:]
        self.dmu, self.dlog_sigma = self.dhead[:, :d], self.dhead[:, d:]
        self.eps, self.sigma, self.z = new(n, d), new(n, d), new(n, d)
        self.logits, self.dlogits = new(n, pixels), new(n, pixels)
        self.dh, self.dh2, self.tmp = new(n, hidden), new(n, hidden), new(n, hidden)
        self.flat = {name: getattr(self, name).view(-1) for name in ("eps", "z", "logits")}
        self.x = None                                   # the batch, for a CUDA graph (LeanStep._replay)


class LeanStep:
    """`step(xb, noise_gen)` computes the loss of a batch and writes the gradient of the objective summed over
    the batch (the reference protocol's) into `param.grad`; `param` is the flat vector of all the model's parameters, which is what
    the optimizer steps. Returns (loss, recon, kl), each the batch mean per image, as a tensor of 3.

    The objective is the one of core.losses.one_sample_loss: the pixel BCE plus beta times
    log q(z|x) - log p(z) at z = mu + sigma * eps, whose gradient is taken through z as autograd does.
    """

    def __init__(self, model: BurdaVAE, beta: float = 1.0):
        if not applies(model):
            raise ValueError("the lean step is written for BurdaVAE")
        self.beta = beta
        enc1, enc2, dec1, dec2, dec3 = model.encoder[1], model.encoder[3], *model.decoder[0:5:2]
        self.d, self.hidden, self.pixels = model.latent_dim, enc1.out_features, enc1.in_features
        # The flat order puts the two heads' weights (then biases) side by side: one product gives both.
        order = [enc1.weight, enc1.bias, enc2.weight, enc2.bias, model.mean.weight, model.log_sigma.weight,
                 model.mean.bias, model.log_sigma.bias, dec1.weight, dec1.bias, dec2.weight, dec2.bias,
                 dec3.weight, dec3.bias]
        self.param = nn.Parameter(torch.cat([p.detach().flatten() for p in order]))
        self._shapes = [p.shape for p in order]
        with torch.no_grad():
            for p, view in zip(order, self._split(self.param.data)):
                p.data = view                           # the model's parameters now live in `param`
        self.weights = self._layers(self.param.data)
        self.weights_t = [w.t() for w, _ in self.weights]     # views: they follow every update in place
        self._grads = [torch.zeros_like(self.param.data) for _ in range(2)]
        self._grad_layers = [self._layers(g) for g in self._grads]
        self._buffers: dict[int, _Buffers] = {}
        self._count = 0
        self._graphs: dict[tuple[int, int], tuple] = {}

    def _split(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """Views of `flat`, one per parameter in the flat order, shaped as the parameter."""
        pieces = flat.split([shape.numel() for shape in self._shapes])
        return [piece.view(shape) for piece, shape in zip(pieces, self._shapes)]

    def _layers(self, flat: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(weight, bias) views of the six products: encoder 1, 2, the two heads as one, decoder 1, 2, 3."""
        v = self._split(flat)
        d, hidden = self.d, self.hidden
        start = sum(s.numel() for s in self._shapes[:4])
        heads_w = flat[start:start + 2 * d * hidden].view(2 * d, hidden)
        heads_b = flat[start + 2 * d * hidden:start + 2 * d * hidden + 2 * d]
        return [(v[0], v[1]), (v[2], v[3]), (heads_w, heads_b), (v[8], v[9]), (v[10], v[11]), (v[12], v[13])]

    def parameters(self) -> list[nn.Parameter]:
        return [self.param]

    graphs = True       # on CUDA, each step's kernels are replayed from a captured graph (class-wide switch)

    @torch.no_grad()
    def __call__(self, xb: torch.Tensor, noise_gen: torch.Generator | None = None) -> torch.Tensor:
        x = xb.reshape(len(xb), -1)
        n, d = len(x), self.d
        b = self._buffers.get(n) or self._buffers.setdefault(
            n, _Buffers(n, d, self.hidden, self.pixels, self.param))
        which = self._count % 2         # the other gradient may be the optimizer's pending one
        self._count += 1
        if b.eps.device == getattr(noise_gen, "device", b.eps.device):
            torch.randn((n, d), generator=noise_gen, out=b.eps)
        else:                                           # the CPU's draws, on the step's device (no stream sync)
            b.eps.copy_(torch.randn((n, d), generator=noise_gen), non_blocking=True)
        losses = self._replay(x, b, which) if x.is_cuda and self.graphs else self._compute(x, b, which)
        self.param.grad = self._grads[which]
        return losses

    def _replay(self, x: torch.Tensor, b: _Buffers, which: int) -> torch.Tensor:
        """_compute as one CUDA graph: a batch of 20 launches some 45 small kernels, each costing the host more
        than the GPU; a graph launches them at once. Captured on the first batch of each size and gradient
        buffer, after one run on a side stream (torch.cuda.graphs' warm-up); the same kernels on the same
        buffers, so the same numbers as without it. The graph holds beta as it was at capture; it runs on the batch's device, whichever is current."""
        key = (len(x), which)
        with torch.cuda.device(x.device):
            if key not in self._graphs:
                if b.x is None:                         # the graphs' input: one buffer for both of this size
                    b.x = torch.empty_like(x)
                b.x.copy_(x)
                side = torch.cuda.Stream()
                side.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(side):
                    self._compute(b.x, b, which)
                torch.cuda.current_stream().wait_stream(side)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    losses = self._compute(b.x, b, which)
                self._graphs[key] = (graph, losses)
            graph, losses = self._graphs[key]
            b.x.copy_(x)
            graph.replay()
            return losses.clone()

    def _compute(self, x: torch.Tensor, b: _Buffers, which: int) -> torch.Tensor:
        """The step's arithmetic on the drawn b.eps: the losses, and the gradient into gradient buffer `which`."""
        n = len(x)
        (_, b1), (w2, b2), (wh, bh), (v1, c1), (v2, c2), (v3, c3) = self.weights
        w1t, w2t, wht, v1t, v2t, v3t = self.weights_t
        (gw1, gb1), (gw2, gb2), (gwh, gbh), (gv1, gc1), (gv2, gc2), (gv3, gc3) = self._grad_layers[which]
        beta = self.beta                # the objective is summed over the batch: no 1 / n in the gradient
        # forward: encoder, z = mu + sigma * eps, decoder
        torch.addmm(b1, x, w1t, out=b.h1).tanh_()
        torch.addmm(b2, b.h1, w2t, out=b.h2).tanh_()
        torch.addmm(bh, b.h2, wht, out=b.head)
        torch.exp(b.log_sigma, out=b.sigma)
        torch.addcmul(b.mu, b.sigma, b.eps, out=b.z)
        torch.addmm(c1, b.z, v1t, out=b.g1).tanh_()
        torch.addmm(c2, b.g1, v2t, out=b.g2).tanh_()
        torch.addmm(c3, b.g2, v3t, out=b.logits)
        # the losses, summed over the batch: BCE = softplus(l) - x l, softplus(l) = relu(l) - log sigmoid(|l|)
        # (vectorized kernels; torch's softplus and log-sigmoid are elementwise loops here);
        # log q(z|x) - log p(z) = 0.5 z^2 - 0.5 eps^2 - log sigma (the log 2 pi terms cancel)
        dl, logits, z, eps = b.dlogits, b.flat["logits"], b.flat["z"], b.flat["eps"]
        abs_sum = torch.abs(b.logits, out=dl).sum()                      # sum relu(l) = (sum l + sum |l|) / 2
        softplus = 0.5 * (logits.sum() + abs_sum) - dl.sigmoid_().log_().sum()
        recon = softplus - torch.dot(x.view(-1), logits)
        kl = 0.5 * (torch.dot(z, z) - torch.dot(eps, eps)) - b.log_sigma.sum()
        # backward, each gradient written into its view of the flat gradient
        torch.sigmoid(b.logits, out=dl).sub_(x)
        self._linear_backward(dl, b.g2, v3, gv3, gc3, b.dh)
        self._tanh_backward(b.dh, b.g2, b.tmp)
        self._linear_backward(b.dh, b.g1, v2, gv2, gc2, b.dh2)
        self._tanh_backward(b.dh2, b.g1, b.tmp)
        torch.mm(b.dh2.t(), b.z, out=gv1)
        torch.sum(b.dh2, 0, out=gc1)
        b.dmu.copy_(torch.addmm(b.z, b.dh2, v1, beta=beta))       # dz: decoder + beta * z (from -log p)
        torch.sub(b.z, b.mu, out=b.dlog_sigma).mul_(b.dmu).sub_(beta)  # dz sigma eps - beta (log q)
        self._linear_backward(b.dhead, b.h2, wh, gwh, gbh, b.dh)
        self._tanh_backward(b.dh, b.h2, b.tmp)
        self._linear_backward(b.dh, b.h1, w2, gw2, gb2, b.dh2)
        self._tanh_backward(b.dh2, b.h1, b.tmp)
        torch.mm(b.dh2.t(), x, out=gw1)
        torch.sum(b.dh2, 0, out=gb1)
        return torch.stack((recon + beta * kl, recon, kl)) / n

    @staticmethod
    def _linear_backward(dout, inp, weight, gweight, gbias, dinp):
        """y = inp W^T + b: dW = dout^T inp, db = sum of dout, d inp = dout W."""
        torch.mm(dout.t(), inp, out=gweight)
        torch.sum(dout, 0, out=gbias)
        torch.mm(dout, weight, out=dinp)

    @staticmethod
    def _tanh_backward(dout, out, tmp):
        """In place: dout * (1 - out^2), out = tanh(.)."""
        torch.mul(dout, out, out=tmp)
        dout.addcmul_(tmp, out, value=-1)
