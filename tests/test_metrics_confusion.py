"""The shared vectorised core: confusion tables (plain, resampled, multi-label) and rates."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_fairquant import metrics as M
from pytest_fairquant.metrics import _confusion


def _naive(
    y: np.ndarray, p: np.ndarray, g: np.ndarray, n_groups: int, n_classes: int, w: np.ndarray | None
) -> np.ndarray:
    table = np.zeros((n_groups, n_classes, n_classes))
    for i in range(len(y)):
        table[g[i], y[i], p[i]] += 1.0 if w is None else w[i]
    return table


@pytest.fixture
def sample() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    n = 400
    return {
        "y": rng.integers(0, 4, n),
        "p": rng.integers(0, 4, n),
        "g": rng.integers(0, 3, n),
        "w": rng.random(n),
        "idx": rng.integers(0, n, (7, n)),
    }


@pytest.mark.parametrize("weighted", [False, True])
def test_tables_match_a_loop(sample: dict[str, np.ndarray], weighted: bool) -> None:
    w = sample["w"] if weighted else None
    table = M.confusion_tables(sample["y"], sample["p"], sample["g"], 3, 4, weights=w)
    assert table.shape == (3, 4, 4)
    assert table.dtype == (np.float64 if weighted else np.int64)
    assert np.allclose(
        table, _naive(sample["y"], sample["p"], sample["g"], 3, 4, w), rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("weighted", [False, True])
def test_resamples_give_a_leading_axis(
    sample: dict[str, np.ndarray], weighted: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = sample["w"] if weighted else None
    y, p, g, idx = sample["y"], sample["p"], sample["g"], sample["idx"]
    expected = np.stack(
        [
            M.confusion_tables(y[r], p[r], g[r], 3, 4, weights=None if w is None else w[r])
            for r in idx
        ]
    )
    table = M.confusion_tables(y, p, g, 3, 4, weights=w, resamples=idx)
    assert table.shape == (7, 3, 4, 4)
    assert np.allclose(table, expected, rtol=0, atol=1e-12)
    monkeypatch.setattr(_confusion, "_MAX_KEYS_PER_CHUNK", 900)  # force several chunks
    assert np.allclose(
        M.confusion_tables(y, p, g, 3, 4, weights=w, resamples=idx), expected, rtol=0, atol=1e-12
    )


def test_multilabel_tables_put_labels_before_groups(sample: dict[str, np.ndarray]) -> None:
    rng = np.random.default_rng(12)
    y = rng.integers(0, 2, (400, 3))
    p = rng.integers(0, 2, (400, 3))
    table = M.confusion_tables(
        y, p, sample["g"], 3, 2, weights=sample["w"], resamples=sample["idx"][:2]
    )
    assert table.shape == (2, 3, 3, 2, 2)
    r = sample["idx"][1]
    single = M.confusion_tables(y[r, 2], p[r, 2], sample["g"][r], 3, 2, weights=sample["w"][r])
    assert np.allclose(table[1, 2], single, rtol=0, atol=1e-12)


def test_rates_one_vs_rest_and_nan_for_zero_denominators() -> None:
    # group 0: classes 0 and 1 only; class 2 never occurs nor is predicted there
    table = np.array([[[3, 1, 0], [2, 4, 0], [0, 0, 0]]])
    r = M.rates(table)
    assert r["accuracy"][0] == pytest.approx(7 / 10)
    assert r["tpr"][0].tolist()[:2] == pytest.approx([3 / 4, 4 / 6])
    assert r["fpr"][0].tolist() == pytest.approx([2 / 6, 1 / 4, 0.0])
    assert r["ppv"][0].tolist()[:2] == pytest.approx([3 / 5, 4 / 5])
    assert r["selection_rate"][0].tolist() == pytest.approx([5 / 10, 5 / 10, 0.0])
    assert np.isnan(r["tpr"][0, 2]) and np.isnan(r["fnr"][0, 2]) and np.isnan(r["ppv"][0, 2])
    defined = ~np.isnan(r["tpr"])
    assert np.allclose((r["tpr"] + r["fnr"])[defined], 1.0)
    counts = M.one_vs_rest(table)
    assert (counts["tp"] + counts["fp"] + counts["fn"] + counts["tn"] == 10).all()


def test_rates_work_on_any_leading_axes(sample: dict[str, np.ndarray]) -> None:
    table = M.confusion_tables(sample["y"], sample["p"], sample["g"], 3, 4, resamples=sample["idx"])
    r = M.rates(table)
    assert r["accuracy"].shape == (7, 3) and r["tpr"].shape == (7, 3, 4)
    assert np.allclose(r["tpr"][5], M.rates(table[5])["tpr"])
