"""Where a conv training step's time goes, convolution by convolution, and what each one's kernel costs.

For every convolution of conv, convwide and convch (d = 10, batch 128, one thread, MNIST images): its forward
and its backward (the input, weight and bias gradients a training step asks for) timed with oneDNN, the kernels
torch picks on a CPU by default, and with ATen's own kernels (`torch.backends.mkldnn` off for that call
only); its FLOPs (`torch.utils.flop_counter`) and its rate as a share of the machine's measured float32 peak.
Then the whole step (forward, loss, backward, Adam) four ways: oneDNN everywhere (what the report trains
with), ATen everywhere, each convolution's forward and backward on the backend this machine runs it fastest
on, and the forward under bfloat16 autocast (the loss in float32); with whether each way's losses over the
timed steps equal oneDNN's bit for bit, and its last loss minus oneDNN's. Then the IWAE bound's decoder on one chunk
of 2,000 latent samples, layer by layer the same three ways, and in the form the bound runs (core.iwae). Last,
--seeds models (each its own initial weights, batches and noise) stepped at once as one model (torch.func.vmap
over their stacked parameters, one Adam over the stacks) against the same models stepped one after the other.

    python -m benchmarks.layers [--steps 40] [--archs conv,convwide,convch] [--seeds 4]

A way that is faster but not equal bit for bit changes every number a run makes: it can only replace
today's kernels together with a retrained report (and, for a lower precision, an equivalence test).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from vaelib.core.iwae import LayerDecoder, bound_decoder
from vaelib.core.losses import vae_loss
from vaelib.core.models import build_model
from vaelib.data import datasets as data
from vaelib.training.protocols import PROTOCOLS

from .machine import matmul_rate
from .sweep import train_flops_per_image

BACKENDS = ("oneDNN", "ATen")
# each switch of torch.backends.mkldnn warns that TF32 on oneDNN is for Intel GPUs: noise here
warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")


def _median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def _convs(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, m) for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]


def _inputs(model: nn.Module, x: torch.Tensor, layers: list | None = None) -> dict[str, torch.Tensor]:
    """Each convolution's (or each of `layers`': (name, module) pairs) input in a forward pass of `x`, captured by
    hooks."""
    seen, hooks = {}, []
    for name, conv in _convs(model) if layers is None else layers:
        hooks.append(conv.register_forward_hook(lambda m, inp, out, name=name: seen.__setitem__(name, inp[0].detach())))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return seen


def _args(conv: nn.Module) -> dict:
    return {"stride": conv.stride, "padding": conv.padding, "dilation": conv.dilation,
            "transposed": isinstance(conv, nn.ConvTranspose2d), "output_padding": conv.output_padding,
            "groups": conv.groups}


def _forward(conv, x):
    a = _args(conv)
    return torch.ops.aten.convolution(x, conv.weight, conv.bias, a["stride"], a["padding"], a["dilation"],
                                      a["transposed"], a["output_padding"], a["groups"])


def _backward(conv, grad, x, needs_input: bool):
    a = _args(conv)
    return torch.ops.aten.convolution_backward(grad, x, conv.weight, [conv.bias.shape[0]], a["stride"], a["padding"],
                                               a["dilation"], a["transposed"], a["output_padding"], a["groups"],
                                               [needs_input, True, True])


def layer_table(arch: str, x: torch.Tensor, peak: float, repeats: int) -> list[dict]:
    model = build_model(arch, 10)
    rows = []
    for i, ((name, conv), inp) in enumerate(zip(_convs(model), _inputs(model, x).values())):
        with torch.no_grad():
            out = _forward(conv, inp)
        grad = torch.randn_like(out)
        needs_input = i > 0                         # the first convolution's input is the image
        with FlopCounterMode(display=False) as fwd_count:
            _forward(conv, inp)
        with FlopCounterMode(display=False) as bwd_count:
            _backward(conv, grad, inp, needs_input)
        for backend in BACKENDS:
            with torch.no_grad(), torch.backends.mkldnn.flags(enabled=backend == "oneDNN"):
                fwd = _median_ms(lambda: _forward(conv, inp), repeats)
                bwd = _median_ms(lambda: _backward(conv, grad, inp, needs_input), repeats)
            for part, ms, flops in (("forward", fwd, fwd_count.get_total_flops()),
                                    ("backward", bwd, bwd_count.get_total_flops())):
                rows.append({"arch": arch, "layer": f"{name} {type(conv).__name__} {conv.in_channels}->{conv.out_channels} "
                                                    f"at {inp.shape[-1]}x{inp.shape[-1]}",
                             "part": part, "backend": backend, "ms": ms, "gflops": flops / ms / 1e6,
                             "peak_share": flops / ms / 1e6 / peak})
    return rows


class _OnBackend(torch.autograd.Function):
    """A convolution whose forward runs on one backend and its backward on one (`on`: oneDNN or not for each;
    the global switch is read when each kernel is chosen, so it is set around both)."""

    @staticmethod
    def forward(ctx, x, weight, bias, conv, on):
        ctx.save_for_backward(x)
        ctx.conv, ctx.on = conv, on
        with torch.backends.mkldnn.flags(enabled=on[0]):
            return _forward(conv, x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        with torch.backends.mkldnn.flags(enabled=ctx.on[1]):
            dx, dw, db = _backward(ctx.conv, grad.contiguous(), x, ctx.needs_input_grad[0])
        return dx, dw, db, None, None


def _on_backends(model: nn.Module, choice: dict[str, tuple[bool, bool]]) -> nn.Module:
    """`model` with each convolution named in `choice` run, forward and backward, on oneDNN (True) or ATen (False)."""
    for name, conv in _convs(model):
        if name in choice:
            conv.forward = lambda x, conv=conv, on=choice[name]: _OnBackend.apply(x, conv.weight, conv.bias, conv, on)
    return model


def step_table(arch: str, x: torch.Tensor, fastest: dict[str, bool], peak: float, steps: int) -> list[dict]:
    """The whole training step three ways; each way's losses over `steps` steps compared with oneDNN's."""
    flops = train_flops_per_image(arch, 10) * 128
    ways = {"oneDNN everywhere (today)": None, "ATen everywhere": False, "fastest per call": fastest,
            "bfloat16 autocast (oneDNN)": "bf16"}
    rows, reference = [], None
    for way, choice in ways.items():
        torch.manual_seed(0)
        model = build_model(arch, 10)
        if isinstance(choice, dict) or choice is False:
            _on_backends(model, choice or {n: (False, False) for n, _ in _convs(model)})
        low = torch.autocast("cpu", dtype=torch.bfloat16, enabled=choice == "bf16")
        optimizer = PROTOCOLS["plain"].optimizer(model.parameters(), 1e-3)
        noise = torch.Generator().manual_seed(1)
        losses, times = [], []
        for i in range(steps):
            xb = x[(i * 128) % len(x):][:128]
            start = time.perf_counter()
            with low:
                logits, mu, logvar = model(xb, generator=noise)
            loss = vae_loss(logits.float(), xb, mu.float(), logvar.float(), 1.0)[0]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            times.append(time.perf_counter() - start)
            losses.append(loss.item())
        reference = reference or losses
        ms = statistics.median(times[3:]) * 1e3
        rows.append({"arch": arch, "way": way, "ms_per_step": ms, "s_per_epoch": ms * 469 / 1e3,
                     "peak_share": flops / ms / 1e6 / peak, "equal": losses == reference,
                     "last_loss_diff": losses[-1] - reference[-1]})
    return rows


class _Loss(nn.Module):
    """One model's step loss with its noise given (as the training step draws it): what torch.func maps over."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.vae = model

    def forward(self, xb, eps):
        mu, logvar = self.vae.encode(xb)
        logits = self.vae.decode(mu + eps * torch.exp(0.5 * logvar))
        return vae_loss(logits, xb, mu, logvar, 1.0)[0]


