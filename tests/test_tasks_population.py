"""Paper 000-style population tables: paired t-tests, corrections, rendering."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats as sps

from pytest_fairquant.errors import InputError
from pytest_fairquant.population import (
    MSG_DUPLICATE,
    MSG_NO_BASELINE,
    MSG_NO_COMPRESSED,
    Measurement,
    population_table,
)
from pytest_fairquant.stats import CORRECTIONS, MSG_CORRECTION
from pytest_fairquant.undefined import Undefined

MODELS = [f"model-{i}" for i in range(8)]
METHODS = ["bnb-nf4", "bnb-int8", "torch-dynamic-int8"]
ATTRIBUTES = ["gender", "race", "age"]


def simulated(
    shift: dict[str, float], seed: int = 0
) -> tuple[list[Measurement], dict[tuple[str, str, str], np.ndarray]]:
    """8 models × (dense + 3 methods) × 3 attributes × 2 metrics; one method shifts MaxSkew."""
    rng = np.random.default_rng(seed)
    records = []
    diffs = {}
    for attribute in ATTRIBUTES:
        for metric in ("min_skew", "max_skew"):
            dense = rng.normal(0.3, 0.1, size=len(MODELS))
            records += [
                Measurement(u, "dense", attribute, metric, v)
                for u, v in zip(MODELS, dense, strict=True)
            ]
            for method in METHODS:
                delta = rng.normal(
                    shift.get(method, 0.0) if metric == "max_skew" else 0.0, 0.01, size=len(MODELS)
                )
                records += [
                    Measurement(u, method, attribute, metric, v)
                    for u, v in zip(MODELS, dense + delta, strict=True)
                ]
                diffs[(method, attribute, metric)] = delta
    return records, diffs


def test_cells_match_scipy_paired_ttest_and_its_interval() -> None:
    records, diffs = simulated({"bnb-nf4": 0.05})
    table = population_table(records, correction="none")
    assert len(table.cells) == len(METHODS) * len(ATTRIBUTES) * 2
    for cell in table.cells:
        d = diffs[(cell.method, cell.attribute, cell.metric)]
        ref = sps.ttest_1samp(d, 0.0)
        ci = ref.confidence_interval(0.95)
        assert cell.n_units == len(MODELS)
        assert cell.p_value == pytest.approx(ref.pvalue, rel=1e-9)
        assert cell.mean_difference == pytest.approx(d.mean(), abs=1e-12)
        assert (cell.ci_low, cell.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-9)
        assert cell.p_adjusted == cell.p_value
    assert table.cell("bnb-nf4", "race", "max_skew").significant
    assert table.cell("bnb-nf4", "race", "max_skew").mean_difference > 0


def test_corrections_adjust_across_every_test_of_the_table() -> None:
    records, _ = simulated({"bnb-nf4": 0.05})
    raw = population_table(records, correction="none")
    holm = population_table(records, correction="holm")
    bh = population_table(records, correction="bh")
    bonferroni = population_table(records, correction="bonferroni")
    p = np.array([c.p_value for c in raw.cells])
    m = len(p)
    order = np.argsort(p)
    holm_ref = np.empty(m)
    holm_ref[order] = np.minimum(1, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    bh_ref = sps.false_discovery_control(p, method="bh")
    np.testing.assert_allclose([c.p_adjusted for c in holm.cells], holm_ref, rtol=1e-9)
    np.testing.assert_allclose([c.p_adjusted for c in bh.cells], bh_ref, rtol=1e-9)
    np.testing.assert_allclose(
        [c.p_adjusted for c in bonferroni.cells], np.minimum(1, m * p), rtol=1e-9
    )
    for cell in holm.cells:
        assert cell.survives_correction == (cell.p_adjusted < 0.05)
        assert cell.significant == (cell.p_value < 0.05)


def test_no_effect_population_has_few_significant_cells_and_fewer_after_correction() -> None:
    records, _ = simulated({}, seed=3)
    table = population_table(records, correction="holm")
    d = table.to_dict()
    assert d["n_surviving_correction"] <= d["n_significant"]
    assert d["n_surviving_correction"] == 0


def test_undefined_units_are_dropped_and_too_few_units_is_undefined_not_significant() -> None:
    records = [
        Measurement("a", "dense", "gender", "max_disparity", 0.1),
        Measurement("b", "dense", "gender", "max_disparity", 0.2),
        Measurement("c", "dense", "gender", "max_disparity", 0.3),
        Measurement("a", "bnb-int8", "gender", "max_disparity", 0.15),
        Measurement("b", "bnb-int8", "gender", "max_disparity", Undefined("no_eligible_classes")),
        Measurement("c", "bnb-int8", "gender", "max_disparity", 0.2),
        Measurement("a", "dense", "age", "max_disparity", 0.1),
        Measurement("a", "bnb-int8", "age", "max_disparity", 0.3),
    ]
    table = population_table(records)
    gender = table.cell("bnb-int8", "gender", "max_disparity")
    assert gender.n_units == 2 and gender.units_dropped == ("b",)
    age = table.cell("bnb-int8", "age", "max_disparity")
    assert math.isnan(age.p_value) and not age.significant and not age.survives_correction
    assert "n/a" in table.render()
    json.dumps(table.to_dict())


def test_render_has_paper_layout_and_names_the_correction() -> None:
    records, _ = simulated({"bnb-nf4": 0.05})
    table = population_table(records, correction="holm", title="Table 2: FairFace skew")
    text = table.render()
    lines = text.splitlines()
    assert lines[0] == "Table 2: FairFace skew"
    assert "min_skew" in lines[1] and "max_skew" in lines[1] and "95% CI" in lines[2]
    assert sum(line.startswith(tuple(METHODS)) for line in lines) == len(METHODS)
    assert "Holm" in lines[-1] and "paired t-test over 8 units" in lines[-1]
    d = table.to_dict()
    assert d["correction"] == "holm" and d["n_tests"] == 18
    assert json.loads(json.dumps(d)) == d


@pytest.mark.parametrize(
    ("records", "kwargs", "message"),
    [
        (
            [Measurement("a", "bnb-int8", "g", "m", 1.0)],
            {},
            MSG_NO_BASELINE.format(baseline="dense"),
        ),
        (
            [Measurement("a", "dense", "g", "m", 1.0)],
            {},
            MSG_NO_COMPRESSED.format(baseline="dense"),
        ),
        (
            [Measurement("a", "dense", "g", "m", 1.0)],
            {"correction": "bonf"},
            MSG_CORRECTION.format(known=", ".join(CORRECTIONS), got="bonf"),
        ),
        (
            [Measurement("a", "dense", "g", "m", 1.0), Measurement("a", "dense", "g", "m", 2.0)],
            {},
            MSG_DUPLICATE.format(unit="a", method="dense", attribute="g", metric="m"),
        ),
    ],
)
def test_bad_tables_are_refused_with_the_reason(
    records: list[Measurement], kwargs: dict[str, str], message: str
) -> None:
    with pytest.raises(InputError) as info:
        population_table(records, **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_differences_without_spread_are_no_change_or_undefined() -> None:
    units = ["a", "b", "c"]
    records = [
        Measurement(u, "dense", "race", m, 0.5) for u in units for m in ("min_skew", "max_skew")
    ]
    records += [Measurement(u, "bnb-int8", "race", "min_skew", 0.5) for u in units]
    records += [Measurement(u, "bnb-int8", "race", "max_skew", 0.6) for u in units]
    table = population_table(records)
    same = table.cell("bnb-int8", "race", "min_skew")
    assert (same.p_value, same.ci_low, same.ci_high, same.significant) == (1.0, 0.0, 0.0, False)
    shifted = table.cell("bnb-int8", "race", "max_skew")
    assert isinstance(shifted.p_value, Undefined) and shifted.p_value.reason == "zero_denominator"
    assert shifted.mean_difference == pytest.approx(0.1)
