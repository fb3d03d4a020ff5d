"""The decoders, encoders and test codes the site's explorers run on, written as one classic script (site/models.js).

Opened from `file://`, a browser refuses `fetch()`, module scripts and reading back an image file's pixels,
but runs a `<script src>`: so the weights travel as base64 text in a script that sets `window.VAE_SITE`.
Each decoder is exported layer by layer (`decoder_layers`): a layer this exporter does not know is refused
by name, never skipped. Weights are float16 where the decoded digits stay within one grey level of
torch's float32 decoding at every probe point (`PROBES`), else float32; the manifest says which, and carries
the sha256 of each run's weights.pt, which the site's check compares with results/weights.csv (runs/ is not
in git). Each run's encoder (mean and log-variance) travels beside its decoder, float16 where every test
image's mean and log-variance stay within ENCODER_TOLERANCE of torch's float32 encoder; `add_encoders` adds them
to an existing models.js from runs whose weights.pt has the very hash it records (runs trained again bit for bit).

Which runs: the first seed of every grid architecture at every d (the latent and interpolation explorers),
and every seed of the 2-D models (the seed strip: the same z through each seed's decoder). The test images
are the first TEST_IMAGES of the test set, with each exported model's posterior means of them.
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..config.sweep import Sweep
from ..core.models import load_model
from ..data import datasets as data
from ..evaluation.latent import encode_means
from ..training import runs

TEST_IMAGES = 500         # test images carried by the site: the embedding's points, the explorers' choices
PROBE_SEED = 0
PROBES = 64               # z ~ N(0, 2^2 I) at which float16 weights must decode within one grey level
ENCODER_TOLERANCE = 0.01  # float16 encoder weights: means and log-variances within this of float32 torch's


class UnknownLayer(ValueError):
    pass


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def decoder_layers(decoder: nn.Sequential, part: str = "decoder") -> list[dict]:
    """A decoder or encoder as a list of layers the site's JavaScript knows (weights as numpy float32 arrays)."""
    out = []
    for i, layer in enumerate(decoder):
        square = isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)) and layer.groups == 1 \
            and layer.dilation == (1, 1) and layer.output_padding == (0, 0) and layer.bias is not None \
            and layer.stride[0] == layer.stride[1] and layer.padding[0] == layer.padding[1] \
            and layer.kernel_size[0] == layer.kernel_size[1]
        if isinstance(layer, nn.Linear):
            out.append({"type": "linear", "in": layer.in_features, "out": layer.out_features,
                        "w": layer.weight.detach().numpy(), "b": layer.bias.detach().numpy()})
        elif isinstance(layer, nn.ReLU):
            out.append({"type": "relu"})
        elif isinstance(layer, nn.Unflatten):
            out.append({"type": "unflatten", "shape": list(layer.unflattened_size)})
        elif isinstance(layer, nn.Flatten):
            out.append({"type": "flatten"})
        elif square:
            out.append({"type": "convtranspose" if isinstance(layer, nn.ConvTranspose2d) else "conv",
                        "in": layer.in_channels, "out": layer.out_channels,
                        "kernel": layer.kernel_size[0], "stride": layer.stride[0], "padding": layer.padding[0],
                        "w": layer.weight.detach().numpy(), "b": layer.bias.detach().numpy()})
        else:
            raise UnknownLayer(f"{part} layer {i} ({layer!r}) is not one the site's JavaScript runs "
                               f"(Linear, ReLU, Flatten, Unflatten, Conv2d or ConvTranspose2d with square kernel, "
                               f"stride and padding, no groups, dilation or output padding); add it to "
                               f"vaelib/site/export.py and vaelib/site/explorer.js first")
    return out


def _packed(layers: list[dict], dtype) -> list[dict]:
    return [{k: (_b64(v.astype(dtype)) if isinstance(v, np.ndarray) else v) for k, v in layer.items()}
            for layer in layers]


def encoder_record(model, x_test: torch.Tensor) -> dict:
    """The encoder (mean and log-variance, the first and second half of its output) for the site: float16 where
    the rounded weights give every test image's mean and log-variance within ENCODER_TOLERANCE of float32."""
    if not isinstance(model.encoder, nn.Sequential) or hasattr(model, "mean"):
        raise UnknownLayer(f"{type(model).__name__}'s encoder is not one Sequential giving mean and log-variance")
    layers = decoder_layers(model.encoder, "encoder")
    half = copy.deepcopy(model.encoder)
    for p in half.parameters():
        p.data = p.data.half().float()
    with torch.no_grad():
        gap = (model.encoder(x_test) - half(x_test)).abs().max().item()
    precision = "float16" if gap <= ENCODER_TOLERANCE else "float32"
    return {"precision": precision, "layers": _packed(layers, np.float16 if precision == "float16" else np.float32)}


def grey(p) -> np.ndarray:
    """Pixel probabilities as the canvas shows them: grey levels 0-255 (white digit on black)."""
    return np.clip(np.round(np.asarray(p) * 255), 0, 255).astype(np.int16)


