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


#: The retrieval gates' utility is the share of the dense top K a variant keeps (overlap@K).
#: Quantized MiniLM rankings move more than accuracies do: bnb-int8 keeps 96% of the dense top
#: 100, uniform-int8 90%, NF4 83%, torch-dynamic-int8 72% (its reduced 7-bit activations);
#: uniform-int4 keeps 37% and fails (conftest.py). Keeping 70% is this repo's bar.
@pytest.mark.fairquant(max_utility_drop=0.3)
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
