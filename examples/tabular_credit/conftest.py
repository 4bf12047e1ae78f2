"""Method × test pairs that genuinely fail, or that this test set cannot decide, on this model."""

from __future__ import annotations

import pytest

#: (test function, a parameter value) -> why it fails; the numbers are in README.md's table. A
#: strict xfail would also swallow an inconclusive verdict, so ``tests/test_examples.py`` pins
#: that each of these is a ``fail``.
EXPECTED_FAILURES = {
    ("test_pruning_keeps_gaps", "global-magnitude-0.5"): (
        "50% sparsity collapses the MLP (White -0.36, Black -0.15 accuracy): FVO, equalized odds "
        "and demographic parity narrow by 0.057, 0.150 and 0.142 because every group got worse "
        "(demographic parity used to pass), and the utility guard fails them"
    ),
    ("test_pruning_costs_no_group_accuracy", "global-magnitude-0.5"): (
        "50% sparsity costs White arrestees 0.36 and Black 0.15 accuracy (tolerance 0.03)"
    ),
}


#: Tests this test set cannot decide: the gate answers inconclusive (never a pass), shown as
#: XFAIL with the gate's own message, and a significant growth of the gap would still fail. NF4
#: costs White arrestees 0.027 accuracy and Black 0.015: within the utility guard (0.05), too
#: close to the 3-point tolerance for 503 Black and 1,590 White arrestees (README.md's table).
UNDECIDED = frozenset(
    {
        # FVO narrows by 0.011; its upper 95% bound, 0.030, is at the tolerance.
        "test_quantization_keeps_gaps[bnb-nf4-fvo]",
        # Over the 365 arrestees not released, the bound is 0.15 > 0.10.
        "test_quantization_keeps_gaps[bnb-nf4-equalized_odds]",
        # White arrestees lose 0.027, bound 0.038 > 0.03.
        "test_quantization_costs_no_group_accuracy[bnb-nf4]",
        # 153 women cannot bound the change by 0.03.
        "test_sex_gap_where_the_data_can_tell[bnb-nf4]",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.name in UNDECIDED:
            item.add_marker(pytest.mark.fairquant(inconclusive="xfail"))
        callspec = getattr(item, "callspec", None)
        if callspec is None:
            continue
        name = getattr(item, "originalname", item.name)
        for value in callspec.params.values():
            reason = EXPECTED_FAILURES.get((name, str(value)))
            if reason is not None:
                item.add_marker(pytest.mark.xfail(strict=True, reason=reason))
