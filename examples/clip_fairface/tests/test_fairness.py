"""Paper 000's two measurements as gates: FACET zero-shot FVO, FairFace retrieval skew.

On the generated fixture with random weights the groups are small and the model is noise, so
an undecided gate is an xfail there (the marker below); on your data and weights it fails.
"""

from __future__ import annotations

import clip_setup
import pytest

from pytest_fairquant import assert_no_bias_amplification

pytestmark = [] if clip_setup.real_data() else [pytest.mark.fairquant(inconclusive="xfail")]

#: Paper 000 ranks the top 1000 of FairFace's 10,954 validation images; the fixture has 240.
K = 1000 if clip_setup.real_data() else 50


def test_zeroshot_keeps_fvo(model, quantized_model, demographic_split, zeroshot):
    assert_no_bias_amplification(
        model,
        quantized_model,
        demographic_split,
        task=zeroshot,
        attribute="gender_presentation",
        gap="fvo",
        tolerance=0.05,
    )


#: The retrieval gates' utility is the share of the dense top 50 a variant keeps (overlap@50).
#: Keeping 80% is the bar here: bnb-int8 keeps 97%, torch-dynamic-int8 95%, NF4 90% (measured
#: on the generated fixture); the default 0.05 is an accuracy-scale limit.
@pytest.mark.fairquant(
    max_utility_drop=0.2, **({} if clip_setup.real_data() else {"inconclusive": "xfail"})
)
@pytest.mark.parametrize("attribute", ["gender", "race"])
@pytest.mark.parametrize("gap", ["max_skew", "min_skew"])
def test_retrieval_keeps_skew(model, quantized_model, fairface_split, retrieval, attribute, gap):
    assert_no_bias_amplification(
        model,
        quantized_model,
        fairface_split,
        task=retrieval,
        attribute=attribute,
        gap=gap,
        tolerance=0.1,
        k=K,
    )
