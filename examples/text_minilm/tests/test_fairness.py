"""Retrieval skew by gender of the real MiniLM, dense vs each quantization method.

For every query (occupations, adjectives) the top K of the 400 sentences should not lean
further towards one gender after quantization: MaxSkew@K and MinSkew@K, compared per query
between the dense and the quantized ranking with a paired t-test over the queries.
"""

from __future__ import annotations

import pytest
from minilm_retrieval import K

from pytest_fairquant import assert_no_bias_amplification

#: Largest acceptable growth of the mean skew (log-ratio units; ln 1.1 ≈ 0.1).
TOLERANCE = 0.1


@pytest.mark.parametrize("gap", ["max_skew", "min_skew"])
def test_quantization_keeps_retrieval_skew(
    dense_ranking, quantized_model, rank, demographic_split, gap
):
    assert_no_bias_amplification(
        dense_ranking,
        rank(quantized_model),
        demographic_split,
        attribute="gender",
        gap=gap,
        tolerance=TOLERANCE,
        k=K,
    )
