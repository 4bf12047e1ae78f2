"""Method × test pairs that genuinely fail on this model, shown as strict expected failures."""

from __future__ import annotations

import pytest

#: (test function, a parameter value) -> why it fails. Numbers from README.md's table.
EXPECTED_FAILURES = {
    ("test_quantization_costs_no_group_accuracy", "bnb-nf4"): (
        "NF4 costs White arrestees 0.079 accuracy, beyond the 0.05 utility guard"
    ),
    ("test_quantization_keeps_gaps", "bnb-nf4"): (
        "NF4 collapses the model (White -0.079, Black -0.036): the gaps narrow because both "
        "groups got worse, and the utility guard fails them"
    ),
    ("test_sex_gap_where_the_data_can_tell", "bnb-nf4"): (
        "NF4 costs both sexes about 0.07 accuracy: the utility guard fails it"
    ),
    ("test_pruning_costs_no_group_accuracy", "global-magnitude-0.5"): "50% sparsity breaks the MLP",
    ("test_pruning_keeps_gaps", "global-magnitude-0.5"): (
        "50% sparsity collapses the MLP (White -0.36 accuracy): demographic parity narrows by "
        "0.14 because every group got worse, and the utility guard fails it"
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
