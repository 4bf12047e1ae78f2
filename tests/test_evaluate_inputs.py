"""Bad inputs to predict() are clear errors naming the argument (issue 11 #12).

Before: a tuple passed as the split was an AttributeError ('tuple' object has no attribute
'has_inputs'), and a model whose output is a scalar (a reduction over the batch) failed with
numpy's "zero-dimensional arrays cannot be concatenated".
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from pytest_fairquant import DemographicSplit
from pytest_fairquant.errors import EvaluationError, InputError
from pytest_fairquant.evaluate import MSG_NOT_A_SPLIT, MSG_SCORE_ROWS, evaluate_variants, predict

sys.path.insert(0, str(Path(__file__).parent))
from models import tiny_mlp

N = 40


def _split(**kwargs: Any) -> DemographicSplit:
    rng = np.random.default_rng(0)
    kwargs.setdefault("inputs", torch.from_numpy(rng.normal(size=(N, 4)).astype(np.float32)))
    return DemographicSplit(
        rng.integers(0, 3, N), {"g": rng.choice(["a", "b"], N)}, name="toy", **kwargs
    )


@pytest.mark.parametrize("given", ["tuple", "dict", "array"])
def test_a_split_that_is_not_a_demographic_split_is_named(given: str) -> None:
    x, y = torch.zeros(N, 4), np.zeros(N)
    split: Any = {"tuple": (x, y), "dict": {"inputs": x}, "array": x.numpy()}[given]
    kind = type(split).__name__
    for call in (
        lambda: predict(tiny_mlp(), split),
        lambda: evaluate_variants(tiny_mlp(), ["uniform-int8"], split),
    ):
        with pytest.raises(InputError) as err:
            call()
        assert str(err.value) == MSG_NOT_A_SPLIT.format(kind=kind)
    assert "DemographicSplit(labels, attributes, inputs=...)" in MSG_NOT_A_SPLIT


class Scalar(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum()


class PerFeature(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.T  # (4, batch): samples on the wrong axis


@pytest.mark.parametrize(("model", "shape"), [(Scalar(), "()"), (PerFeature(), "(4, 16)")])
def test_scores_that_are_not_one_row_per_sample_are_named(model: nn.Module, shape: str) -> None:
    with pytest.raises(EvaluationError) as err:
        predict(model, _split(), batch_size=16, noise_check=0)
    assert str(err.value) == MSG_SCORE_ROWS.format(name="toy", batch=0, rows=16, shape=shape)
