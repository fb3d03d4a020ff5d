"""Interactive explorers for the notebooks (ipywidgets): move a latent point, watch the digit change.

A slider change decodes one point and sends the digit as a small PNG to an Image widget: no matplotlib
redraw, so the answer comes in milliseconds (`explorer.latencies_ms` keeps what each update took). The
test-set embedding beside it is drawn once per model and coordinate pair; the current point is marked
by drawing on a copy of that picture. Under papermill, nbval or a static export there is no widget
front end: the explorers are built and shown as text, nothing raises, and the notebooks' static figures
remain the record.
"""

from __future__ import annotations

import io
import time

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from PIL import Image, ImageDraw

from ..analysis import plots
from ..core.models import load_model
from ..evaluation.latent import encode_means
from ..training import runs

SCALE = 5             # a 28 x 28 digit is shown at 140 x 140
EMBEDDED = 2000       # test images in the embedding picture


def digit_png(image: torch.Tensor, scale: int = SCALE) -> bytes:
    """A [1, 28, 28] or [28, 28] image in [0, 1] as PNG bytes, enlarged without smoothing."""
    pixels = (image.squeeze().clamp(0, 1).numpy() * 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).resize((pixels.shape[1] * scale, pixels.shape[0] * scale), Image.NEAREST).save(out, "PNG")
    return out.getvalue()


@torch.inference_mode()
def decode_point(model, z: torch.Tensor) -> torch.Tensor:
    """One digit from one latent point, on one thread: for a single image, waking a pool of threads
    costs more than it saves, and on a busy machine it can cost hundreds of milliseconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return torch.sigmoid(model.decode(z.view(1, -1)))[0]
    finally:
        torch.set_num_threads(threads)


class EmbeddingPicture:
    """The scatter of test-set means (vaelib.plots.plot_embedding) as pixels, with a marker drawn on demand."""

    def __init__(self, z2: torch.Tensor, labels: torch.Tensor, title: str, xlabel: str, ylabel: str,
                 reach: float = 3.0):
        fig = plots.plot_embedding(z2, labels, title, xlabel=xlabel, ylabel=ylabel)
        ax = fig.axes[0]
        for lim, get in ((ax.set_xlim, ax.get_xlim), (ax.set_ylim, ax.get_ylim)):
            low, high = get()
            lim(min(low, -reach - 0.2), max(high, reach + 0.2))    # the sliders' whole range is on the picture
        fig.set_size_inches(4.6, 3.6)
        fig.tight_layout()
        fig.canvas.draw()
        self.pixels = Image.fromarray(np.asarray(fig.canvas.buffer_rgba())).convert("RGB")
        self._to_pixels, self._height = ax.transData.transform, self.pixels.height
        plt.close(fig)

    def marked(self, x: float, y: float) -> bytes:
        px, py = self._to_pixels((x, y))
        py = self._height - py                              # matplotlib counts from the bottom
        picture = self.pixels.copy()
        draw = ImageDraw.Draw(picture)
        draw.line([(px - 9, py), (px + 9, py)], fill="black", width=3)
        draw.line([(px, py - 9), (px, py + 9)], fill="black", width=3)
        draw.ellipse([(px - 5, py - 5), (px + 5, py + 5)], outline="red", width=2)
        out = io.BytesIO()
        picture.save(out, "PNG", compress_level=1)   # faster than the default, the same pixels
        return out.getvalue()


class _Shown:
    """An explorer shows as its widget in a notebook."""

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)


class _Models:
    """Finished runs loaded on first use, with their test-set means."""

    def __init__(self, runs_dir, configs, x_test: torch.Tensor):
        self.folders = {c.name: runs.find(runs_dir, c) for c in configs}
        self.x_test, self._cache = x_test, {}

    def get(self, name: str):
        if name not in self._cache:
            model = load_model(self.folders[name]).eval()
            self._cache[name] = (model, encode_means(model, self.x_test))
        return self._cache[name]


class LatentExplorer(_Shown):
    """Two sliders over [-3, 3] move a latent point; the decoded digit and the point in the embedding follow.

    For d > 2, pick the two coordinates to move; the others stay at the posterior mean of a chosen test
    image (whose index is a widget too).
    """

    def __init__(self, runs_dir, configs, x_test: torch.Tensor, y_test: torch.Tensor):
        configs = sorted(configs, key=lambda c: (c.latent_dim != 2, c.latent_dim))   # 2-D first, arch order kept
        self.models = _Models(runs_dir, configs, x_test)
        self.y_test, self.latencies_ms, self._pictures = y_test, [], {}
        self.model = widgets.Dropdown(options=[c.name for c in configs], description="model")
        self.z1 = widgets.FloatSlider(0.0, min=-3, max=3, step=0.1, description="z1", continuous_update=True)
        self.z2 = widgets.FloatSlider(0.0, min=-3, max=3, step=0.1, description="z2", continuous_update=True)
        self.dim1 = widgets.Dropdown(description="z1 moves", layout={"width": "180px"})
        self.dim2 = widgets.Dropdown(description="z2 moves", layout={"width": "180px"})
        self.anchor = widgets.BoundedIntText(0, min=0, max=len(x_test) - 1, description="others from image",
                                             style={"description_width": "initial"}, layout={"width": "230px"})
        self.digit = widgets.Image(format="png", layout={"width": "140px", "height": "140px"})
        self.embedding = widgets.Image(format="png")
        self.status = widgets.Label()
        self._on_model()
        self.model.observe(lambda _: self._on_model(), "value")
        for w in (self.dim1, self.dim2, self.anchor):
            w.observe(lambda _: self._redraw(new_picture=True), "value")
        for w in (self.z1, self.z2):
            w.observe(lambda _: self._redraw(), "value")
        self.widget = widgets.VBox([
            widgets.HBox([self.model, self.z1, self.z2]),
            widgets.HBox([self.dim1, self.dim2, self.anchor]),
            widgets.HBox([self.digit, self.embedding]), self.status])

    def _on_model(self):
        model, _ = self.models.get(self.model.value)
        dims = [(f"z{k + 1}", k) for k in range(model.latent_dim)]
        self._loading = True
        self.dim1.options, self.dim2.options = dims, dims
        self.dim1.value, self.dim2.value = 0, 1
        self._loading = False
        for w in (self.dim1, self.dim2, self.anchor):
            w.disabled = model.latent_dim == 2
        self._redraw(new_picture=True)

    def point(self) -> torch.Tensor:
        """The latent point now shown: the anchor image's mean, with the two moved coordinates set."""
        _, means = self.models.get(self.model.value)
        z = means[self.anchor.value].clone()
        z[self.dim1.value], z[self.dim2.value] = self.z1.value, self.z2.value
        return z

    def _picture(self) -> EmbeddingPicture:
        key = (self.model.value, self.dim1.value, self.dim2.value)
        if key not in self._pictures:
            _, means = self.models.get(self.model.value)
            i, j = self.dim1.value, self.dim2.value
            self._pictures[key] = EmbeddingPicture(means[:EMBEDDED][:, [i, j]], self.y_test[:EMBEDDED],
                                                   self.model.value, f"$z_{{{i + 1}}}$ (mean)",
                                                   f"$z_{{{j + 1}}}$ (mean)")
        return self._pictures[key]

    def _redraw(self, new_picture: bool = False):
        if getattr(self, "_loading", False) or self.dim1.value == self.dim2.value:
            self.status.value = "pick two different coordinates" if self.dim1.value == self.dim2.value else ""
            return
        start = time.perf_counter()
        model, _ = self.models.get(self.model.value)
        z = self.point()
        self.digit.value = digit_png(decode_point(model, z))
        self.embedding.value = self._picture().marked(self.z1.value, self.z2.value)
        if not new_picture:          # slider moves only: the latency a user feels while dragging
            self.latencies_ms.append(1000 * (time.perf_counter() - start))
        self.status.value = f"z = ({', '.join(f'{v:.2f}' for v in z.tolist())})" + (
            f"; last update {self.latencies_ms[-1]:.0f} ms" if self.latencies_ms else "")


