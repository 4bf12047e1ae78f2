"""Weight-only backends: optimum-quanto and HQQ on the CPU; the CUDA-only ones say why not."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pytest_fairquant.compression import compress, compression_info, compression_methods
from pytest_fairquant.errors import MethodUnavailable

torch.set_num_threads(1)


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)).eval()


def cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 64, 10)
    ).eval()


@pytest.mark.parametrize(("method_id", "ratio"), [("quanto-int8", 3.5), ("quanto-int4", 5.0)])
def test_quanto_compresses_linear_and_conv(method_id: str, ratio: float) -> None:
    pytest.importorskip("optimum.quanto")
    model = cnn()
    variant = compress(model, method_id)
    info = compression_info(variant)
    assert sorted(info.converted) == ["0", "3"]
    assert info.compressed_share > 0.99
    assert info.size_ratio > ratio
    x = torch.rand(8, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(variant(x), model(x), atol=0.1)


def test_quanto_skip_keeps_the_layer() -> None:
    pytest.importorskip("optimum.quanto")
    info = compression_info(compress(cnn(), "quanto-int8", skip=["3"]))
    assert info.converted == ("0",)
    # The layer the skip list kept is named as skipped, not as one the method cannot take.
    assert info.share_warning == (
        "quanto-int8: 1.4% of weights quantized (0 only; skipped as asked: 3): "
        "the other parameters untouched"
    )


def test_hqq_int4_on_linear_layers() -> None:
    pytest.importorskip("hqq")
    model = mlp()
    variant = compress(model, "hqq-int4")
    info = compression_info(variant)
    assert sorted(info.converted) == ["0", "2"]
    # 4-bit weights plus one float scale and zero per 64 weights: about 1/5 of float32.
    assert 4.0 < info.size_ratio < 8.0
    x = torch.randn(8, 64)
    with torch.no_grad():
        assert torch.allclose(variant(x), model(x), atol=0.2)


@pytest.mark.parametrize("method_id", ["torchao-int4-weight", "gptq-int4"])
def test_cuda_only_methods_say_why_on_the_cpu(method_id: str) -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    status = {s.id: s for s in compression_methods()}[method_id]
    assert not status.available and status.reason is not None and "CUDA" in status.reason
    with pytest.raises(MethodUnavailable, match="CUDA"):
        compress(mlp(), method_id)
