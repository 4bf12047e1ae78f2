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

#: (method, split fingerprint) -> its ranking: each model ranks once, however many gaps read it.
#: ``model`` and ``demographic_split`` are test-scoped (a sub-directory may override them), so
#: the memo lives here rather than in a session fixture.
_RANKINGS: dict[tuple[str, str], Predictions] = {}


@pytest.fixture
def rank(model: Any, demographic_split: Any) -> Callable[[Any], Predictions]:
    """``rank(model)``: the model's similarity matrix over the split, as retrieval Predictions."""

    dense = model

    def run(model: Any) -> Predictions:
        method = "dense" if model is dense else compression_info(model).method_id
        key = (method, demographic_split.fingerprint)
        if key not in _RANKINGS:
            _RANKINGS[key] = _ranking(model, method)
        return _RANKINGS[key]

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


@pytest.fixture
def dense_ranking(model: Any, rank: Callable[[Any], Predictions]) -> Predictions:
    return rank(model)


#: (test function, method id) -> why it fails, shown as strict expected failures.
EXPECTED_FAILURES = {
    ("test_quantization_keeps_retrieval_skew", "uniform-int4"): (
        "4-bit weights flatten the ranking: the top 100 keeps 37% of the dense one, so every "
        "skew shrinks (it used to pass) and the utility guard fails it"
    ),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None:
            continue
        name = getattr(item, "originalname", item.name)
        for value in callspec.params.values():
            reason = EXPECTED_FAILURES.get((name, str(value)))
            if reason is not None:
                item.add_marker(pytest.mark.xfail(strict=True, reason=reason))