def seeds_table(arch: str, x: torch.Tensor, seeds: int, peak: float, steps: int) -> list[dict]:
    """`seeds` models trained at once as one (torch.func: their parameters stacked, the step vmapped over them, one
    Adam over the stacks; each its own batch and noise) against the same models stepped one after the other;
    with whether each model's losses equal its own training's bit for bit."""
    from torch.func import functional_call, grad_and_value, stack_module_state, vmap
    flops = train_flops_per_image(arch, 10) * 128 * seeds
    batches = [x[(torch.arange(128) + 97 * s) % len(x)] for s in range(seeds)]
    rows, reference = [], None
    for way in ("one after the other (today)", f"{seeds} seeds as one model (torch.func.vmap)"):
        models = []
        for s in range(seeds):
            torch.manual_seed(s)
            models.append(_Loss(build_model(arch, 10)))
        noise = [torch.Generator().manual_seed(1000 + s) for s in range(seeds)]
        losses, times = [], []
        if way.startswith("one"):
            optimizers = [PROTOCOLS["plain"].optimizer(m.parameters(), 1e-3) for m in models]
            for _ in range(steps):
                eps = [torch.randn(128, 10, generator=g) for g in noise]
                start = time.perf_counter()
                step = []
                for m, o, xb, e in zip(models, optimizers, batches, eps):
                    loss = m(xb, e)
                    o.zero_grad(set_to_none=True)
                    loss.backward()
                    o.step()
                    step.append(loss.item())
                times.append(time.perf_counter() - start)
                losses.append(step)
        else:
            params, _ = stack_module_state(models)
            params = {k: v.detach().requires_grad_() for k, v in params.items()}
            optimizer = PROTOCOLS["plain"].optimizer(list(params.values()), 1e-3)
            base = models[0]
            step_fn = vmap(grad_and_value(lambda p, xb, e: functional_call(base, p, (xb, e))))
            xs = torch.stack(batches)
            for _ in range(steps):
                eps = torch.stack([torch.randn(128, 10, generator=g) for g in noise])
                start = time.perf_counter()
                grads, loss = step_fn({k: v.detach() for k, v in params.items()}, xs, eps)
                for k, v in params.items():
                    v.grad = grads[k]
                optimizer.step()
                times.append(time.perf_counter() - start)
                losses.append(loss.tolist())
        reference = reference or losses
        ms = statistics.median(times[3:]) * 1e3
        rows.append({"arch": arch, "way": way, "ms_per_step_of_all": ms, "ms_per_model_step": ms / seeds,
                     "peak_share": flops / ms / 1e6 / peak, "equal": losses == reference,
                     "last_loss_diff": max(abs(a - b) for a, b in zip(losses[-1], reference[-1]))})
    return rows


