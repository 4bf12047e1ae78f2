"""static-int8 (torchao PT2E) and the ONNX Runtime variants on real models.

resnet18 with random weights (no download) and the trained digits CNN of
examples/vision_digits (trained once, cached under the example's .fairquant_cache).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from models import vision_digits
from torch import nn

from pytest_fairquant import assert_no_bias_amplification
from pytest_fairquant.compression import (
    MSG_NOT_EXPORTABLE,
    calibration_split,
    compress,
    compression_info,
)
from pytest_fairquant.errors import CompressionError
from pytest_fairquant.evaluate import predict

pytest.importorskip("torchao.quantization.pt2e.quantize_pt2e")
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def resnet18() -> nn.Module:
    import torchvision

    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).eval()


@pytest.fixture(scope="module")
def digits() -> tuple[nn.Module, object]:
    example = vision_digits()
    return example.load_model(), example.load_split()


def accuracy(model: nn.Module, split: object) -> float:
    preds = predict(model, split, device="cpu", noise_check=0)
    return float(np.mean(preds.pred == split.labels))


def conv_and_linear(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def test_resnet18_static_int8_quantizes_every_conv_and_linear(resnet18: nn.Module) -> None:
    torch.manual_seed(1)
    variant = compress(resnet18, "static-int8", calibration=torch.randn(8, 3, 64, 64))
    info = compression_info(variant)
    layers = conv_and_linear(resnet18)
    assert len(layers) == 21  # 20 Conv2d + fc
    assert sorted(info.converted) == sorted(layers)
    assert info.skipped == ()
    assert info.compressed_share > 0.99 and info.share_warning is None
    assert info.details["calibration"]["size"] == 8
    assert info.details["observers"] == {"HistogramObserver": 21, "PerChannelMinMaxObserver": 21}
    assert info.bytes_after < info.bytes_before / 3.5  # int8 weights, float scales
    x = torch.randn(3, 3, 64, 64)  # another batch size than the export example
    with torch.no_grad():
        assert variant(x).shape == (3, 1000)


def test_unexportable_model_names_the_unsupported_operation() -> None:
    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.fc(x)
            if y.sum() > 0:
                return y
            return -y

    with pytest.raises(CompressionError) as err:
        compress(Branchy().eval(), "static-int8", calibration=torch.randn(4, 4))
    text = str(err.value)
    assert text.startswith(MSG_NOT_EXPORTABLE.split("{")[0])
    assert "Data-dependent branching" in text and "if y.sum() > 0:" in text


def test_digits_static_int8_keeps_accuracy_and_int2_does_not(digits: tuple) -> None:
    model, split = digits
    calibration, evaluation = calibration_split(split, 256)
    dense = accuracy(model, evaluation)
    static = compress(model, "static-int8", calibration=calibration)
    assert compression_info(static).details["calibration"]["size"] == 256
    assert abs(accuracy(static, evaluation) - dense) <= 0.02
    assert accuracy(compress(model, "uniform-int2"), evaluation) < dense - 0.2


@pytest.mark.parametrize("method_id", ["onnx-int8-static", "onnx-int8-dynamic"])
def test_digits_onnx_variants_run_through_predict_and_the_gate(
    digits: tuple, method_id: str
) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    model, split = digits
    calibration, evaluation = calibration_split(split, 128)
    variant = compress(model, method_id, calibration=calibration)
    info = compression_info(variant)
    assert info.details["float_export_max_abs_diff"] <= 1e-4
    assert info.details["execution_provider"] == "CPUExecutionProvider"
    assert info.details["opset"] == 18 and info.details["onnxruntime"]
    assert sorted(info.converted) == sorted(conv_and_linear(model))
    assert abs(accuracy(variant, evaluation) - accuracy(model, evaluation)) <= 0.02
    assert_no_bias_amplification(
        model, variant, evaluation, attribute="marker", gap="fvo", tolerance=0.10
    )


def test_float_onnx_export_matches_torch(resnet18: nn.Module) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from pytest_fairquant.compression.onnx import _export, _max_diff

    x = torch.randn(4, 3, 64, 64)
    assert _max_diff(resnet18, _export(resnet18, x, 18, "onnx-int8-static").model_bytes, x) <= 1e-4


def test_onnx_variant_of_a_model_with_several_outputs() -> None:
    """open_clip's CLIP.forward(image) returns (features, None, logit scale): the export drops
    the None, and the float check pairs the remaining tensors in order."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")

    class TwoHeads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(8, 4)
            self.scale = nn.Parameter(torch.tensor(2.0))

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None, torch.Tensor]:
            return self.fc(x), None, self.scale.exp()

    torch.manual_seed(0)
    model = TwoHeads().eval()
    variant = compress(model, "onnx-int8-dynamic", calibration=torch.randn(16, 8))
    assert compression_info(variant).details["float_export_max_abs_diff"] <= 1e-4
    x = torch.randn(3, 8)
    with torch.no_grad():
        features, scale = variant(x)
        assert torch.allclose(features, model(x)[0], atol=0.05)
        assert torch.allclose(scale, model(x)[2])


