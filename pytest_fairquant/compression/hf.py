"""Quantization at load time for Hugging Face models (how paper 000 quantized CLIP).

``from_pretrained(..., quantization_config=BitsAndBytesConfig(...))`` builds the model with
bitsandbytes layers and quantizes each weight as it is loaded; transformers places it on CUDA
when available, else on the CPU (bitsandbytes ≥ 0.45 has CPU kernels). The variant carries a
:class:`CompressionInfo` like one made by :func:`compress`, with the dense checkpoint's bytes
measured by loading it unquantized first (the base fingerprint needs the dense weights anyway).
"""

from __future__ import annotations

import time
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from ..errors import InputError, MethodUnavailable
from .core import (
    CompressionInfo,
    _device,
    _diff,
    _method_code,
    _skip_list,
    _sparsity,
    _target_names,
    _unchanged,
    check_skip,
    compressed_share,
    low_share_message,
    storage_bytes,
    unchanged_error,
)
from .methods import guard_cpu_kernel
from .registry import build_method

if TYPE_CHECKING:
    from torch import nn

MSG_NOT_LOAD_TIME = (
    "{method_id!r} cannot be applied at load time; from_pretrained quantization supports "
    "{supported}. Load the model dense and call compress() instead."
)
LOAD_TIME_METHODS = ("bnb-int8", "bnb-nf4", "bnb-fp4")
_CONFIG_KEYS = {"quantization_config", "load_in_8bit", "load_in_4bit"}


def _bnb_config(method_id: str, params: dict[str, Any]) -> Any:
    import torch
    from transformers import BitsAndBytesConfig

    skip = list(params.get("skip", ())) or None
    if method_id == "bnb-int8":
        return BitsAndBytesConfig(  # type: ignore[no-untyped-call]
            load_in_8bit=True,
            llm_int8_threshold=params["threshold"],
            llm_int8_skip_modules=skip,
        )
    if params.get("blocksize", 64) != 64:
        raise InputError(
            f"{method_id!r}: transformers' BitsAndBytesConfig always uses blocksize 64; "
            "use compress() for another blocksize"
        )
    return BitsAndBytesConfig(  # type: ignore[no-untyped-call]
        load_in_4bit=True,
        bnb_4bit_quant_type=method_id.removeprefix("bnb-"),
        bnb_4bit_use_double_quant=params["compress_statistics"],
        bnb_4bit_compute_dtype=getattr(torch, params["compute_dtype"]),
        llm_int8_skip_modules=skip,
    )


def _skipped_by_transformers(name: str, key: str) -> bool:
    """Whether transformers leaves module ``name`` unconverted for the skip entry ``key``."""
    try:
        from transformers.quantizers.quantizers_utils import should_convert_module
    except ImportError:  # older transformers matched a substring of the module name
        return key in name
    return not should_convert_module(name, [key])


def load_quantized_pretrained(
    model_cls: Any, path_or_id: str, method_id: str, **kwargs: Any
) -> nn.Module:
    """``model_cls.from_pretrained(path_or_id, quantization_config=...)`` for a bnb method.

    ``kwargs`` are the method's parameters (``threshold``, ``compress_statistics``,
    ``compute_dtype``, ``skip``); anything else goes to ``from_pretrained`` (``device_map``,
    ``revision``...). Needs transformers, accelerate and bitsandbytes.
    """
    from ..fingerprint import model_fingerprint

    if method_id not in LOAD_TIME_METHODS:
        raise InputError(
            MSG_NOT_LOAD_TIME.format(method_id=method_id, supported=", ".join(LOAD_TIME_METHODS))
        )
    if _CONFIG_KEYS & set(kwargs):
        raise InputError(
            f"load_quantized_pretrained() builds the quantization config from {method_id!r}; "
            f"do not pass {sorted(_CONFIG_KEYS & set(kwargs))}"
        )
    method = build_method(method_id)
    accepted = set(method.params)
    method = build_method(method_id, {k: v for k, v in kwargs.items() if k in accepted})
    load_kwargs = {k: v for k, v in kwargs.items() if k not in accepted}
    ok, reason = method.available()
    for package in ("transformers", "accelerate"):
        try:
            version(package)
        except PackageNotFoundError:
            ok, reason = False, f"needs the package {package!r}; pip install {package}"
    if not ok:
        raise MethodUnavailable(method_id, reason or "unavailable")

    dense = model_cls.from_pretrained(path_or_id, **load_kwargs)
    skip = _skip_list(method)
    check_skip(dense, method_id, skip, _target_names(dense, method), _skipped_by_transformers)
    config = _bnb_config(method_id, dict(method.params))
    start = time.perf_counter()
    variant = model_cls.from_pretrained(path_or_id, quantization_config=config, **load_kwargs)
    wall = time.perf_counter() - start
    if method_id != "bnb-int8":
        from bitsandbytes.nn.modules import Linear4bit

        for layer in variant.modules():
            if isinstance(layer, Linear4bit):
                guard_cpu_kernel(layer, 64)
    if _unchanged(dense, variant):
        raise unchanged_error(dense, method_id)
    converted, skipped = _diff(dense, variant, method)
    sparsity, by_module = _sparsity(variant)
    versions = {**method.versions(), **{p: version(p) for p in ("transformers", "accelerate")}}  # type: ignore[attr-defined]
    share = compressed_share(dense, converted)
    share_warning = low_share_message(dense, method_id, "quantization", converted, share, skip)
    variant.fairquant_info = CompressionInfo(
        method_id=method_id,
        family="quantization",
        params={**method.params, "load_time": True},
        bytes_before=storage_bytes(dense),
        bytes_after=storage_bytes(variant),
        weight_bits=getattr(method, "weight_bits", None),
        sparsity=sparsity,
        sparsity_by_module=by_module,
        converted=converted,
        skipped=skipped,
        versions=versions,
        device=_device(variant),
        wall_time_s=wall,
        base_fingerprint=model_fingerprint(dense),
        method_code=_method_code(method),
        compressed_share=share,
        share_warning=share_warning,
    )
    if share_warning is not None:
        from .core import LOG

        LOG.warning(share_warning)
    loaded: nn.Module = variant
    return loaded
