"""compressed_share, the calibration part of a split, and compress(..., calibration=)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from torch import nn

from pytest_fairquant import DemographicSplit
from pytest_fairquant.compression import (
    MSG_CALIBRATION_UNUSED,
    calibration_split,
    compress,
    compression_info,
    needs_calibration,
)
from pytest_fairquant.compression.calibration import calibration_data
from pytest_fairquant.errors import CompressionError, InputError

torch.set_num_threads(1)


class ConvNet(nn.Module):
    """Convolutions hold most weights, so Linear-only backends compress a small share."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 64, 3, padding=1)
        self.conv2 = nn.Conv2d(64, 64, 3, padding=1)
        self.fc = nn.Linear(64, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv2(torch.relu(self.conv(x))))
        return self.fc(x.mean((2, 3)))


def split_of(n: int = 400) -> DemographicSplit:
    rng = np.random.default_rng(0)
    return DemographicSplit(
        rng.integers(0, 4, n),
        {"group": rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1])},
        inputs=torch.from_numpy(rng.standard_normal((n, 3, 8, 8)).astype(np.float32)),
    )


def test_share_of_a_linear_only_backend_on_a_conv_net(caplog: pytest.LogCaptureFixture) -> None:
    torch.manual_seed(0)
    model = ConvNet().eval()
    with caplog.at_level(logging.WARNING, logger="pytest_fairquant.compression"):
        info = compression_info(compress(model, "bnb-int8"))
    total = sum(p.numel() for p in model.parameters())
    assert info.compressed_share == pytest.approx(model.fc.weight.numel() / total)
    assert info.share_warning == (
        f"bnb-int8: {info.compressed_share:.1%} of weights quantized (fc only): "
        "convolutions untouched"
    )
    assert info.share_warning in caplog.text
    assert info.to_dict()["compressed_share"] == info.compressed_share


def test_layers_a_skip_list_kept_are_named_as_skipped() -> None:
    """Not "convolutions untouched", as if the method could not take them."""
    info = compression_info(compress(ConvNet().eval(), "uniform-int8", skip=["conv", "conv2"]))
    assert info.share_warning == (
        f"uniform-int8: {info.compressed_share:.1%} of weights quantized (fc only; skipped as "
        "asked: conv, conv2): the other parameters untouched"
    )


def test_full_share_and_no_warning() -> None:
    info = compression_info(compress(ConvNet().eval(), "uniform-int8"))
    assert 0.99 < info.compressed_share <= 1.0  # biases stay float
    assert info.share_warning is None
    assert compression_info(compress(ConvNet().eval(), "fp16")).compressed_share == 1.0


def test_calibration_split_is_stratified_disjoint_and_deterministic() -> None:
    split = split_of()
    calibration, evaluation = calibration_split(split, 100)
    again, _ = calibration_split(split, 100)
    assert len(calibration) == 100 and len(evaluation) == 300
    assert np.array_equal(calibration.index, again.index)
    assert not set(calibration.index) & set(evaluation.index)
    assert sorted([*calibration.index, *evaluation.index]) == list(range(400))
    for name in ("a", "b", "c"):
        share = np.mean(split.attributes["group"] == name)
        assert np.mean(calibration.attributes["group"] == name) == pytest.approx(share, abs=0.03)


def test_calibration_split_refuses_to_leave_nothing_to_evaluate() -> None:
    with pytest.raises(InputError, match="would leave 0"):
        calibration_split(split_of(50), 512)
    with pytest.raises(InputError, match="calibration size"):
        calibration_split(split_of(50), 0)


def test_calibration_inputs_tensor_loader_and_split_agree() -> None:
    split = split_of(64)
    inputs = split.inputs
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(inputs), batch_size=10)
    by_tensor = calibration_data(inputs, "static-int8", size=64)
    by_loader = calibration_data(loader, "static-int8", size=64)
    by_split = calibration_data(split, "static-int8", size=64)
    assert by_tensor.size == by_loader.size == by_split.size == 64
    assert by_tensor.fingerprint == by_split.fingerprint
    assert torch.equal(torch.cat(list(by_loader.batches)), inputs)
    assert calibration_data(loader, "static-int8", size=25).size == 25
    assert calibration_data(split_of(400), "static-int8").size == 400


def test_calibration_errors() -> None:
    assert needs_calibration("static-int8") and not needs_calibration("uniform-int8")
    with pytest.raises(InputError) as unused:
        compress(ConvNet().eval(), "uniform-int8", calibration=torch.zeros(2, 3, 8, 8))
    assert str(unused.value).startswith(MSG_CALIBRATION_UNUSED.split("{")[0])
    with pytest.raises(CompressionError, match="needs calibration data"):
        compress(ConvNet().eval(), "static-int8")
    with pytest.raises(InputError, match="got str"):
        compress(ConvNet().eval(), "static-int8", calibration="images/")
