"""Stable identities of models, used as prediction-cache keys.

A dense model is identified by its class and the bytes of every parameter and buffer. A variant
made by :func:`pytest_fairquant.compression.compress` is identified by the dense model's
fingerprint plus the method id, its parameters and the backend versions (recorded in its
``fairquant_info``), so a cached variant's predictions are found without hashing quantized
tensors, and change when the dense weights, the method or the library changes.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any


def _tensor_bytes(t: Any) -> bytes:
    import torch

    t = t.detach()
    try:
        return bytes(t.cpu().contiguous().view(torch.uint8).numpy().tobytes())
    except (RuntimeError, TypeError, NotImplementedError):
        # Tensor subclasses (torchao, bitsandbytes) that refuse a byte view still serialise.
        buf = io.BytesIO()
        torch.save(t.cpu(), buf)
        return buf.getvalue()


def model_fingerprint(model: Any) -> str:
    """A 32-hex-digit identity of ``model``: variant info when present, else class + weights."""
    info = getattr(model, "fairquant_info", None)
    explicit = getattr(model, "fairquant_fingerprint", None)
    h = hashlib.sha256()
    if isinstance(explicit, str):
        return explicit
    if info is not None and hasattr(info, "fingerprint_parts"):
        h.update(b"fairquant-variant-v1")
        h.update(repr(info.fingerprint_parts()).encode())
        return h.hexdigest()[:32]
    cls = type(model)
    h.update(f"fairquant-model-v1:{cls.__module__}.{cls.__qualname__}".encode())
    state = model.state_dict() if hasattr(model, "state_dict") else {}
    for name in sorted(state):
        value = state[name]
        h.update(name.encode() + b"\0")
        if hasattr(value, "detach"):
            h.update(f"{tuple(value.shape)}:{value.dtype}".encode())
            h.update(_tensor_bytes(value))
        else:
            h.update(repr(value).encode())
    return h.hexdigest()[:32]
