"""Calibration under pytest (issue 13): with a calibrating method configured, demographic_split
is the evaluation part, the variant is calibrated on the rest, and the report records the
calibration part's size."""

from __future__ import annotations

import json

import pytest

FACTORIES = """
import numpy as np
import torch
from torch import nn

from pytest_fairquant import DemographicSplit
from pytest_fairquant.compression import registry

#: The ids of the samples the spy method calibrated on.
CALIBRATED = []


class IdModel(nn.Module):
    # Classifies the first two input columns; the third is the sample's id.
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def forward(self, x):
        return self.fc(x[:, :2])


class SpyCalibrating:
    name = "spy-cal"
    params = {}
    family = "quantization"
    calibrates = True

    def available(self):
        return True, None

    def apply(self, model, calibration):
        for batch in calibration.batches:
            CALIBRATED.extend(int(i) for i in batch[:, 2])
        with torch.no_grad():
            model.fc.weight.mul_(0.999)
        return model


registry.register_method("spy-cal", SpyCalibrating, replace=True)


def make_model():
    torch.manual_seed(0)
    return IdModel().eval()


def make_split():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 2)).astype(np.float32)
    ids = np.arange(600, dtype=np.float32)[:, None]
    y = (x[:, 0] > 0).astype(np.int64)
    group = np.where(rng.random(600) < 0.5, "a", "b")
    inputs = torch.from_numpy(np.hstack([x, ids]))
    return DemographicSplit(y, {"group": group}, inputs=inputs, name="ids")
"""

TESTS = """
import numpy as np

import cal_factories


def test_calibrated_samples_are_not_evaluated(quantized_model, demographic_split):
    # Asking the variant for its info builds it (the fixture's variant is built on first use).
    assert quantized_model.fairquant_info.details["calibration"]["size"] == 200
    evaluated = {int(i) for i in demographic_split.input_batch(np.arange(len(demographic_split)))[:, 2]}
    calibrated = set(cal_factories.CALIBRATED)
    assert len(calibrated) == 200 and len(evaluated) == 400
    assert calibrated.isdisjoint(evaluated)


def test_every_variant_is_evaluated_on_the_same_part(pruned_model, demographic_split):
    assert len(demographic_split) == 400
"""


def test_the_plugin_calibrates_on_a_part_it_never_evaluates(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(cal_factories=FACTORIES, test_cal=TESTS)
    # The method is registered before the plugin checks the configured ids.
    pytester.makeconftest("import cal_factories  # noqa: F401")
    pytester.makeini(
        "[pytest]\n"
        "addopts = -p no:hypothesispytest -p no:cacheprovider\n"
        "fairquant_model = cal_factories:make_model\n"
        "fairquant_data = cal_factories:make_split\n"
        "fairquant_quantization = spy-cal\n"
        "fairquant_pruning = global-magnitude-0.5\n"
        "fairquant_calibration_size = 200\n"
        "fairquant_cache_dir =\n"
    )
    pytester.syspathinsert()
    result = pytester.runpytest("--fairquant-report=out.json")
    result.assert_outcomes(passed=2)
    report = json.loads((pytester.path / "out.json").read_text(encoding="utf-8"))
    assert report["splits"]["ids"]["calibration"]["size"] == 200
    assert report["methods"]["spy-cal"]["details"]["calibration"]["size"] == 200
