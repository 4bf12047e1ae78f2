"""top_k_overlap: the retrieval gates' utility, the dense top k kept by the compressed model."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_fairquant.errors import InputError
from pytest_fairquant.metrics.ranking import top_k_overlap


def test_overlap_counts_the_dense_top_k_kept() -> None:
    dense = np.array([[3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0]])
    same_then_reversed = np.array([[3.0, 2.0, 1.0, 0.0], [3.0, 2.0, 1.0, 0.0]])
    assert top_k_overlap(dense, same_then_reversed, k=2).tolist() == [1.0, 0.0]
    assert top_k_overlap(dense, same_then_reversed, k=4).tolist() == [1.0, 1.0]


def test_a_flat_ranking_keeps_about_k_over_items() -> None:
    rng = np.random.default_rng(0)
    dense = rng.normal(size=(50, 1000))
    flat = np.zeros_like(dense)  # every item tied: the first k by index
    overlap = top_k_overlap(dense, flat, k=100)
    assert overlap.mean() == pytest.approx(0.1, abs=0.03)


def test_bad_shapes_and_k_are_named() -> None:
    with pytest.raises(InputError, match="same shape"):
        top_k_overlap(np.zeros((2, 3)), np.zeros((3, 2)), k=1)
    with pytest.raises(InputError, match=r"k must be an int in \[1, number of items = 3\]; got 4"):
        top_k_overlap(np.zeros((2, 3)), np.zeros((2, 3)), k=4)
