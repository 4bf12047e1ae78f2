"""The toy model and split factories the ``fairquant`` command tests import by name (a module
written into the test's directory, as a user's repository holds its own)."""

from __future__ import annotations

from pathlib import Path

import pytest

SOURCE = """
import numpy as np
import torch

from pytest_fairquant import DemographicSplit


def make_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))


def make_release():
    # Another tool's artifact: the model with its two smallest first-layer rows pruned.
    model = make_model()
    with torch.no_grad():
        rows = model[0].weight.norm(dim=1).argsort()[:2]
        model[0].weight[rows] = 0.0
    return model


def make_split(n=400):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    group = np.where(rng.random(n) < 0.5, "a", "b")
    return DemographicSplit(y, {"group": group}, inputs=torch.from_numpy(x), name="toy")


def make_odd_split():
    return make_split(401)


def not_a_model():
    return 3


def raises():
    raise OSError("weights.bin not found")
"""


def write_factories(directory: Path, module: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``directory/module.py`` with the factories above, importable, and the working directory.
    Each test file names its own ``module``: the command imports it by name and keeps it."""
    (directory / f"{module}.py").write_text(SOURCE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(directory))
    monkeypatch.chdir(directory)
    return directory
