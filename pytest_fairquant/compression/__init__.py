"""Compression backends behind one small protocol (see ``docs/compression.md``).

``compress(model, method_id, **params)`` (``calibration=`` for the methods that observe
activations, ``finetune=FineTune(fn, data, steps)`` for recovery training) returns a compressed deep copy carrying a
:class:`CompressionInfo`; :func:`compression_methods` lists what is registered and whether it can
run here; third parties extend the registry with :func:`register_method` or the entry point
group ``pytest_fairquant.methods``. Importing this package does not import torch.
"""

from __future__ import annotations

from .calibration import (
    DEFAULT_CALIBRATION_SIZE,
    MSG_NEEDS_CALIBRATION,
    CalibrationData,
    calibration_split,
    needs_calibration,
)
from .core import (
    LOW_SHARE,
    MSG_CALIBRATION_UNUSED,
    MSG_LOW_SHARE,
    MSG_NO_INFO,
    MSG_NO_TARGETS,
    MSG_NOT_A_MODULE,
    MSG_UNCHANGED,
    MSG_UNKNOWN_SKIP,
    CompressionInfo,
    SkippedLayer,
    VariantPlan,
    compress,
    compression_info,
    plan_variant,
    storage_bytes,
)
from .finetune import FineTune
from .hf import MSG_NOT_LOAD_TIME, load_quantized_pretrained
from .methods import MSG_MISSING_PACKAGE, MSG_NEEDS_CUDA, MSG_NEEDS_FINETUNE
from .onnx import MSG_EXPORT_MISMATCH
from .pt2e import MSG_NOT_EXPORTABLE
from .registry import (
    ENTRY_POINT_GROUP,
    MSG_BAD_PARAMS,
    MSG_BROKEN_ENTRY_POINT,
    MSG_DUPLICATE,
    MSG_EXAMPLE_NEEDED,
    MSG_OUT_OF_RANGE,
    MSG_PARAM_CONFLICT,
    MSG_UNKNOWN_METHOD,
    CompressionMethod,
    MethodStatus,
    ParsedMethod,
    compression_methods,
    parse_method_id,
    register_method,
)

__all__ = [
    "DEFAULT_CALIBRATION_SIZE",
    "ENTRY_POINT_GROUP",
    "LOW_SHARE",
    "MSG_BAD_PARAMS",
    "MSG_BROKEN_ENTRY_POINT",
    "MSG_CALIBRATION_UNUSED",
    "MSG_DUPLICATE",
    "MSG_EXAMPLE_NEEDED",
    "MSG_EXPORT_MISMATCH",
    "MSG_LOW_SHARE",
    "MSG_MISSING_PACKAGE",
    "MSG_NEEDS_CALIBRATION",
    "MSG_NEEDS_CUDA",
    "MSG_NEEDS_FINETUNE",
    "MSG_NOT_A_MODULE",
    "MSG_NOT_EXPORTABLE",
    "MSG_NOT_LOAD_TIME",
    "MSG_NO_INFO",
    "MSG_NO_TARGETS",
    "MSG_OUT_OF_RANGE",
    "MSG_PARAM_CONFLICT",
    "MSG_UNCHANGED",
    "MSG_UNKNOWN_METHOD",
    "MSG_UNKNOWN_SKIP",
    "CalibrationData",
    "CompressionInfo",
    "CompressionMethod",
    "FineTune",
    "MethodStatus",
    "ParsedMethod",
    "SkippedLayer",
    "VariantPlan",
    "calibration_split",
    "compress",
    "compression_info",
    "compression_methods",
    "load_quantized_pretrained",
    "needs_calibration",
    "parse_method_id",
    "plan_variant",
    "register_method",
    "storage_bytes",
]
