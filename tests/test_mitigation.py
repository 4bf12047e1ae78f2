"""mitigate(): post-hoc mitigations fitted on a calibration part and re-gated on held-out samples."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from torch import nn

from pytest_fairquant import DemographicSplit, mitigate, risk_forecast
from pytest_fairquant.errors import InputError
from pytest_fairquant.mitigation import (
    CalibratedEqualizedOdds,
    MitigationInputs,
    ThresholdCalibration,
    UncertaintyOverride,
    holdout_split,
)


def _binary_setup(n: int = 1200) -> tuple[nn.Module, nn.Module, DemographicSplit]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, generator=gen)
    in_b = (torch.arange(n) % 3 == 0).float()
    x[:, 2] = in_b
    logits = 3 * x[:, 0] + 0.5 * torch.randn(n, generator=gen)
    labels = (logits > 0.8).long().numpy()
    torch.manual_seed(0)
    dense = nn.Linear(3, 1)
    with torch.no_grad():
        dense.weight.copy_(torch.tensor([[3.0, 0.0, 0.0]]))
        dense.bias.fill_(-0.8 * 3 / 3)
    compressed = copy.deepcopy(dense)
    with torch.no_grad():  # the variant under-predicts positives, more so in group b
        compressed.weight.copy_(torch.tensor([[3.0, 0.0, -2.5]]))
        compressed.bias.add_(-0.3)
    groups = np.where(in_b.numpy() == 1, "b", "a")
    split = DemographicSplit(labels, {"g": groups}, inputs=x)
    return dense.eval(), compressed.eval(), split


def test_holdout_split_is_deterministic_disjoint_and_stratified() -> None:
    _, _, split = _binary_setup()
    fit, held = holdout_split(split, 0.5, attribute="g", seed=3)
    again, _ = holdout_split(split, 0.5, attribute="g", seed=3)
    assert np.array_equal(fit, again)
    assert len(np.intersect1d(fit, held)) == 0 and len(fit) + len(held) == len(split)
    groups = split.sensitive_features("g")
    assert abs((groups[fit] == "b").mean() - (groups == "b").mean()) < 0.01
    with pytest.raises(InputError, match="calibration must be a fraction"):
        holdout_split(split, 1.5, attribute="g")


def test_mitigate_reports_before_and_after_on_the_held_out_part() -> None:
    dense, compressed, split = _binary_setup()
    report = mitigate(
        dense, compressed, split, attribute="g", gap="fvo", tolerance=0.02, device="cpu"
    )
    assert report.calibration_n + report.holdout_n == len(split)
    assert report.before.verdict == "fail"
    names = [o.name for o in report.outcomes]
    assert names == [
        "threshold_calibration",
        "override_dense_0.05",
        "override_dense_0.1",
        "override_true_0.05",
        "override_true_0.1",
        "calibrated_equalized_odds",
    ]
    for o in report.outcomes:
        assert o.verdict_after in ("pass", "fail", "inconclusive", "insufficient_data")
        assert o.accuracy_cost is not None
    # human overrides only ever fix labels
    true10 = report.outcomes[4]
    assert true10.accuracy_after is not None and true10.accuracy_after >= true10.accuracy_before
    # the variant under-predicts positives, so its calibrated threshold is below 0.5
    assert report.outcomes[0].params["threshold"] < 0.5
    assert report.forecast is not None and report.forecast.groups
    data = report.to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data


def _inputs(kind: str = "binary") -> MitigationInputs:
    rng = np.random.default_rng(0)
    n = 400
    p = rng.random(n)
    labels = (rng.random(n) < p).astype(np.int64)
    probs = np.stack([1 - p, p], axis=1)
    shifted = np.clip(p - 0.2, 0, 1)
    comp = np.stack([1 - shifted, shifted], axis=1)
    groups = np.where(np.arange(n) % 2 == 0, "a", "b").astype(object)
    return MitigationInputs(labels, groups, probs, probs.argmax(1), comp, comp.argmax(1), kind)


def test_threshold_calibration_matches_the_prevalence() -> None:
    data = _inputs()
    fitted = ThresholdCalibration().fit(data)
    pred = fitted.apply(data)
    assert abs(pred.mean() - data.labels.mean()) <= 1 / len(data)


def test_overrides_change_only_the_most_uncertain_share() -> None:
    data = _inputs()
    for label in ("dense", "true"):
        pred = UncertaintyOverride(0.1, label).fit(data).apply(data)  # type: ignore[arg-type]
        changed = pred != data.compressed_pred
        assert changed.sum() <= 40
    with pytest.raises(InputError):
        UncertaintyOverride(0.0)


def test_calibrated_equalized_odds_leaves_the_costliest_group_alone() -> None:
    data = _inputs()
    fitted = CalibratedEqualizedOdds().fit(data)
    mix = fitted.params["mix_rate"]
    assert min(mix.values()) == 0.0 and all(0 <= v <= 1 for v in mix.values())
    assert set(np.unique(fitted.apply(data))) <= {0, 1}


def test_binary_only_mitigations_say_why_on_multiclass() -> None:
    torch.manual_seed(0)
    x = torch.randn(300, 4)
    model = nn.Linear(4, 3).eval()
    labels = model(x).argmax(1).detach().numpy()
    split = DemographicSplit(labels, {"g": np.arange(300) % 2}, inputs=x)
    report = mitigate(model, copy.deepcopy(model), split, device="cpu", tolerance=0.05)
    by_name = {o.name: o for o in report.outcomes}
    assert by_name["threshold_calibration"].verdict_after is None
    assert "binary" in (by_name["threshold_calibration"].reason or "")
    assert by_name["override_dense_0.05"].verdict_after is not None


def test_risk_forecast_enrichment_of_flips_among_the_flagged() -> None:
    n = 100
    p = np.full(n, 0.99)
    p[:10] = 0.5  # the ten most uncertain samples
    probs = np.stack([1 - p, p], axis=1)
    compressed = np.ones(n, dtype=np.int64)
    compressed[:5] = 0  # flips, all among the uncertain ones
    labels = np.ones(n, dtype=np.int64)
    forecast = risk_forecast(
        labels, probs, sensitive_features=np.arange(n) % 2, fraction=0.1, compressed_pred=compressed
    )
    assert forecast.flagged == tuple(range(10))
    assert forecast.enrichment == pytest.approx(10.0)