@pytest.mark.parametrize("method_id", ["onnx-int8-static", "onnx-int8-dynamic"])
def test_onnx_int8_does_not_saturate_on_cpus_without_vnni(method_id: str) -> None:
    """uint8 activations × int8 weights run on VPMADDUBSW on AVX2 CPUs without VNNI, whose
    int16 pair sums clamp (onnxruntime's quantization docs): full-range weights gave errors of
    0.92 (static) and 0.60 (dynamic) on this Linear's outputs (up to 1.6) here, 0.02 with 7-bit
    ones, and a VNNI CPU would not clamp. reduce_range (7-bit weights) is the
    documented remedy, on by default, so the variant's predictions do not depend on the CPU."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 4)).eval()
    x = torch.randn(64, 8)  # the calibration batch: static ranges clip nothing on it
    variant = compress(model, method_id, calibration=x)
    assert compression_info(variant).params["reduce_range"] is True
    with torch.no_grad():
        assert float((variant(x) - model(x)).abs().max()) < 0.05


def tiny_clip() -> nn.Module:
    """open_clip's CLIP at toy size: its image tower has ViT-B-32's layer kinds (patch Conv2d,
    nn.MultiheadAttention with a packed in_proj_weight, MLP Linears, the bare ``proj``)."""
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    torch.manual_seed(0)
    vision = CLIPVisionCfg(layers=2, width=64, head_width=32, patch_size=8, image_size=32)
    text = CLIPTextCfg(context_length=16, vocab_size=100, width=32, heads=2, layers=1)
    return CLIP(embed_dim=32, vision_cfg=vision, text_cfg=text).eval()


def image_tower_weights(model: nn.Module) -> list[str]:
    from pytest_fairquant.compression._ops import weight_targets

    kinds = ("Linear", "Conv", "MultiheadAttention")
    return [name for name, _, _ in weight_targets(model.visual, kinds)]


@pytest.mark.parametrize("method_id", ["onnx-int8-static", "onnx-int8-dynamic"])
def test_onnx_clip_image_export_reports_every_renamed_weight_as_quantized(method_id: str) -> None:
    """The exporter folds the transposes of most transformer weights into constants named
    ``val_<n>`` (and the whole in_proj_weight, transposed), so matching ``<name>_quantized``
    found 3 of the image tower's 9 weights and a share of 20%. Attributed by value, every
    weight of the tower forward(image) runs is int8, the text tower (not in the graph) is
    neither converted nor skipped, and the share is of the parameters the graph holds."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    pytest.importorskip("open_clip")
    model = tiny_clip()
    variant = compress(model, method_id, calibration=torch.randn(8, 3, 32, 32))
    info = compression_info(variant)
    tower = ["visual." + name for name in image_tower_weights(model)]
    assert len(tower) == 9  # conv1 + 2 blocks x (in_proj, out_proj, c_fc, c_proj)
    assert set(tower) <= set(info.converted)
    assert "visual.proj" in info.converted  # a bare parameter, stored int8 as a MatMul weight
    assert info.skipped == ()
    visual = sum(p.numel() for p in model.visual.parameters())
    exported = info.details["exported_parameters"]
    assert exported["of"] == sum(p.numel() for p in model.parameters())
    assert visual <= exported["elements"] < exported["of"]  # + logit_scale, not the text tower
    assert info.compressed_share > 0.95 and info.share_warning is None


class CrossAttention(nn.Module):
    """Queries and keys differ, so nn.MultiheadAttention slices its packed in_proj_weight:
    the export folds the q rows into one constant and the k, v rows into another."""

    def __init__(self) -> None:
        super().__init__()
        self.q, self.kv = nn.Linear(16, 32), nn.Linear(16, 32)
        self.attn = nn.MultiheadAttention(32, 4, batch_first=True)
        self.head = nn.Linear(32, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keys = self.kv(x.flip(1))
        return self.head(self.attn(self.q(x), keys, keys, need_weights=False)[0].mean(1))


def test_onnx_static_finds_a_sliced_in_proj_weight_and_dynamic_says_it_stayed_float() -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from pytest_fairquant.compression.onnx import SKIP_FLOAT

    torch.manual_seed(0)
    model, x = CrossAttention().eval(), torch.randn(8, 5, 16)
    static = compression_info(compress(model, "onnx-int8-static", calibration=x))
    assert sorted(static.converted) == ["attn.in_proj_weight", "attn.out_proj", "head", "kv", "q"]
    assert static.skipped == () and "int8_tensors_unattributed" not in static.details
    # quantize_dynamic takes MatMul weights that are initializers; the q, k, v slices are
    # computed from the float in_proj_weight at run time (a Split), so it is float.
    dynamic = compression_info(compress(model, "onnx-int8-dynamic", calibration=x))
    assert [(s.name, s.reason) for s in dynamic.skipped] == [("attn.in_proj_weight", SKIP_FLOAT)]
    weights = sum(p.numel() for n, p in model.named_parameters() if n.endswith("weight"))
    in_proj = model.attn.in_proj_weight.numel()
    total = sum(p.numel() for p in model.parameters())
    assert dynamic.compressed_share == pytest.approx((weights - in_proj) / total)


@pytest.mark.parametrize("method_id", ["onnx-int8-static", "onnx-int8-dynamic"])
def test_onnx_attributes_the_weights_of_cloned_encoder_layers(method_id: str) -> None:
    """nn.TransformerEncoder's layers are clones until trained: the exporter stores their
    identical out_proj weights once and folds each layer's transposes apart."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
    encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    model = nn.Sequential(encoder, nn.Flatten(), nn.Linear(5 * 32, 3)).eval()
    info = compression_info(compress(model, method_id, calibration=torch.randn(8, 5, 32)))
    blocks = ("self_attn.in_proj_weight", "self_attn.out_proj", "linear1", "linear2")
    want = [f"0.layers.{i}.{b}" for i in range(2) for b in blocks] + ["2"]
    assert sorted(info.converted) == sorted(want)
    assert info.skipped == () and "int8_tensors_unattributed" not in info.details
    assert info.compressed_share > 0.95
