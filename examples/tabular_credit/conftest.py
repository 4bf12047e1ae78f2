"""Method × test pairs that genuinely fail on this model, shown as strict expected failures."""

from __future__ import annotations

import pytest

EXPECTED_FAILURES = {
    ("test_quantization_costs_no_group_accuracy", "bnb-nf4"): "NF4 costs both groups accuracy",
    ("test_pruning_costs_no_group_accuracy", "global-magnitude-0.5"): "50% sparsity breaks the MLP",
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
