"""A small CNN digit classifier, trained once and cached, to judge reconstructions by their class."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import data
from .runs import atomic_torch_save


class DigitCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # 14x14
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 7x7
            nn.Flatten(), nn.Dropout(0.25), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.25),
            nn.Linear(128, 10))

    def forward(self, x):
        return self.net(x)


@torch.inference_mode()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 2500) -> torch.Tensor:
    model.eval()
    device = next(model.parameters()).device
    return torch.cat([model(xb.to(device)).argmax(1).cpu() for xb in x.split(batch_size)])


def fit(x, y, epochs: int = 5, batch_size: int = 128, lr: float = 1e-3, seed: int = 0,
        progress: bool = True) -> DigitCNN:
    """Adam, the learning rate x0.7 after each epoch; 5 epochs on the full training set."""
    torch.manual_seed(seed)
    model = DigitCNN().to(x.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(1, epochs + 1):
        model.train()
        batches = torch.randperm(len(x), generator=gen).split(batch_size)
        for idx in tqdm(batches, desc=f"classifier epoch {epoch}/{epochs}", disable=not progress, leave=False):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        schedule.step()
    return model.eval()


def load_or_train(cache_dir: Path | str, dataset: str = "mnist", train_limit: int | None = None,
                  epochs: int = 5, progress: bool = True, log=print) -> tuple[DigitCNN, float]:
    """The cached classifier of `dataset` (trained on its first train_limit images), and its test accuracy."""
    suffix = "" if train_limit is None else f"_{train_limit}"
    path = Path(cache_dir) / f"classifier_{dataset}{suffix}.pt"
    if path.is_file():
        saved = torch.load(path, map_location="cpu", weights_only=True)
        model = DigitCNN()
        model.load_state_dict(saved["state_dict"])
        return model.eval(), saved["test_accuracy"]
    x_train, y_train = data.load(dataset, train=True, limit=train_limit)
    x_test, y_test = data.load(dataset, train=False)
    model = fit(x_train, y_train, epochs=epochs, progress=progress)
    accuracy = (predict(model, x_test) == y_test).float().mean().item()
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    atomic_torch_save({"state_dict": model.state_dict(), "test_accuracy": accuracy}, path)
    log(f"classifier trained on {len(x_train)} {dataset} images: test accuracy {accuracy:.4f} (cached in {path})")
    return model, accuracy
