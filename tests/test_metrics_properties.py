"""Invariants of every metric (hypothesis): permutation, relabelling, self-comparison, bounds."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pytest_fairquant import metrics as M
from pytest_fairquant.undefined import REASONS, Undefined

ALL = (
    "accuracy",
    "tpr",
    "fpr",
    "fnr",
    "ppv",
    "selection_rate",
    "kappa",
    "auc",
    "ece",
    "uncertainty",
)
FAST = settings(max_examples=40, deadline=None)


@dataclass
class Case:
    y: np.ndarray
    p: np.ndarray
    g: np.ndarray
    prob: np.ndarray
    w: np.ndarray | None
    n_classes: int
    perm: np.ndarray


@st.composite
def cases(draw: st.DrawFn) -> Case:
    n = draw(st.integers(2, 40))
    n_classes = draw(st.integers(2, 4))
    labels = arrays(np.int64, n, elements=st.integers(0, n_classes - 1))
    y, p = draw(labels), draw(labels)
    g = draw(arrays(np.int64, n, elements=st.integers(0, 3)))
    raw = draw(arrays(np.float64, (n, n_classes), elements=st.floats(0.01, 1.0)))
    prob = raw / raw.sum(axis=1, keepdims=True)
    if n_classes == 2:
        prob = prob[:, 1]
    w = draw(st.none() | arrays(np.float64, n, elements=st.floats(0.1, 5.0)))
    perm = np.array(draw(st.permutations(range(n))))
    return Case(y, p, g, prob, w, n_classes, perm)


def _report(
    c: Case, rows: np.ndarray | None = None, groups: np.ndarray | None = None
) -> M.GroupReport:
    r = np.arange(len(c.y)) if rows is None else rows
    g = c.g if groups is None else groups
    return M.group_metrics(
        c.y[r],
        c.p[r],
        sensitive_features=g[r],
        metrics=ALL,
        y_prob=c.prob[r],
        sample_weight=None if c.w is None else c.w[r],
        n_classes=c.n_classes,
    )


def _same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return getattr(a, "reason", "nan") == getattr(b, "reason", "nan")
    return abs(a - b) <= 1e-9


@FAST
@given(cases())
def test_sample_permutation_changes_nothing(c: Case) -> None:
    before, after = _report(c), _report(c, rows=c.perm)
    for metric in ALL:
        for group, value in before.by_group[metric].items():
            assert _same(value, after.by_group[metric][group]), (metric, group)
        assert _same(before.overall[metric], after.overall[metric])
        assert _same(before.difference(metric), after.difference(metric))


@FAST
@given(cases(), st.permutations(["w", "x", "y", "z"]))
def test_group_relabelling_moves_values_with_their_groups(c: Case, names: list[str]) -> None:
    before = _report(c)
    after = _report(c, groups=np.array(names)[c.g])
    for metric in ALL:
        for group, value in before.by_group[metric].items():
            assert _same(value, after.by_group[metric][names[int(group)]])
        assert _same(before.difference(metric), after.difference(metric))
        assert _same(before.ratio(metric), after.ratio(metric))


@FAST
@given(cases())
def test_a_model_compared_with_itself_has_zero_deltas(c: Case) -> None:
    flips = M.flip_rate(c.p, c.p, sensitive_features=c.g)
    assert all(v == 0.0 for v in flips.by_group["flip_rate"].values())
    spread = M.error_spread_details(c.y, c.p, c.p, n_classes=c.n_classes)
    if spread.classes:
        assert spread.cev == 0.0 and spread.sde == 0.0
        assert set(spread.delta_fpr) | set(spread.delta_fnr) == {0.0}
    else:
        assert spread.cev.reason == "all_classes_excluded"
    logits = np.log(np.atleast_2d(c.prob.T).T + 1e-3) + 1.0
    drift = M.logits_cosine_distance(logits, logits, sensitive_features=c.g)
    assert all(abs(v) <= 1e-12 for v in drift.by_group["logit_cosine_distance"].values())
    assert not M.compression_identified_exemplars(c.p, c.p).any()
    assert M.weight_abs_difference(c.prob, c.prob) == 0.0


@FAST
@given(cases())
def test_bounds_and_undefined_values(c: Case) -> None:
    report = _report(c)
    data = report.to_dict()
    for metric in ALL:
        values = [*report.by_group[metric].values(), report.overall[metric]]
        low = -1.0 if metric == "kappa" else 0.0
        for value in values:
            if math.isnan(value):
                assert isinstance(value, Undefined) and value.reason in REASONS and value != 0
            else:
                assert low - 1e-12 <= value <= 1.0 + 1e-12, (metric, value)
        for group, value in report.by_group[metric].items():
            assert (data["by_group"][metric][group] is None) == math.isnan(value)
    if len(report.n) > 1:
        fvo = M.fvo(c.y, c.p, sensitive_features=c.g, sample_weight=c.w, n_classes=c.n_classes)
        assert 0.0 <= fvo <= 1.0
    ece = M.expected_calibration_error(c.y, c.prob, sample_weight=c.w)
    assert 0.0 <= ece <= 1.0
    assert 0.0 <= M.uncertainty(c.prob) <= 1.0


@FAST
@given(
    arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(2, 30)), elements=st.floats(-1, 1)),
    st.data(),
)
def test_skews_are_finite_and_ordered(scores: np.ndarray, data: st.DataObject) -> None:
    n_items = scores.shape[1]
    values = data.draw(arrays(np.int64, n_items, elements=st.integers(0, 3)))
    k = data.draw(st.integers(1, n_items))
    reference = data.draw(st.sampled_from(["prior", "equal"]))
    details = M.skew_details(scores, sensitive_features=values, k=k, reference=reference)
    assert np.isfinite(details.skew).all()
    assert (details.per_query_min <= details.per_query_max).all()
    assert details.min_skew <= details.max_skew
    # a value absent from a query's top k is under-represented, whatever k and the shares
    codes = M.encode_groups(values, None).codes
    for query, top in enumerate(np.argsort(-scores, axis=1, kind="stable")[:, :k]):
        absent = np.setdiff1d(np.arange(len(details.values)), codes[top])
        assert (details.skew[query, absent] < 0).all()
    shuffled = data.draw(st.permutations(range(n_items)))
    again = M.skew_details(
        scores[:, shuffled], sensitive_features=values[shuffled], k=k, reference=reference
    )
    # with no ties, ranking does not depend on item order
    if all(len(np.unique(row)) == n_items for row in scores):
        assert np.allclose(again.skew, details.skew)
