"""Compression on real architectures: torchvision resnet18, open_clip ViT-B-32, HF CLIPModel.

All randomly initialised (no downloads). The ViT-B-32 run of every method (about 45 s on one
CPU thread) is marked slow for the default suite's budget; its torch-dynamic-int8 check is not.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from torch import nn

from pytest_fairquant.compression import (
    MSG_NOT_LOAD_TIME,
    compress,
    load_quantized_pretrained,
)
from pytest_fairquant.errors import InputError
from pytest_fairquant.fingerprint import model_fingerprint

torch.set_num_threads(1)

REAL_METHODS = (
    "torch-dynamic-int8",
    "uniform-int8",
    "global-magnitude-0.5",
    "nm-2:4",
    "bnb-int8",
    "bnb-nf4",
)


def checksum(model: nn.Module) -> str:
    h = hashlib.sha256()
    for name, value in sorted(model.state_dict().items()):
        h.update(name.encode() + value.detach().cpu().numpy().tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def resnet18() -> nn.Module:
    import torchvision

    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).eval()


@pytest.fixture(scope="module")
def vit_b32() -> nn.Module:
    import open_clip

    torch.manual_seed(0)
    return open_clip.create_model("ViT-B-32", pretrained=None).eval()


def linear_names(model: nn.Module) -> set[str]:
    return {n for n, m in model.named_modules() if isinstance(m, nn.Linear)}


def check_variant(dense: nn.Module, variant: nn.Module, method_id: str, before: str) -> None:
    info = variant.fairquant_info
    assert checksum(dense) == before, "the user's model changed"
    assert info.method_id == method_id and info.base_fingerprint == model_fingerprint(dense)
    if info.family == "pruning":
        assert info.sparsity == pytest.approx(0.5, abs=0.01)
        assert info.bytes_after == info.bytes_before
    elif method_id == "uniform-int8":
        assert info.weight_bits == 8 and info.bytes_after == info.bytes_before
    else:
        assert info.bytes_after < info.bytes_before
        # Every Linear is either converted or listed as skipped with a reason.
        skipped = {s.name for s in info.skipped}
        assert linear_names(dense) <= set(info.converted) | skipped


@pytest.mark.parametrize("method_id", REAL_METHODS)
def test_resnet18(resnet18: nn.Module, method_id: str) -> None:
    before = checksum(resnet18)
    variant = compress(resnet18, method_id)
    check_variant(resnet18, variant, method_id, before)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out, ref = variant(x), resnet18(x)
    assert out.shape == (2, 1000) and torch.isfinite(out).all()
    if method_id in ("torch-dynamic-int8", "uniform-int8", "bnb-int8"):
        assert float((out - ref).norm() / ref.norm()) < 0.05
    info = variant.fairquant_info
    if method_id in ("global-magnitude-0.5", "nm-2:4", "uniform-int8"):
        assert len(info.converted) == 21  # 20 convolutions and the fc layer
    else:
        assert info.converted == ("fc",)  # Linear-only backends: convolutions are out of scope


def _vit_check(vit: nn.Module, method_id: str) -> None:
    before = checksum(vit)
    variant = compress(vit, method_id)
    check_variant(vit, variant, method_id, before)
    image = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    tokens = torch.randint(0, 49408, (2, 77), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.isfinite(variant.encode_image(image)).all()
        text = variant.encode_text(tokens)
        assert torch.isfinite(text).all()
        if method_id in ("torch-dynamic-int8", "bnb-int8", "uniform-int8"):
            # open_clip casts tokens to the dtype of the first MLP weight: the variant marks
            # its swapped layers with int8_original_dtype so text stays in float32.
            cosine = nn.functional.cosine_similarity(text, vit.encode_text(tokens), dim=-1)
            assert (cosine > 0.95).all(), cosine


def test_vit_b32_torch_dynamic_reports_attention_skips(vit_b32: nn.Module) -> None:
    _vit_check(vit_b32, "torch-dynamic-int8")
    info = compress(vit_b32, "torch-dynamic-int8").fairquant_info
    skipped = {s.name: s.reason for s in info.skipped}
    # 12 visual + 12 text residual blocks, each with a fused in-projection and an out_proj.
    in_proj = [n for n in skipped if n.endswith("attn.in_proj_weight")]
    out_proj = [n for n in skipped if n.endswith("attn.out_proj")]
    assert len(in_proj) == len(out_proj) == 24
    assert all("nn.MultiheadAttention" in r for r in skipped.values())
    assert "visual.transformer.resblocks.0.mlp.c_fc" in info.converted


@pytest.mark.slow  # the default suite's 10-minute budget on 2 cores (README: how to run it)
@pytest.mark.parametrize("method_id", [m for m in REAL_METHODS if m != "torch-dynamic-int8"])
def test_vit_b32(vit_b32: nn.Module, method_id: str) -> None:
    _vit_check(vit_b32, method_id)


def write_tiny_clip(directory: Path, width: int) -> Path:
    from transformers import CLIPConfig, CLIPModel

    tower = {
        "hidden_size": width,
        "intermediate_size": 2 * width,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
    }
    config = CLIPConfig(
        text_config={**tower, "max_position_embeddings": 16, "vocab_size": 100},
        vision_config={**tower, "image_size": 16, "patch_size": 8},
        projection_dim=width,
    )
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(directory)
    return directory


@pytest.mark.parametrize("width", [64, 40])
@pytest.mark.parametrize("method_id", ["bnb-int8", "bnb-nf4"])
def test_hf_clip_quantized_at_load_time(tmp_path: Path, method_id: str, width: int) -> None:
    """Paper 000's route; width 40 checks layers the CPU 4-bit kernel cannot repack."""
    import bitsandbytes as bnb
    from transformers import CLIPModel

    path = write_tiny_clip(tmp_path / "clip", width)
    dense = CLIPModel.from_pretrained(path).eval()
    variant = load_quantized_pretrained(CLIPModel, str(path), method_id).eval()
    layer_type = bnb.nn.Linear8bitLt if method_id == "bnb-int8" else bnb.nn.Linear4bit
    quantized = [n for n, m in variant.named_modules() if isinstance(m, layer_type)]
    assert quantized
    info = variant.fairquant_info
    assert set(quantized) <= set(info.converted)
    assert info.params["load_time"] is True and info.bytes_after < info.bytes_before
    assert info.base_fingerprint == model_fingerprint(dense)
    assert {"transformers", "accelerate", "bitsandbytes"} <= set(info.versions)
    pixels = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got = variant.get_image_features(pixel_values=pixels)
        want = dense.get_image_features(pixel_values=pixels)
    got = getattr(got, "pooler_output", got)
    want = getattr(want, "pooler_output", want)
    cosine = torch.nn.functional.cosine_similarity(got.float(), want, dim=-1)
    assert (cosine > 0.9).all()


def test_load_time_rejects_methods_it_cannot_apply(tmp_path: Path) -> None:
    from transformers import CLIPModel

    with pytest.raises(InputError) as err:
        load_quantized_pretrained(CLIPModel, str(tmp_path), "uniform-int8")
    assert str(err.value) == MSG_NOT_LOAD_TIME.format(
        method_id="uniform-int8", supported="bnb-int8, bnb-nf4, bnb-fp4"
    )


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("method_id", ["bnb-int8", "bnb-nf4", "bnb-fp4"])
def test_bnb_on_cuda(resnet18: nn.Module, method_id: str) -> None:
    dense = resnet18.to("cuda")
    variant = compress(dense, method_id)
    assert variant.fairquant_info.device.startswith("cuda")
    x = torch.randn(2, 3, 64, 64, device="cuda")
    with torch.no_grad():
        out, ref = variant(x), dense(x)
    assert float((out - ref).norm() / ref.norm()) < 0.1
    resnet18.to("cpu")