@torch.inference_mode()
def iwae_table(arch: str, fastest: dict[str, bool], peak: float, repeats: int) -> list[dict]:
    """The bound's decoder on 2,000 latent samples: torch's layers one by one (core.iwae.LayerDecoder, the bound's
    former form: channels_last) three ways, and the form the bound runs (core.iwae.bound_decoder)."""
    torch.manual_seed(0)
    model = build_model(arch, 10).eval()
    z = torch.randn(2000, 10)
    decoder = LayerDecoder(model.decoder).layers
    with FlopCounterMode(display=False) as counter:
        reference = decoder(z)
    rows = []
    names = [n for n, _ in _convs(decoder)]
    for way, choice in {"oneDNN everywhere (former)": {n: True for n in names},
                        "ATen everywhere": {n: False for n in names},
                        "fastest per call": {n: fastest.get(f"decoder.{n}", (True, True))[0] for n in names},
                        "the bound's form (core.iwae)": None}.items():
        if choice is None:
            form = bound_decoder(model)
            decode = lambda form=form: form(z)                             # noqa: E731
            equal = torch.equal(decode(), form.order(reference))
        else:
            def decode(choice=choice):
                h = z
                for name, layer in decoder.named_children():
                    with torch.backends.mkldnn.flags(enabled=choice.get(name, True)):
                        h = layer(h)
                return h
            equal = torch.equal(decode(), reference)
        ms = _median_ms(decode, repeats)
        rows.append({"arch": arch, "way": way, "ms_per_2000": ms, "s_per_test_set_k1000": ms * 5000 / 1e3,
                     "peak_share": counter.get_total_flops() / ms / 1e6 / peak, "equal": equal})
    return rows


def main(argv=None) -> None:
    import pandas as pd
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", default="conv,convwide,convch")
    parser.add_argument("--steps", type=int, default=40, help="timed training steps per way")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per convolution and backend")
    parser.add_argument("--seeds", type=int, default=4, help="models stepped at once as one (1: not timed)")
    args = parser.parse_args(argv)
    archs = args.archs.split(",")
    unknown = sorted(set(archs) - {"conv", "convwide", "convch"})
    if unknown:
        raise SystemExit(f"--archs: {unknown} not allowed; expected some of conv, convwide, convch")
    torch.set_num_threads(1)
    data.verify("mnist")
    peak = matmul_rate()
    x = data.load("mnist", train=True, limit=128 * max(4, args.steps))[0]
    print(f"torch {torch.__version__}, 1 thread, batch 128, d = 10; measured float32 peak {peak:.0f} GFLOP/s per core")
    pd.set_option("display.width", 200)
    for arch in archs:
        layers = pd.DataFrame(layer_table(arch, x[:128], peak, args.repeats))
        print(f"\n{arch}: each convolution, ms per call (median of {args.repeats})")
        print(layers.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
        ms = layers.set_index(["layer", "part", "backend"])["ms"]
        fastest = {layer.split()[0]: tuple(bool(ms[layer, part, "oneDNN"] <= ms[layer, part, "ATen"])
                                           for part in ("forward", "backward"))
                   for layer in dict.fromkeys(layers["layer"])}
        print(f"\n{arch}: the whole step (median of {args.steps - 3}; epoch = 469 steps)")
        print(pd.DataFrame(step_table(arch, x, fastest, peak, args.steps)).to_string(
            index=False, float_format=lambda v: f"{v:.3g}"))
        print(f"\n{arch}: the IWAE bound's decoder, one chunk of 2,000 samples (K = 1,000: 5,000 chunks per test set)")
        print(pd.DataFrame(iwae_table(arch, fastest, peak, max(3, args.repeats // 4))).to_string(
            index=False, float_format=lambda v: f"{v:.3g}"))
        if args.seeds > 1:
            print(f"\n{arch}: {args.seeds} models' steps (median of {args.steps - 3})")
            print(pd.DataFrame(seeds_table(arch, x, args.seeds, peak, args.steps)).to_string(
                index=False, float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
