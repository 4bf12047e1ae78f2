"""Shared test models: tiny MLP/CNN factories and a small CNN trained on sklearn's digits.

``trained_digits_cnn()`` trains in a couple of seconds on one CPU thread, deterministically
(fixed seed, full-batch Adam), and is cached in memory and on disk (keyed by the source of the
training recipe) so every test and worker reuses one copy. ``digits_split()`` is its held-out
test split as a DemographicSplit with two synthetic attributes. ``vision_digits()`` is the
bundled example's own model module (examples/vision_digits/digits_model.py).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import nn

from pytest_fairquant import DemographicSplit


def tiny_mlp(n_in: int = 4, n_out: int = 3, hidden: int = 16, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, n_out)).eval()


class TinyCNN(nn.Module):
    """Two convolutions and a linear head on (B, 1, 8, 8) images."""

    def __init__(self, n_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, width * 2, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Linear(width * 2 * 16, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


def tiny_cnn(n_classes: int = 10, seed: int = 0) -> TinyCNN:
    torch.manual_seed(seed)
    return TinyCNN(n_classes).eval()


def random_split(
    inputs: Any, n_classes: int = 3, seed: int = 0, name: str = "random"
) -> DemographicSplit:
    """Random labels and two attributes for ``inputs`` (any tensor/array with n rows)."""
    rng = np.random.default_rng(seed)
    n = len(inputs)
    return DemographicSplit(
        rng.integers(0, n_classes, n),
        {"gender": rng.choice(["f", "m"], n), "age": rng.choice(["young", "old"], n)},
        inputs=inputs,
        class_names=[str(c) for c in range(n_classes)],
        name=name,
    )


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[:, None]
    return x, data.target.astype(np.int64)


def _train(seed: int = 0, epochs: int = 60) -> TinyCNN:
    x, y = _digits()
    train = np.arange(len(x)) % 4 != 0
    xt, yt = torch.from_numpy(x[train]), torch.from_numpy(y[train])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = TinyCNN()
            opt = torch.optim.Adam(model.parameters(), lr=3e-3)
            for _ in range(epochs):
                for start in range(0, len(xt), 256):
                    opt.zero_grad()
                    loss = nn.functional.cross_entropy(
                        model(xt[start : start + 256]), yt[start : start + 256]
                    )
                    loss.backward()
                    opt.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()


@functools.lru_cache(maxsize=1)
def trained_digits_cnn() -> TinyCNN:
    """The digits CNN (≈97% test accuracy), trained once per machine and recipe."""
    recipe = hashlib.sha256(inspect.getsource(_train).encode()).hexdigest()[:12]
    directory = Path(os.environ.get("FAIRQUANT_TEST_CACHE", tempfile.gettempdir()))
    path = directory / f"fairquant-digits-cnn-{recipe}.pt"
    model = TinyCNN()
    if path.exists():
        try:
            model.load_state_dict(torch.load(path, weights_only=True))
            return model.eval()
        except (RuntimeError, OSError, EOFError):
            pass  # a half-written or stale file: train again
    model = _train()
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".pt")
    os.close(fd)
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, path)
    return model


def digits_split() -> DemographicSplit:
    """The held-out quarter of the digits, with 'ink' (stroke mass) and 'parity' attributes."""
    x, y = _digits()
    test = np.arange(len(x)) % 4 == 0
    xs, ys = x[test], y[test]
    ink = np.where(
        xs.reshape(len(xs), -1).mean(axis=1) > np.median(xs.mean(axis=(1, 2, 3))), "heavy", "light"
    )
    parity = np.where(np.arange(len(xs)) % 2 == 0, "even", "odd")
    return DemographicSplit(
        ys,
        {"ink": ink, "parity": parity},
        inputs=torch.from_numpy(xs),
        class_names=[str(c) for c in range(10)],
        name="digits",
    )


VISION_DIGITS = Path(__file__).parents[1] / "examples" / "vision_digits"


def vision_digits() -> ModuleType:
    """The digits example's ``digits_model`` (``load_model``, ``load_split``,
    ``training_split``, ``finetune``), imported without leaving the example on sys.path."""
    sys.path.insert(0, str(VISION_DIGITS))
    try:
        import digits_model
    finally:
        sys.path.remove(str(VISION_DIGITS))
    return digits_model