class InterpolationExplorer(_Shown):
    """Pick two test images and a model; a slider walks the straight line between their latent means."""

    def __init__(self, runs_dir, configs, x_test: torch.Tensor, start: int = 0, end: int = 1):
        self.models = _Models(runs_dir, configs, x_test)
        self.x_test, self.latencies_ms = x_test, []
        self.model = widgets.Dropdown(options=[c.name for c in configs], description="model")
        index = dict(min=0, max=len(x_test) - 1, layout={"width": "170px"})
        self.start = widgets.BoundedIntText(start, description="from image", **index)
        self.end = widgets.BoundedIntText(end, description="to image", **index)
        self.t = widgets.FloatSlider(0.5, min=0, max=1, step=0.05, description="t", continuous_update=True)
        size = {"width": "140px", "height": "140px"}
        self.left, self.middle, self.right = (widgets.Image(format="png", layout=size) for _ in range(3))
        self.status = widgets.Label()
        for w in (self.model, self.start, self.end):
            w.observe(lambda _: self._redraw(ends_changed=True), "value")
        self.t.observe(lambda _: self._redraw(), "value")
        self._redraw(ends_changed=True)
        self.widget = widgets.VBox([widgets.HBox([self.model, self.start, self.end]), self.t,
                                    widgets.HBox([self.left, self.middle, self.right]), self.status])

    def point(self) -> torch.Tensor:
        _, means = self.models.get(self.model.value)
        return (1 - self.t.value) * means[self.start.value] + self.t.value * means[self.end.value]

    def _redraw(self, ends_changed: bool = False):
        start = time.perf_counter()
        model, _ = self.models.get(self.model.value)
        self.middle.value = digit_png(decode_point(model, self.point()))
        if ends_changed:
            self.left.value = digit_png(self.x_test[self.start.value])
            self.right.value = digit_png(self.x_test[self.end.value])
        else:
            self.latencies_ms.append(1000 * (time.perf_counter() - start))
        self.status.value = f"left: test image {self.start.value}, right: test image {self.end.value}, " \
                            f"middle: decoded at t = {self.t.value:.2f}"
