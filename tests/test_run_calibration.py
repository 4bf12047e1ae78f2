"""The run's calibration part (issue 13): a calibrating method observes a stratified part of the
split set aside by :meth:`FairnessRun.prepare`, and the dense model and every variant are
evaluated on the other samples only, so no calibrated sample is ever evaluated."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from torch import nn

from pytest_fairquant import DemographicSplit
from pytest_fairquant.compression import DEFAULT_CALIBRATION_SIZE, registry
from pytest_fairquant.compression.calibration import MSG_CALIBRATION_TOO_LARGE, CalibrationData
from pytest_fairquant.errors import ConfigError
from pytest_fairquant.run import DENSE, FairnessRun
from pytest_fairquant.settings import Settings

#: The sample ids each model saw: "calibration" (the method's calibration batches), "forward"
#: (every evaluated batch, of the dense model and of the variants).
SEEN: dict[str, list[int]] = {}


class Recording(nn.Module):
    """A linear classifier of the first two input columns; the third column is the sample's id,
    which it records on every forward pass."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        SEEN.setdefault("forward", []).extend(int(i) for i in x[:, 2].tolist())
        return self.fc(x[:, :2])


@dataclass(frozen=True)
class SpyCalibrating:
    """A calibrating method that records the ids of its calibration samples."""

    name: ClassVar[str] = "spy-cal"
    family: ClassVar[str] = "quantization"
    calibrates: ClassVar[bool] = True

    @property
    def params(self) -> dict[str, Any]:
        return {}

    def available(self) -> tuple[bool, str | None]:
        return True, None

    def apply(self, model: nn.Module, calibration: CalibrationData) -> nn.Module:
        for batch in calibration.batches:
            SEEN.setdefault("calibration", []).extend(int(i) for i in batch[:, 2].tolist())
        with torch.no_grad():
            model.fc.weight.mul_(0.999)
        return model


@pytest.fixture
def spy() -> Iterator[None]:
    SEEN.clear()
    registry.register_method("spy-cal", SpyCalibrating, replace=True)
    yield
    del registry._REGISTRY.entries["spy-cal"]


def split_of(n: int = 600) -> DemographicSplit:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    ids = np.arange(n, dtype=np.float32)[:, None]
    y = (x[:, 0] > 0).astype(np.int64)
    group = np.where(rng.random(n) < 0.5, "a", "b")
    inputs = torch.from_numpy(np.hstack([x, ids]))
    return DemographicSplit(y, {"group": group}, inputs=inputs, name="ids")


def _run(**settings: Any) -> FairnessRun:
    base = {"n_boot": 100, "cache_dir": None, "min_group_size": 10, "inconclusive": "skip"}
    return FairnessRun(Settings(**{**base, **settings}))


def test_calibrated_samples_are_never_evaluated(spy: None) -> None:
    run = _run(methods=("spy-cal", "uniform-int8"), calibration_size=100, subsample=300)
    dense = Recording().eval()
    prepared = run.prepare(split_of())
    base = run.evaluate(dense, prepared, DENSE)
    for method in run.settings.methods:
        check = run.judge(
            dense, prepared, base, run.evaluate(dense, prepared, method), nodeid=method
        )
        assert check.outcome != "error", check.text
    calibrated, evaluated = set(SEEN["calibration"]), set(SEEN["forward"])
    assert len(calibrated) == len(SEEN["calibration"]) == 100
    assert calibrated.isdisjoint(evaluated)
    # The dense model and both variants saw exactly the prepared (evaluation) samples.
    assert evaluated == {int(i) for i in prepared.input_batch(np.arange(len(prepared)))[:, 2]}
    assert len(evaluated) == 300
    assert run.splits["ids"]["calibration"]["size"] == 100
    assert run.methods["spy-cal"]["details"]["calibration"]["size"] == 100
    assert "calibration" not in run.methods["uniform-int8"].get("details", {})


def test_the_calibration_part_is_stratified_and_seeded(spy: None) -> None:
    split = split_of()
    first = _run(methods=("spy-cal",), calibration_size=0.25).prepare(split)
    again = _run(methods=("spy-cal",), calibration_size=0.25).prepare(split)
    other_seed = _run(methods=("spy-cal",), calibration_size=0.25, seed=1).prepare(split)
    assert first.fingerprint == again.fingerprint != other_seed.fingerprint
    assert len(first) == 450
    shares = [float(np.mean(s.attributes["group"] == "a")) for s in (split, first)]
    assert shares[0] == pytest.approx(shares[1], abs=0.01)


def test_without_a_calibrating_method_the_whole_split_is_evaluated(spy: None) -> None:
    run = _run(methods=("uniform-int8",), calibration_size=100)
    split = split_of()
    prepared = run.prepare(split)
    assert len(prepared) == len(split)
    assert run.calibration_part(prepared) is None
    assert "calibration" not in run.splits["ids"]


def test_a_marker_method_that_calibrates_sets_the_part_aside(spy: None) -> None:
    run = _run(methods=(), quantization=("uniform-int8",), pruning=())
    run.note_methods(["spy-cal"])
    assert len(run.prepare(split_of())) == 600 - DEFAULT_CALIBRATION_SIZE


def test_a_calibration_part_too_large_names_the_setting(spy: None) -> None:
    run = _run(methods=("spy-cal",), calibration_size=600)
    with pytest.raises(ConfigError) as err:
        run.prepare(split_of())
    assert str(err.value) == "fairquant_calibration_size = 600 (default): " + (
        MSG_CALIBRATION_TOO_LARGE.format(size=600, left=0, n=600)
    )


def test_the_setting_default_is_the_librarys_calibration_size() -> None:
    assert Settings().calibration_size == DEFAULT_CALIBRATION_SIZE
