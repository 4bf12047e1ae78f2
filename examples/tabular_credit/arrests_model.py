"""The model repo of this example: a small MLP on real demographic data a package ships.

The data is scikit-lego's bundled ``load_arrests``: 5,226 arrests for simple possession of
marijuana in Toronto (1997-2002, from the Toronto Star), with the outcome ``released`` (with a
summons rather than held for a bail hearing) and the arrestee's ``colour`` and ``sex``. The MLP
predicts ``released`` from year, age, employment, citizenship and the number of police database
checks; colour and sex are not inputs, they are the groups the gates compare.

Training is deterministic (full-batch Adam with balanced class weights, one CPU thread) and takes about a second; the
weights are cached under ``.fairquant_cache/`` keyed by a hash of this file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from sklego.datasets import load_arrests

from pytest_fairquant import DemographicSplit

SEED = 0
TEST_SHARE = 0.4
STEPS = 300
YEARS = (1997, 1998, 1999, 2000, 2001, 2002)
CACHE_DIR = Path(__file__).parent / ".fairquant_cache" / "models"


def _frame() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Features, labels (1 = released), sensitive attributes, and the test-set mask."""
    df = load_arrests(as_frame=True)
    year = np.stack([(df["year"] == y).to_numpy() for y in YEARS], axis=1)
    numeric = np.stack(
        [
            (df["age"].to_numpy() - 25.0) / 10.0,
            df["checks"].to_numpy() / 3.0,
            (df["employed"] == "Yes").to_numpy(),
            (df["citizen"] == "Yes").to_numpy(),
        ],
        axis=1,
    )
    x = np.concatenate([year, numeric], axis=1).astype(np.float32)
    y = (df["released"] == "Yes").to_numpy().astype(np.int64)
    groups = {"colour": df["colour"].to_numpy(str), "sex": df["sex"].to_numpy(str)}
    test = np.random.default_rng(SEED).random(len(y)) < TEST_SHARE
    return x, y, groups, test


class ArrestsMLP(torch.nn.Sequential):
    def __init__(self, n_features: int = len(YEARS) + 4) -> None:
        super().__init__(
            torch.nn.Linear(n_features, 32),
            torch.nn.ReLU(),
            torch.nn.Linear(32, 32),
            torch.nn.ReLU(),
            torch.nn.Linear(32, 2),
        )


def _train() -> ArrestsMLP:
    x, y, _, test = _frame()
    inputs, labels = torch.from_numpy(x[~test]), torch.from_numpy(y[~test])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(SEED)
        model = ArrestsMLP()
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        # Balanced classes: unweighted, the MLP learns "always released" (83% of the data).
        share = labels.float().mean()
        weight = torch.stack([share, 1 - share])
        for _ in range(STEPS):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(inputs), labels, weight=weight)
            loss.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()


def load_model() -> ArrestsMLP:
    """The trained MLP, from the cache when this exact training code already ran."""
    key = hashlib.sha256(Path(__file__).read_bytes() + torch.__version__.encode()).hexdigest()
    path = CACHE_DIR / f"arrests-mlp-{key[:16]}.pt"
    model = ArrestsMLP()
    if path.exists():
        model.load_state_dict(torch.load(path, weights_only=True))
        return model.eval()
    model = _train()
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(model.state_dict(), tmp)
    tmp.replace(path)
    return model


def load_split() -> DemographicSplit:
    """The held-out 40% of the arrests, with ``colour`` and ``sex`` as sensitive attributes."""
    x, y, groups, test = _frame()
    return DemographicSplit(
        y[test],
        {name: values[test] for name, values in groups.items()},
        inputs=torch.from_numpy(x[test]),
        class_names=["held", "released"],
        name="arrests-test",
        metadata={"source": "sklego.datasets.load_arrests (Toronto Star, 1997-2002)"},
    )
