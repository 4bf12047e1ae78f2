"""A small group is dropped from its own attribute's gates only (issue 11 #8): 25 samples of
``age=80+`` used to leave the ``sex`` gate too, and the next check then blamed ``sex``."""

from __future__ import annotations

import numpy as np

from pytest_fairquant.data.split import DemographicSplit
from pytest_fairquant.gate import assert_no_bias_amplification
from pytest_fairquant.run import FairnessRun
from pytest_fairquant.settings import Settings


def _split() -> DemographicSplit:
    rng = np.random.default_rng(0)
    n = 2000
    y = rng.integers(0, 2, size=n)
    sex = np.where(np.arange(n) % 2 == 0, "f", "m")
    age = np.where(np.arange(n) < 25, "80+", np.where(rng.random(n) < 0.5, "18-40", "41-79"))
    return DemographicSplit(y, {"sex": sex, "age": age}, inputs=np.zeros((n, 1)), name="ages")


def test_a_small_group_leaves_only_its_own_attribute() -> None:
    prepared = FairnessRun(Settings(min_group_size=30)).prepare(_split())
    assert len(prepared) == 2000
    assert prepared.attribute_rows("sex") is None
    age_rows = prepared.attribute_rows("age")
    assert age_rows is not None and len(age_rows) == 1975
    assert [(d.attribute, d.group, d.n, d.reason) for d in prepared.dropped] == [
        ("age", "80+", 25, "25 samples, needs 30")
    ]


def test_each_attribute_gate_counts_its_own_samples() -> None:
    split = FairnessRun(Settings(min_group_size=30)).prepare(_split())
    rng = np.random.default_rng(1)
    pred = np.where(rng.random(len(split)) < 0.9, split.labels, 1 - split.labels)
    comparisons = assert_no_bias_amplification(
        y_true=split.labels,
        base_pred=pred,
        compressed_pred=pred,
        split=split,
        gap="accuracy_drop",
        tolerance=0.2,
    )
    by_attribute = {c.attribute: c for c in comparisons}
    # sex keeps the 25 samples of age=80+ (the old sequential filter dropped them: 1975).
    assert by_attribute["sex"].n == 2000
    assert by_attribute["age"].n == 1975
    assert sorted(g.group for g in by_attribute["age"].groups) == ["18-40", "41-79"]
    assert {g.group: g.n for g in by_attribute["sex"].groups} == {"f": 1000, "m": 1000}
