"""Which method × test pairs are expected to fail, so the run shows what a failing gate looks like.

The plugin parametrises ``quantized_model`` and ``pruned_model`` over the methods in
``pytest.ini``; here we mark the pairs that genuinely fail (compression widens the planted
group's gap, or collapses the model so that every group loses accuracy) as
``xfail(strict=True)``: if one of them ever passes, the run fails and tells us the example has
stopped demonstrating a failure. A strict xfail would also swallow an inconclusive verdict, so
``tests/test_examples.py`` pins that each of these is a ``fail``.
"""

from __future__ import annotations

import pytest

#: (test function, method id) -> why it fails (numbers in README.md).
EXPECTED_FAILURES = {
    ("test_pruning_keeps_fvo", "nm-2:4"): (
        "2:4 sparsity widens the FVO by 0.30 (0.104 -> 0.403, p = 0.0005) as the inverted group "
        "loses 0.36 accuracy"
    ),
    ("test_pruning_keeps_fvo", "global-magnitude-0.9"): (
        "90% sparsity collapses the model (inverted -0.59, plain -0.54 accuracy): the FVO's "
        "+0.054 is not significant (p = 0.81), the utility guard fails it"
    ),
    ("test_quantization_keeps_fvo", "uniform-int2"): (
        "2-bit weights collapse the model (plain -0.58, inverted -0.45 accuracy): the FVO "
        "narrows by 0.074 because every group got worse, and the utility guard fails it"
    ),
    ("test_quantization_costs_no_group_accuracy", "uniform-int2"): (
        "2-bit weights cost plain 0.58 and inverted 0.45 accuracy (tolerance 0.05)"
    ),
    ("test_pruning_costs_no_group_accuracy", "global-magnitude-0.9"): (
        "90% sparsity costs inverted 0.59 and plain 0.54 accuracy (tolerance 0.05)"
    ),
    ("test_pruning_costs_no_group_accuracy", "nm-2:4"): (
        "2:4 sparsity costs the inverted group 0.36 accuracy, plain 0.06 (tolerance 0.05)"
    ),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None:
            continue
        name = getattr(item, "originalname", item.name)
        for method in callspec.params.values():
            reason = EXPECTED_FAILURES.get((name, str(method)))
            if reason is not None:
                item.add_marker(pytest.mark.xfail(strict=True, reason=reason))