def probes(latent_dim: int) -> torch.Tensor:
    return 2 * torch.randn(PROBES, latent_dim, generator=torch.Generator().manual_seed(PROBE_SEED))


def choose_precision(model) -> str:
    """float16 when the decoder with its weights rounded to float16 draws every probe within one grey level of
    the float32 decoder, else float32."""
    z = probes(model.latent_dim)
    half = copy.deepcopy(model.decoder)
    for p in half.parameters():
        p.data = p.data.half().float()
    with torch.no_grad():
        exact, rounded = (grey(torch.sigmoid(d(z)).flatten(1).numpy()) for d in (model.decoder, half))
    return "float16" if np.abs(exact - rounded).max() <= 1 else "float32"


def exported_runs(sweep: Sweep) -> list:
    """The runs the site carries: each grid arch's first seed at every d, and every seed at the smallest d
    when it is 2 (the seed strip)."""
    first = [sweep.config(a, d, sweep.seeds[0]) for a in sweep.archs for d in sweep.dims]
    strip = [sweep.config(a, 2, s) for a in sweep.archs for s in sweep.seeds[1:]] if sweep.has_2d() else []
    return first + strip


def model_record(folder: Path, x_test: torch.Tensor) -> dict:
    model = load_model(folder)
    layers = decoder_layers(model.decoder)
    precision = choose_precision(model)
    with torch.no_grad():
        mu, logvar = model.encode(x_test)
    kl = (0.5 * (mu ** 2 + logvar.exp() - 1 - logvar)).mean(0)          # nats per coordinate, these images
    dtype = np.float16 if precision == "float16" else np.float32
    return {"arch": model_arch(folder), "latent_dim": model.latent_dim, "precision": precision,
            "weights_sha256": runs.weights_sha256(folder),
            "kl_per_dim": [round(float(v), 4) for v in kl],
            "codes": _b64(encode_means(model, x_test).numpy().astype(np.float16)),
            "layers": _packed(layers, dtype), "encoder": encoder_record(model, x_test)}


def model_arch(folder: Path) -> str:
    return runs.read_config(folder).arch


def site_data(sweep: Sweep, runs_dir: Path) -> dict:
    """Everything models.js carries: the test images (uint8) and labels, and each exported run's record."""
    x_test, y_test = data.load(sweep.dataset, train=False, limit=TEST_IMAGES)
    images = np.clip(np.round(x_test.numpy() * 255), 0, 255).astype(np.uint8)
    models = {}
    for config in exported_runs(sweep):
        folder = Path(runs_dir) / config.name
        if not (folder / "weights.pt").is_file():
            raise FileNotFoundError(f"{folder} holds no trained weights; the site exports the report's runs: "
                                    f"run `make report` (or the same sweep) first")
        models[config.name] = {**model_record(folder, x_test), "seed": config.seed}
    return {"dataset": sweep.dataset, "seeds": list(sweep.seeds), "test_images": TEST_IMAGES,
            "images": _b64(images), "labels": y_test.tolist(), "models": models}


def write_script(site: dict, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("// Written by `python -m vaelib.site` from the report's runs; see vaelib/site/export.py.\n"
                    "window.VAE_SITE = " + json.dumps(site, separators=(",", ":")) + ";\n")
    return path


def read_script(path: Path) -> dict:
    """The data a models.js carries (the inverse of write_script)."""
    text = Path(path).read_text()
    start = text.index("window.VAE_SITE = ") + len("window.VAE_SITE = ")
    return json.loads(text[start:text.rindex(";")])


def manifest(site: dict) -> list[dict]:
    """What the site carries, per run, without the weights: for the page and the freshness check."""
    return [{"run": name, "arch": m["arch"], "latent_dim": m["latent_dim"], "seed": m["seed"],
             "precision": m["precision"], "encoder": (m.get("encoder") or {}).get("precision"),
             "weights_sha256": m["weights_sha256"]} for name, m in site["models"].items()]


def add_encoders(script: Path, runs_dir: Path) -> list[str]:
    """Add to an existing models.js the encoders of its runs found in runs_dir with the very weights it records
    (sha256 of weights.pt); a run with other weights is refused by name. The runs added."""
    site, added = read_script(script), []
    x_test, _ = data.load(site["dataset"], train=False, limit=site["test_images"])
    for name, m in site["models"].items():
        folder = Path(runs_dir) / name
        if m.get("encoder") or not (folder / "weights.pt").is_file():
            continue
        if runs.weights_sha256(folder) != m["weights_sha256"]:
            raise ValueError(f"{folder}/weights.pt is not the run models.js carries (sha256 "
                             f"{runs.weights_sha256(folder)[:12]}, models.js: {m['weights_sha256'][:12]})")
        m["encoder"] = encoder_record(load_model(folder), x_test)
        added.append(name)
    write_script(site, script)
    return added
