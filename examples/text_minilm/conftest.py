"""Rankings as :class:`~pytest_fairquant.predictions.Predictions`, so the gates read them.

The plugin evaluates classifiers itself; a text retriever needs its own forward pass (tokenize,
mean-pool, cosine against the queries), so this fixture turns any model (dense or a compressed
variant) into retrieval predictions of shape (sentences, queries).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import minilm_retrieval
import pytest

from pytest_fairquant.compression import compression_info
from pytest_fairquant.predictions import Predictions


@pytest.fixture(scope="session")
def rank(model: Any, demographic_split: Any) -> Callable[[Any], Predictions]:
    """``rank(model)``: the model's similarity matrix over the split, as retrieval Predictions."""

    dense = model
    done: dict[str, Predictions] = {}  # each model ranks once, however many gaps read it

    def run(model: Any) -> Predictions:
        method = "dense" if model is dense else compression_info(model).method_id
        if method not in done:
            done[method] = _ranking(model, method)
        return done[method]

    def _ranking(model: Any, method: str) -> Predictions:
        return Predictions(
            scores=minilm_retrieval.similarities(model, demographic_split),
            pred=None,
            probs=None,
            kind="retrieval",
            task="minilm-sentence-retrieval",
            method=method,
            model_fingerprint=method,
            split_fingerprint=demographic_split.fingerprint,
        )

    return run


@pytest.fixture(scope="session")
def dense_ranking(model: Any, rank: Callable[[Any], Predictions]) -> Predictions:
    return rank(model)
