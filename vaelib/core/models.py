"""The two VAE architectures: an encoder to (mu, logvar), a decoder from z to Bernoulli logits."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import torch
from torch import nn

from ..infra.atomic import atomic_torch_save, torch_load
from ..infra.faults import DamagedFile

ARCHS = ("linear", "conv", "convwide", "convch", "burda")
SWEEP_ARCHS = ARCHS[:2]   # the handout's two; "convwide" and "convch" are extras of the report
                          # (config.sweep.EXTRAS), "burda" the authors' model, the reference run's (vaelib.reference)
WIDE_HIDDEN = 256         # convwide: conv with the linear model's dense width
# convch: conv's 64-unit dense layer, its second conv layer widened until the model has convwide's parameter
# count (822,693 against 829,557 at d = 10; 830,453 against 860,357 at d = 50): more parameters, not a
# wider dense layer, the control of the wide-dense extra. Its wider layers cost about 2x conv's step.
MATCHED_CHANNELS = (16, 120)


class VAE(nn.Module):
    """Shared VAE plumbing; subclasses define `encoder` (-> 2*d features) and `decoder` (-> logits)."""

    def __init__(self, latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    @staticmethod
    def reparameterize(mu, logvar, generator=None):
        # drawn on the generator's device (the CPU's, for every vaelib generator) and moved to mu's: the same
        # noise on any device
        eps = torch.randn(mu.shape, generator=generator, device=generator.device if generator else mu.device,
                          dtype=mu.dtype).to(mu.device)
        return mu + eps * torch.exp(0.5 * logvar)

    def forward(self, x, generator=None):
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar, generator)), mu, logvar

    def init_from_data(self, x_train: torch.Tensor) -> None:
        """Data-dependent initialisation before training (none by default)."""

    @torch.inference_mode()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Pixel probabilities decoded from the posterior mean: the deterministic reconstruction."""
        mu, _ = self.encode(x)
        return torch.sigmoid(self.decode(mu))


class LinearVAE(VAE):
    """Fully connected on flattened images: 784-256-(2d) / d-256-784 (about 400K params at d=2)."""

    def __init__(self, latent_dim: int, hidden: int = 256):
        super().__init__(latent_dim)
        self.encoder = nn.Sequential(
            nn.Flatten(), nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent_dim))
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, 784), nn.Unflatten(1, (1, 28, 28)))


class ConvVAE(VAE):
    """DCGAN-style: 4x4 stride-2 convolutions down (28->14->7), transposed convolutions up.

    Narrow channels (16, 32) keep it cheap on a CPU; a 64-unit dense layer on each side brings it
    to about 220K parameters at d=2, near the handout's 200K.
    """

    def __init__(self, latent_dim: int, channels: tuple[int, int] = (16, 32), hidden: int = 64):
        super().__init__(latent_dim)
        c1, c2 = channels
        flat = c2 * 7 * 7
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c1, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(flat, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent_dim))
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, flat), nn.ReLU(),
            nn.Unflatten(1, (c2, 7, 7)),
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(c1, 1, 4, stride=2, padding=1))


class BurdaVAE(VAE):
    """The one-stochastic-layer VAE of Burda, Grosse & Salakhutdinov (2015), IWAE Table 1, for the
    literature comparison: 784-200-200-(d, d) / d-200-200-784 with tanh (d=50 there), Glorot-uniform
    weights, zero biases, and the output bias at the log-odds of the mean training pixel, so that the
    untrained decoder already predicts the average digit. As in the authors' code (iwae.py), the encoder
    has two heads on its 200 units: the mean, and the standard deviation as exp of a linear layer."""

    def __init__(self, latent_dim: int, hidden: int = 200):
        super().__init__(latent_dim)
        self.encoder = nn.Sequential(
            nn.Flatten(), nn.Linear(784, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())
        self.mean = nn.Linear(hidden, latent_dim)
        self.log_sigma = nn.Linear(hidden, latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
            nn.Linear(hidden, 784), nn.Unflatten(1, (1, 28, 28)))
        for layer in self.modules():
            if isinstance(layer, nn.Linear):
                nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return self.mean(h), 2 * self.log_sigma(h)        # sigma = exp(linear): log-variance = 2 * linear

    @torch.no_grad()
    def init_from_data(self, x_train: torch.Tensor) -> None:
        """The authors' bias: log-odds of the mean grey training pixel, clipped to [0.001, 0.999]."""
        mean = x_train.flatten(1).mean(0).clamp(1e-3, 1 - 1e-3)
        self.decoder[-2].bias.copy_(torch.logit(mean))


# Each architecture's model of a given latent dimension
BUILDERS = {"linear": LinearVAE, "conv": ConvVAE, "convwide": partial(ConvVAE, hidden=WIDE_HIDDEN),
            "convch": partial(ConvVAE, channels=MATCHED_CHANNELS), "burda": BurdaVAE}


def build_model(arch: str, latent_dim: int) -> VAE:
    if arch not in BUILDERS:
        raise ValueError(f"arch={arch!r} is not known; allowed: {', '.join(ARCHS)}")
    return BUILDERS[arch](latent_dim)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def save_weights(model: VAE, arch: str, path: Path | str) -> None:
    """weights.pt: the state dict with the arch and d it belongs to (written atomically)."""
    atomic_torch_save({"arch": arch, "latent_dim": model.latent_dim, "state_dict": model.state_dict()}, path)


def load_model(path: Path | str, arch: str | None = None, latent_dim: int | None = None,
               device: str = "cpu") -> VAE:
    """Load weights.pt (or a run folder's), refusing weights of another architecture or size."""
    path = Path(path)
    if path.is_dir():
        path = path / "weights.pt"
    try:
        saved = torch_load(path, map_location=device)
    except DamagedFile as e:
        raise DamagedFile(f"{e}. Retrain that run: the same command with --force (the old folder is kept "
                          f"aside as NAME.replaced-<time>)") from None
    arch = arch or saved["arch"]
    latent_dim = latent_dim or saved["latent_dim"]
    if (arch, latent_dim) != (saved["arch"], saved["latent_dim"]):
        raise ValueError(f"{path} holds weights of a {saved['arch']} VAE with latent_dim={saved['latent_dim']}, "
                         f"not of the requested {arch} VAE with latent_dim={latent_dim}")
    model = build_model(arch, latent_dim)
    model.load_state_dict(saved["state_dict"])
    return model.to(device).eval()
