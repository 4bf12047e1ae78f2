"""Recovery fine-tuning and gradual magnitude pruning (issue 13): ``compress(..., finetune=)``
keeps pruning masks through the user's training loop, and ``gmp-S`` prunes on the cubic
schedule over its steps, ending at S and recovering more accuracy than one-shot pruning."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from models import vision_digits
from torch import nn

from pytest_fairquant import DemographicSplit
from pytest_fairquant.compression import (
    MSG_NEEDS_FINETUNE,
    FineTune,
    compress,
    compression_info,
)
from pytest_fairquant.compression.finetune import cubic_sparsity
from pytest_fairquant.errors import CompressionError, InputError

torch.set_num_threads(1)


def split_of(n: int = 1200, seed: int = 0) -> DemographicSplit:
    """Ten classes of 20-D points around fixed centres: an MLP learns it; 90% pruning hurts."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(size=(10, 20)).astype(np.float32)
    y = rng.integers(0, 10, size=n)
    x = centres[y] + rng.normal(scale=0.9, size=(n, 20)).astype(np.float32)
    group = np.where(rng.random(n) < 0.5, "a", "b")
    return DemographicSplit(y, {"group": group}, inputs=torch.from_numpy(x), name="blobs")


def train(model: nn.Module, split: DemographicSplit, steps: int) -> dict[str, float]:
    """The user's loop: Adam on batches of 64, the mean loss of the first and last 10 steps."""
    torch.manual_seed(0)
    x = split.input_batch(np.arange(len(split)))
    y = torch.tensor(np.asarray(split.labels))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    model.train()
    for step in range(steps):
        rows = torch.arange(step * 64, step * 64 + 64) % len(split)
        loss = nn.functional.cross_entropy(model(x[rows]), y[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return {"loss_before": float(np.mean(losses[:10])), "loss_after": float(np.mean(losses[-10:]))}


def accuracy(model: nn.Module, split: DemographicSplit) -> float:
    with torch.no_grad():
        pred = model.eval()(split.input_batch(np.arange(len(split)))).argmax(1).numpy()
    return float((pred == np.asarray(split.labels)).mean())


@pytest.fixture(scope="module")
def trained() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 10))
    train(model, split_of(seed=1), 400)
    return model.eval()


def test_a_pruned_variant_keeps_its_masks_through_fine_tuning(trained: nn.Module) -> None:
    one_shot = compress(trained, "global-magnitude-0.5")
    tuned = compress(trained, "global-magnitude-0.5", finetune=FineTune(train, split_of(), 50))
    before = [m.weight != 0 for m in one_shot if isinstance(m, nn.Linear)]
    after = [m.weight != 0 for m in tuned if isinstance(m, nn.Linear)]
    assert all(torch.equal(b, a) for b, a in zip(before, after, strict=True))
    assert not torch.equal(one_shot[0].weight, tuned[0].weight)  # it did train
    details = compression_info(tuned).details["finetune"]
    assert (details["steps"], details["optimizer_steps"]) == (50, 50)
    assert details["loss_after"] < details["loss_before"]
    assert details["data"] == split_of().fingerprint


def test_gmp_reaches_its_sparsity_and_recovers_above_one_shot(trained: nn.Module) -> None:
    data, held_out = split_of(seed=2), split_of(seed=3)
    one_shot = compress(trained, "global-magnitude-0.9")
    gradual = compress(trained, "gmp-0.9", finetune=FineTune(train, data, 300))
    info = compression_info(gradual)
    assert info.sparsity == pytest.approx(0.9, abs=1e-3)
    assert accuracy(gradual, held_out) > accuracy(one_shot, held_out)
    assert info.details["finetune"]["optimizer_steps"] == 300


@pytest.mark.slow  # about 10 s on 2 shared cores: 600 fine-tuning steps
def test_gmp_on_the_digits_example_recovers_what_one_shot_pruning_loses() -> None:
    """Issue 13's check with the example's own loop (benchmarks/digits_compression.py prints
    the figures): 300 steps on the training digits, accuracy on the 697 held-out ones."""
    example = vision_digits()
    model, held_out = example.load_model(), example.load_split()
    tune = FineTune(example.finetune, example.training_split(), 300)
    dense = accuracy(model, held_out)  # 0.933
    one_shot = compress(model, "global-magnitude-0.9")  # 0.370
    masked = compress(model, "global-magnitude-0.9", finetune=tune)  # 0.907
    gradual = compress(model, "gmp-0.9", finetune=tune)  # 0.925
    for variant in (masked, gradual):
        info = compression_info(variant)
        assert info.sparsity == pytest.approx(0.9, abs=1e-3)
        assert info.details["finetune"]["optimizer_steps"] == 300
    assert accuracy(one_shot, held_out) < dense - 0.4
    assert accuracy(one_shot, held_out) + 0.4 < accuracy(masked, held_out) < dense
    assert accuracy(gradual, held_out) > dense - 0.02


def test_gmp_without_a_training_loop_says_it_needs_one(trained: nn.Module) -> None:
    with pytest.raises(CompressionError) as err:
        compress(trained, "gmp-0.9")
    assert str(err.value) == MSG_NEEDS_FINETUNE.format(method_id="gmp-0.9")


def test_the_schedule_is_cubic_from_zero_to_the_target() -> None:
    assert cubic_sparsity(0.9, 0, 100) == 0.0
    assert cubic_sparsity(0.9, 50, 100) == pytest.approx(0.9 * (1 - 0.5**3))
    assert cubic_sparsity(0.9, 100, 100) == cubic_sparsity(0.9, 130, 100) == pytest.approx(0.9)


def test_another_models_optimizer_leaves_the_masks_alone(trained: nn.Module) -> None:
    other = nn.Linear(2, 2)

    def loop(model: nn.Module, data: Any, steps: int) -> None:
        optimizer = torch.optim.SGD(other.parameters(), lr=0.1)
        for _ in range(steps):
            optimizer.zero_grad()
            other(torch.ones(1, 2)).sum().backward()
            optimizer.step()

    tuned = compress(trained, "global-magnitude-0.5", finetune=FineTune(loop, None, 5))
    assert compression_info(tuned).details["finetune"]["optimizer_steps"] == 0


def test_a_quantized_variant_is_fine_tuned_without_masks(trained: nn.Module) -> None:
    tuned = compress(trained, "uniform-int8", finetune=FineTune(train, split_of(), 20))
    assert compression_info(tuned).details["finetune"]["optimizer_steps"] == 20
    assert compression_info(tuned).sparsity < 0.01


@pytest.mark.parametrize(("fn", "steps"), [(3, 10), (train, 0)], ids=["not-callable", "no-steps"])
def test_a_bad_fine_tune_is_refused(fn: Any, steps: int) -> None:
    with pytest.raises(InputError):
        FineTune(fn, None, steps)
