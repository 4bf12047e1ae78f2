"""Method × test pairs that genuinely fail on this model, shown as strict expected failures."""

from __future__ import annotations

import pytest

#: (test function, a parameter value) -> why it fails; the numbers are in README.md's table. A
#: strict xfail would also swallow an inconclusive verdict, so ``tests/test_examples.py`` pins
#: that each of these is a ``fail``.
EXPECTED_FAILURES = {
    ("test_quantization_keeps_gaps", "bnb-nf4"): (
        "NF4 costs both groups accuracy (White -0.079, Black -0.036), beyond the 0.05 utility "
        "guard: FVO, equalized odds and demographic parity narrow by 0.043, 0.015 and 0.013 "
        "because both groups got worse"
    ),
    ("test_quantization_costs_no_group_accuracy", "bnb-nf4"): (
        "NF4 costs White arrestees 0.079 accuracy (tolerance 0.03, utility guard 0.05)"
    ),
    ("test_sex_gap_where_the_data_can_tell", "bnb-nf4"): (
        "NF4 costs men 0.069 and women 0.065 accuracy: the utility guard fails it"
    ),
    ("test_pruning_keeps_gaps", "global-magnitude-0.5"): (
        "50% sparsity collapses the MLP (White -0.36, Black -0.15 accuracy): FVO, equalized odds "
        "and demographic parity narrow by 0.057, 0.150 and 0.142 because every group got worse "
        "(demographic parity used to pass), and the utility guard fails them"
    ),
    ("test_pruning_costs_no_group_accuracy", "global-magnitude-0.5"): (
        "50% sparsity costs White arrestees 0.36 and Black 0.15 accuracy (tolerance 0.03)"
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
