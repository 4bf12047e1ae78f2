"""Every built-in compression method on small models: effect, metadata, the user's model intact."""

from __future__ import annotations

import hashlib
import math
from importlib.metadata import version

import numpy as np
import pytest
import torch
from torch import nn

from pytest_fairquant.compression import (
    CompressionInfo,
    compress,
    compression_info,
    storage_bytes,
)
from pytest_fairquant.fingerprint import model_fingerprint

torch.set_num_threads(1)

EVERY_ID = (
    "bnb-int8",
    "bnb-nf4",
    "bnb-fp4",
    "torch-dynamic-int8",
    "torchao-int8-weight",
    "torchao-int8-dynamic",
    "uniform-int16",
    "uniform-int8",
    "uniform-int4",
    "uniform-int2",
    "uniform-int5",
    "fp16",
    "bf16",
    "kmeans-16",
    "global-magnitude-0.9",
    "l1-unstructured-0.5",
    "ln-structured-0.5",
    "nm-2:4",
    "nm-1:8",
)
INT8_IDS = ("bnb-int8", "torch-dynamic-int8", "torchao-int8-weight", "torchao-int8-dynamic")


class TinyNet(nn.Module):
    """Conv, attention and Linear layers: every kind of weight the methods touch."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.fc = nn.Linear(8, 64)
        self.head = nn.Linear(64, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x).flatten(2).transpose(1, 2)
        h = self.attn(h, h, h, need_weights=False)[0].mean(1)
        return self.head(torch.relu(self.fc(h)))


def checksum(model: nn.Module) -> str:
    h = hashlib.sha256()
    for name, value in sorted(model.state_dict().items()):
        h.update(name.encode() + value.detach().cpu().numpy().tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def tiny() -> TinyNet:
    torch.manual_seed(0)
    return TinyNet().eval()


@pytest.fixture(scope="module")
def batch() -> torch.Tensor:
    return torch.randn(16, 3, 8, 8, generator=torch.Generator().manual_seed(1))


def rel_error(model: nn.Module, ref: nn.Module, x: torch.Tensor) -> float:
    with torch.no_grad():
        out, want = model(x), ref(x)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    return float((out - want).norm() / want.norm())


@pytest.mark.parametrize("method_id", EVERY_ID)
def test_every_method_runs_and_leaves_the_original_untouched(
    method_id: str, tiny: TinyNet, batch: torch.Tensor
) -> None:
    before = checksum(tiny)
    variant = compress(tiny, method_id)
    assert checksum(tiny) == before
    assert variant is not tiny
    with torch.no_grad():
        out = variant(batch)
    assert out.shape == (16, 5) and torch.isfinite(out).all()
    info = compression_info(variant)
    assert isinstance(info, CompressionInfo) and info.method_id == method_id
    assert info.base_fingerprint == model_fingerprint(tiny)
    assert info.bytes_before == sum(t.numel() * 4 for t in tiny.state_dict().values())
    assert info.converted and info.wall_time_s >= 0 and info.device == "cpu"
    assert info.versions["torch"] == version("torch")
    parts = info.fingerprint_parts()
    assert parts[:2] == (info.base_fingerprint, method_id)
    # The prediction cache keys variants through these parts, not through quantized tensors.
    assert model_fingerprint(variant) != model_fingerprint(tiny)
    assert info.to_dict()["method_id"] == method_id


@pytest.mark.parametrize("method_id", (*INT8_IDS, "uniform-int8", "uniform-int16", "fp16", "bf16"))
def test_eight_bit_and_wider_stay_close_to_dense(
    method_id: str, tiny: TinyNet, batch: torch.Tensor
) -> None:
    assert rel_error(compress(tiny, method_id), tiny, batch) < 0.03


def test_two_bit_is_visibly_worse_than_eight_bit(tiny: TinyNet, batch: torch.Tensor) -> None:
    errors = {b: rel_error(compress(tiny, f"uniform-int{b}"), tiny, batch) for b in (2, 4, 8)}
    assert errors[2] > 5 * errors[8] and errors[2] > errors[4] > errors[8]


def test_uniform_matches_the_min_max_formula_in_numpy(tiny: TinyNet) -> None:
    for bits, per_channel in ((4, False), (3, True)):
        variant = compress(tiny, "uniform", bits=bits, per_channel=per_channel)
        w = tiny.fc.weight.detach().double().numpy()
        rows = w if per_channel else w.reshape(1, -1)
        lo, hi = rows.min(1, keepdims=True), rows.max(1, keepdims=True)
        scale = (hi - lo) / (2**bits - 1)
        zero = np.round(-lo / scale)
        q = np.clip(np.round(rows / scale) + zero, 0, 2**bits - 1)
        want = ((q - zero) * scale).reshape(w.shape)
        np.testing.assert_allclose(variant.fc.weight.detach().numpy(), want, atol=1e-6)
        values_per_row = [np.unique(r).size for r in variant.fc.weight.detach().numpy()]
        assert max(values_per_row) <= 2**bits
        assert variant.fairquant_info.weight_bits == bits


def test_byte_counts_follow_the_storage_format(tiny: TinyNet) -> None:
    linear = {n: m for n, m in tiny.named_modules() if type(m) is nn.Linear}
    weights = sum(m.weight.numel() for m in linear.values())
    dense = storage_bytes(tiny)
    out_rows = sum(m.out_features for m in linear.values())
    int8 = compress(tiny, "bnb-int8").fairquant_info
    # int8 weights (1 byte) + one float32 absmax per output row instead of 4-byte floats.
    assert int8.bytes_after == dense - 4 * weights + weights + 4 * out_rows
    nf4 = compress(tiny, "bnb-nf4").fairquant_info
    blocks = sum(math.ceil(m.weight.numel() / 64) for m in linear.values())
    code = 2 * 16 * 4  # the 16-entry NF4 lookup table, float32, per layer
    assert nf4.bytes_after == dense - 4 * weights + weights // 2 + 4 * blocks + code
    dynamic = compress(tiny, "torch-dynamic-int8").fairquant_info
    # int8 weights plus one float64 scale and one int64 zero point per tensor.
    assert dynamic.bytes_after == dense - 3 * weights + 16 * len(linear)
    assert compress(tiny, "fp16").fairquant_info.bytes_after == dense // 2
    # Simulated (dequantized) PTQ keeps float storage and reports its nominal bits instead.
    uniform = compress(tiny, "uniform-int4").fairquant_info
    assert uniform.bytes_after == dense and uniform.weight_bits == 4
    assert int8.size_ratio > 1.5 and nf4.size_ratio > int8.size_ratio


def test_torch_dynamic_reports_the_attention_projections_it_skips(tiny: TinyNet) -> None:
    info = compress(tiny, "torch-dynamic-int8").fairquant_info
    assert info.converted == ("fc", "head")
    skipped = {s.name: s.reason for s in info.skipped}
    assert set(skipped) == {"attn.in_proj_weight", "attn.out_proj"}
    assert all("nn.MultiheadAttention" in r for r in skipped.values())


def test_skip_list_leaves_named_linears_in_float(tiny: TinyNet) -> None:
    for method_id in ("bnb-nf4", "torchao-int8-weight", "torch-dynamic-int8", "uniform-int4"):
        variant = compress(tiny, method_id, skip=["head"])
        assert type(variant.head) is nn.Linear
        assert torch.equal(variant.head.weight, tiny.head.weight)
        assert "head" not in variant.fairquant_info.converted
    skipped = compress(tiny, "bnb-int8", skip="head").fairquant_info.skipped
    assert ("head", "in the skip list") in {(s.name, s.reason) for s in skipped}


def test_bnb_4bit_options_reach_the_layers(tiny: TinyNet) -> None:
    variant = compress(
        tiny, "bnb-fp4", blocksize=128, compress_statistics=True, compute_dtype="bfloat16"
    )
    state = variant.fc.weight.quant_state
    assert (state.blocksize, state.quant_type, state.nested) == (128, "fp4", True)
    assert variant.fc.compute_dtype == torch.bfloat16
    assert compress(tiny, "bnb-nf4").fc.weight.quant_state.quant_type == "nf4"


def within_one_weight(module_sparsity: float, numel: int, target: float) -> bool:
    return abs(module_sparsity * numel - target * numel) <= 1


@pytest.mark.parametrize("sparsity", [0.3, 0.5, 0.9])
def test_unstructured_pruning_hits_the_requested_sparsity(tiny: TinyNet, sparsity: float) -> None:
    per_layer = compress(tiny, f"l1-unstructured-{sparsity}")
    info = per_layer.fairquant_info
    sizes = {n: w.numel() for n, w in _weights(tiny).items()}
    assert set(info.sparsity_by_module) == set(sizes)
    for name, measured in info.sparsity_by_module.items():
        assert within_one_weight(measured, sizes[name], sparsity)
    total = sum(sizes.values())
    glob = compress(tiny, f"global-magnitude-{sparsity}").fairquant_info
    assert abs(glob.sparsity * total - sparsity * total) <= 1
    # Permanent: no masks or *_orig parameters left behind.
    assert not any(k.endswith(("_mask", "_orig")) for k in per_layer.state_dict())


def test_global_magnitude_uses_one_threshold(tiny: TinyNet) -> None:
    variant = compress(tiny, "global-magnitude-0.7")
    kept = [w.abs()[w != 0] for w in _weights(variant).values()]
    dropped = [w.abs()[w == 0] for w in _weights(tiny).values()]
    smallest_kept = min(float(k.min()) for k in kept if k.numel())
    original = torch.cat([w.detach().abs().flatten() for w in _weights(tiny).values()])
    assert (original < smallest_kept).float().mean() == pytest.approx(0.7, abs=1 / original.numel())
    assert dropped  # the original had weights


def test_ln_structured_zeroes_whole_output_channels(tiny: TinyNet) -> None:
    variant = compress(tiny, "ln-structured-0.5")
    for name, w in _weights(variant).items():
        rows = w.reshape(w.shape[0], -1)
        zero_rows = (rows == 0).all(dim=1)
        assert int(zero_rows.sum()) == round(0.5 * w.shape[0]), name
        norms = _weights(tiny)[name].detach().reshape(w.shape[0], -1).norm(dim=1)
        assert norms[zero_rows].max() <= norms[~zero_rows].min()


@pytest.mark.parametrize(("n", "m"), [(2, 4), (1, 4), (3, 8)])
def test_nm_pattern_is_exact(n: int, m: int) -> None:
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(16, 6), nn.Conv2d(8, 4, 3), nn.Linear(10, 3))
    variant = compress(model, f"nm-{n}:{m}")
    for dense, pruned in ((model[0], variant[0]), (model[1], variant[1])):
        w = pruned.weight.detach()
        rows = (w.movedim(1, -1) if w.dim() > 2 else w).reshape(-1, w.shape[1])
        groups = rows.reshape(rows.shape[0], -1, m)
        assert ((groups != 0).sum(-1) == n).all()
        original = dense.weight.detach()
        orig_rows = original.movedim(1, -1) if original.dim() > 2 else original
        orig_groups = orig_rows.reshape(rows.shape[0], -1, m).abs()
        kept = groups != 0
        # every kept weight is at least as large as every dropped one in its group
        assert (
            orig_groups.masked_fill(~kept, float("inf")).amin(-1)
            >= orig_groups.masked_fill(kept, 0).amax(-1)
        ).all()
    # 10 input channels = two groups of 4 and a last group of 2 that keeps at most n.
    last = variant[2].weight.detach()[:, 8:]
    assert ((last != 0).sum(1) == min(n, 2)).all()


def test_kmeans_leaves_at_most_k_values_per_tensor(tiny: TinyNet, batch: torch.Tensor) -> None:
    for k in (2, 4, 16):
        variant = compress(tiny, f"kmeans-{k}")
        for name, w in _weights(variant).items():
            assert 1 < w.unique().numel() <= k, name
        assert variant.fairquant_info.weight_bits == math.log2(k)
    a, b = compress(tiny, "kmeans-8"), compress(tiny, "kmeans-8")
    assert all(
        torch.equal(x, y)
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )
    assert rel_error(compress(tiny, "kmeans-64"), tiny, batch) < rel_error(
        compress(tiny, "kmeans-2"), tiny, batch
    )


@pytest.mark.parametrize(
    ("method_id", "dtype"), [("fp16", torch.float16), ("bf16", torch.bfloat16)]
)
def test_half_precision_wrapper_takes_and_returns_float32(
    method_id: str, dtype: torch.dtype, tiny: TinyNet, batch: torch.Tensor
) -> None:
    variant = compress(tiny, method_id)
    assert {p.dtype for p in variant.parameters()} == {dtype}
    assert variant(batch).dtype == torch.float32

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(10, 4)
            self.proj = nn.Linear(4, 2)

        def encode_text(self, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"emb": self.proj(self.embed(tokens)), "ids": tokens}

    encoder = compress(Encoder(), method_id)
    out = encoder.encode_text(torch.tensor([[1, 2, 3]]))
    assert out["emb"].dtype == torch.float32 and out["ids"].dtype == torch.int64
    assert encoder.embed.weight.dtype == dtype  # attribute access reaches the wrapped model


def test_variant_keeps_training_flag_and_device(tiny: TinyNet) -> None:
    training = TinyNet().train()
    assert compress(training, "uniform-int8").training
    assert not compress(tiny, "fp16").training
    assert compress(tiny, "uniform-int8").fairquant_info.device == "cpu"


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    out = {}
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            out[name] = module.weight.detach()
        elif isinstance(module, nn.MultiheadAttention):
            out[f"{name}.in_proj_weight"] = module.in_proj_weight.detach()
    return out


@pytest.mark.parametrize(
    ("compute_dtype", "fused"), [("float32", False), ("float16", False), ("bfloat16", True)]
)
def test_a_4bit_layer_computes_in_its_compute_dtype_on_every_cpu(
    monkeypatch: pytest.MonkeyPatch, compute_dtype: str, fused: bool
) -> None:
    """bnb's AVX512-BF16 CPU kernel computes in bfloat16 whatever the layer asks for.

    On such a host a float32 NF4 variant predicted differently than on any other (the tabular
    example's verdicts changed with the CI machine); only a bfloat16 layer may take that kernel.
    The host here may lack the instructions, so bitsandbytes is told it has them.
    """
    import bitsandbytes.nn.modules as bnb_modules

    monkeypatch.setattr(bnb_modules, "has_avx512bf16", lambda: True)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32))
    variant = compress(model, "bnb-nf4", compute_dtype=compute_dtype)
    layers = [m for m in variant.modules() if isinstance(m, bnb_modules.Linear4bit)]
    assert len(layers) == 2
    assert [m.support_avx512bf16_for_cpu for m in layers] == [fused, fused]
