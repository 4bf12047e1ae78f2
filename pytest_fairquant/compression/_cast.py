"""The half-precision wrapper: a model cast to fp16/bf16 that still takes and returns float32.

Evaluation code feeds float32 batches and compares float32 logits; the wrapper casts floating
inputs to the model's dtype and floating outputs back to float32, so no caller needs a special
case. Besides ``forward``, every public method of the wrapped model (``encode_image``,
``encode_text``, ``get_image_features``...) is reachable through the wrapper with the same casts.
Integer inputs (token ids, masks) pass unchanged.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import torch
from torch import nn

from ._ops import tree_map_tensors


class HalfPrecisionModel(nn.Module):
    """``module`` cast to ``dtype``, with float32 in and out (see the module docstring)."""

    def __init__(self, module: nn.Module, dtype: torch.dtype) -> None:
        super().__init__()
        self.module = module.to(dtype)
        self.cast_dtype = dtype
        self.train(module.training)

    def _cast_in(self, value: Any) -> Any:
        dtype = self.cast_dtype

        def cast(t: torch.Tensor) -> torch.Tensor:
            return t.to(dtype) if t.is_floating_point() else t

        return tree_map_tensors(value, cast)

    @staticmethod
    def _cast_out(value: Any) -> Any:
        def cast(t: torch.Tensor) -> torch.Tensor:
            return t.float() if t.is_floating_point() else t

        return tree_map_tensors(value, cast)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self._cast_out(self.module(*self._cast_in(list(args)), **self._cast_in(kwargs)))

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            modules = self.__dict__.get("_modules")
            # Dunder lookups (copy, pickle) and a half-built instance must not recurse inward.
            if modules is None or "module" not in modules or name.startswith("__"):
                raise
            attr = getattr(modules["module"], name)
        if not inspect.ismethod(attr) or isinstance(attr, nn.Module):
            return attr

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            return self._cast_out(attr(*self._cast_in(list(args)), **self._cast_in(kwargs)))

        return call
