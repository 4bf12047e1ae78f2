"""evaluate_variants(): one variant at a time, failures recorded with reasons, bounded memory."""

from __future__ import annotations

import sys
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from pytest_fairquant.compression import MSG_NEEDS_CUDA
from pytest_fairquant.evaluate import (
    VariantFailure,
    evaluate_variants,
    peak_memory_bytes,
    reset_peak_memory,
)
from pytest_fairquant.predictions import Predictions

sys.path.insert(0, str(Path(__file__).parent))
from models import random_split, tiny_mlp


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _split(n: int = 120, width: int = 4, scale: float = 1.0) -> Any:
    rng = np.random.default_rng(0)
    return random_split(torch.from_numpy(rng.normal(size=(n, width)).astype(np.float32) * scale))


def test_every_method_gets_predictions_or_a_reason() -> None:
    results = evaluate_variants(
        tiny_mlp(),
        ["uniform-int8", "bnb-int8", "torch-dynamic-int8"],
        _split(),
        params={"bnb-int8": {"device": "cuda"}} if not torch.cuda.is_available() else None,
    )
    assert list(results) == ["dense", "uniform-int8", "bnb-int8", "torch-dynamic-int8"]
    assert isinstance(results["uniform-int8"], Predictions)
    assert results["torch-dynamic-int8"].method == "torch-dynamic-int8"  # type: ignore[union-attr]
    if not torch.cuda.is_available():
        failure = results["bnb-int8"]
        assert failure == VariantFailure(
            "bnb-int8", "unavailable", MSG_NEEDS_CUDA.format(device="cuda")
        )


def test_model_with_nothing_to_compress_is_a_failed_variant() -> None:
    class Scale(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.ones(3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[:, :3] * self.w

    results = evaluate_variants(Scale(), ["uniform-int8"], _split())
    failure = results["uniform-int8"]
    assert isinstance(failure, VariantFailure) and failure.stage == "compress"
    assert "Linear" in failure.reason


def test_overflowing_variant_is_recorded_not_raised() -> None:
    # fp16 overflows (> 65504) where the float32 model does not: a fragile model's NaN/inf.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3))
    with torch.no_grad():
        # Not constant: uniform-int8 keeps a constant tensor as it is (a variant that changed
        # nothing, refused by compress).
        model[0].weight.uniform_(299.0, 301.0)
        model[0].bias.zero_()
    split = _split(scale=100.0)
    results = evaluate_variants(model, ["fp16", "uniform-int8"], split)
    failure = results["fp16"]
    assert isinstance(failure, VariantFailure) and failure.stage == "non_finite"
    assert (
        "NaN/inf scores for" in failure.reason
        and "of 120 samples of split 'random'" in failure.reason
    )
    assert isinstance(results["uniform-int8"], Predictions)


def _rss() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def _peak_above_baseline(model: nn.Module, methods: list[str], split: Any) -> int:
    before = _rss()
    reset_peak_memory()
    results = evaluate_variants(model, methods, split, noise_check=0)
    assert all(isinstance(r, Predictions) for r in results.values())
    return peak_memory_bytes() - before


@pytest.mark.slow  # the default suite's 10-minute budget on 2 cores (README: how to run it)
def test_peak_memory_stays_near_dense_plus_one_variant() -> None:
    # ~17 MiB of weights: 4 variants alive at once would add 3 x 17 MiB over one variant.
    # Compressing itself needs scratch memory (several times the model), so the reference is
    # one variant's peak, not the model size.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 2048), nn.Linear(2048, 2048), nn.Linear(2048, 3)).eval()
    dense = sum(p.numel() * p.element_size() for p in model.parameters())
    split = _split(64, width=64)
    methods = ["uniform-int8", "uniform-int6", "uniform-int4", "uniform-int3"]
    _peak_above_baseline(model, methods[:1], split)  # warm up allocators
    # Allocator reuse makes single readings wander by about one model size: least of three.
    one = min(_peak_above_baseline(model, methods[:1], split) for _ in range(3))
    four = min(_peak_above_baseline(model, methods, split) for _ in range(3))
    print(
        f"dense {dense / 2**20:.1f} MiB; peak above baseline: 1 variant {one / 2**20:.1f} MiB, "
        f"4 variants {four / 2**20:.1f} MiB"
    )
    assert four < one + dense  # all four alive would be one + 3 x dense


def test_each_variant_is_released_before_the_next_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    import pytest_fairquant.compression as compress_module

    alive: list[weakref.ref[nn.Module]] = []
    real = compress_module.compress

    def tracking(model: nn.Module, method: str, **params: Any) -> nn.Module:
        assert all(ref() is None for ref in alive), "a previous variant is still alive"
        variant = real(model, method, **params)
        alive.append(weakref.ref(variant))
        return variant

    monkeypatch.setattr(compress_module, "compress", tracking)
    methods = ["uniform-int8", "kmeans-16", "l1-unstructured-0.5", "torch-dynamic-int8"]
    results = evaluate_variants(tiny_mlp(), methods, _split())
    assert len(alive) == 4 and all(ref() is None for ref in alive)
    assert [r.method for r in results.values()] == ["dense", *methods]  # type: ignore[union-attr]
