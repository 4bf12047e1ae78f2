"""Calibration data for the methods that observe activations (``static-int8``, ``onnx-int8-static``).

Two pieces:

- :func:`calibration_split` carves a deterministic, stratified calibration part off a
  :class:`~pytest_fairquant.data.split.DemographicSplit` and returns it with the rest, so the
  samples a variant was calibrated on are never among those its gates evaluate.
- :func:`calibration_data` turns what ``compress(..., calibration=...)`` was given (a tensor
  batch, a DataLoader, a DemographicSplit, or a sequence of batches) into a fixed list of model
  input batches, at most ``size`` samples, with a fingerprint (part of the variant's cache key).

A split is subsampled stratified by label × every attribute (``DemographicSplit.subsample``,
seeded); a tensor is sampled at evenly spaced rows (a sorted dataset still gives every class);
a DataLoader is read in its own order until ``size`` samples (give it ``shuffle=False`` for a
reproducible calibration). This module imports torch only when its functions run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import CompressionError, InputError

if TYPE_CHECKING:
    import torch

    from ..data.split import DemographicSplit

#: Calibration samples a calibrating method takes by default.
DEFAULT_CALIBRATION_SIZE = 512
#: Samples per forward pass while calibrating.
CALIBRATION_BATCH = 32

MSG_NEEDS_CALIBRATION = (
    "{method_id!r} calibrates activation ranges and needs calibration data: call "
    "compress(model, {method_id!r}, calibration=...) with a tensor batch, a DataLoader or a "
    "DemographicSplit (the calibration part of calibration_split(split), disjoint from the "
    "evaluated samples)"
)
MSG_BAD_CALIBRATION = (
    "{method_id!r}: calibration= must be a tensor batch, a DataLoader, a DemographicSplit or a "
    "sequence of input batches; got {kind}"
)
MSG_EMPTY_CALIBRATION = "{method_id!r}: the calibration data holds no samples"
MSG_CALIBRATION_SIZE = (
    "calibration size must be a positive int (samples) or a float in (0, 1) (a fraction of "
    "the split); got {size!r}"
)
MSG_CALIBRATION_TOO_LARGE = (
    "a calibration part of {size} samples would leave {left} of the split's {n} samples to "
    "evaluate; ask for fewer calibration samples (calibration_size) or give a larger split"
)
MSG_NO_INPUTS = (
    "{method_id!r}: the DemographicSplit {name!r} given as calibration data has no inputs"
)


@dataclass(frozen=True)
class CalibrationData:
    """The calibration batches a method observes, and where they came from."""

    batches: tuple[Any, ...]
    size: int
    source: str
    fingerprint: str

    def describe(self) -> dict[str, Any]:
        """What the variant records about its calibration (``info.details["calibration"]``)."""
        return {"size": self.size, "source": self.source, "fingerprint": self.fingerprint}

    def example(self) -> Any:
        """The first batch (what export traces with)."""
        return self.batches[0]


def calibrating_methods() -> list[str]:
    """The built-in ids that take ``calibration=``."""
    from .methods import all_builtins

    return [p for p, factory, _ in all_builtins() if getattr(factory, "calibrates", False)]


def needs_calibration(method_id: str) -> bool:
    """Whether ``compress(model, method_id, calibration=...)`` wants calibration data."""
    from .registry import build_method

    return bool(getattr(build_method(method_id), "calibrates", False))


def _check_size(size: Any) -> None:
    ok_int = isinstance(size, int) and not isinstance(size, bool) and size > 0
    ok_float = isinstance(size, float) and 0.0 < size < 1.0
    if not (ok_int or ok_float):
        raise InputError(MSG_CALIBRATION_SIZE.format(size=size))


def calibration_split(
    split: DemographicSplit,
    size: int | float = DEFAULT_CALIBRATION_SIZE,
    *,
    seed: int = 0,
) -> tuple[DemographicSplit, DemographicSplit]:
    """``(calibration, evaluation)``: a stratified calibration part of ``split`` and the rest.

    The calibration part is ``split.subsample(size, seed=seed)`` (every label × attribute
    stratum keeps its share, deterministic); the evaluation part is every other sample, in the
    split's order. Both are subsets of ``split`` (inputs are not copied). The dense model and
    every variant are then evaluated on ``evaluation`` only.
    """
    from ..data.split import DemographicSplit

    if not isinstance(split, DemographicSplit):
        raise InputError(
            f"calibration_split() needs a DemographicSplit, got {type(split).__name__}"
        )
    _check_size(size)
    n = len(split)
    want = max(1, round(size * n)) if isinstance(size, float) else int(size)
    if want >= n:
        raise InputError(MSG_CALIBRATION_TOO_LARGE.format(size=want, left=max(0, n - want), n=n))
    # The same rows subsample() would take from the split, read off a label-and-attribute copy
    # whose positions are the split's rows (so no stratification rule is written twice).
    rows_only = DemographicSplit(
        split.labels, {k: v for k, v in split.attributes.items()}, name=split.name
    )
    chosen = rows_only.subsample(want, seed=seed).index
    rest = np.setdiff1d(np.arange(n, dtype=np.int64), chosen, assume_unique=True)
    return split.subset(chosen), split.subset(rest)


def _digest(batches: Sequence[Any]) -> str:
    import torch

    h = hashlib.sha256(b"fairquant-calibration-v1")

    def feed(value: Any) -> None:
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu().contiguous()
            h.update(f"{tuple(t.shape)}:{t.dtype}".encode())
            h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        elif isinstance(value, dict):
            for key in sorted(value):
                h.update(str(key).encode())
                feed(value[key])
        elif isinstance(value, (list, tuple)):
            for item in value:
                feed(item)
        else:
            h.update(repr(value).encode())

    for batch in batches:
        feed(batch)
    return h.hexdigest()[:32]


def _collate(items: Any) -> Any:
    """A split's list of per-sample inputs as one batch (stacked tensors, dicts key by key)."""
    import torch

    if isinstance(items, torch.Tensor):
        return items
    if isinstance(items, np.ndarray):
        return torch.from_numpy(items)
    items = list(items)
    first = items[0]
    if isinstance(first, torch.Tensor):
        return torch.stack(items)
    if isinstance(first, np.ndarray):
        return torch.from_numpy(np.stack(items))
    if isinstance(first, dict):
        return {k: _collate([item[k] for item in items]) for k in first}
    return items


def _batch_length(batch: Any) -> int:
    if isinstance(batch, dict):
        return _batch_length(next(iter(batch.values())))
    shape = getattr(batch, "shape", None)
    return int(shape[0]) if shape is not None and len(shape) else len(batch)


def _take(batch: Any, count: int) -> Any:
    if isinstance(batch, dict):
        return {k: _take(v, count) for k, v in batch.items()}
    return batch[:count]


def _loader_inputs(batch: Any) -> Any:
    """The model input of one DataLoader batch: ``x`` of ``(x, y)``, else the batch itself."""
    if isinstance(batch, (tuple, list)) and len(batch) >= 1 and not isinstance(batch[0], str):
        return batch[0]
    return batch


def _from_split(split: DemographicSplit, size: int, method_id: str) -> tuple[list[Any], str]:
    if not split.has_inputs:
        raise CompressionError(MSG_NO_INPUTS.format(method_id=method_id, name=split.name))
    part = split if len(split) <= size else split.subsample(size)
    batches = []
    for start in range(0, len(part), CALIBRATION_BATCH):
        rows = np.arange(start, min(start + CALIBRATION_BATCH, len(part)), dtype=np.int64)
        batches.append(_collate(part.input_batch(rows)))
    return batches, f"DemographicSplit {split.name!r} ({len(part)} of {len(split)} samples)"


def _from_tensor(batch: torch.Tensor, size: int) -> tuple[list[Any], str]:
    import torch

    n = int(batch.shape[0])
    if n > size:  # evenly spaced rows: deterministic, and spread over a sorted dataset
        rows = torch.from_numpy(np.unique(np.linspace(0, n - 1, size).round().astype(np.int64)))
        batch = batch[rows]
    return list(torch.split(batch, CALIBRATION_BATCH)), f"tensor of {n} samples"


def _from_batches(batches: Iterable[Any], size: int, kind: str) -> tuple[list[Any], str]:
    taken: list[Any] = []
    total = 0
    iterator: Iterator[Any] = iter(batches)
    for raw in iterator:
        inputs = _collate(_loader_inputs(raw)) if kind == "DataLoader" else _collate(raw)
        count = _batch_length(inputs)
        if total + count > size:
            inputs, count = _take(inputs, size - total), size - total
        if count:
            taken.append(inputs)
            total += count
        if total >= size:
            break
    return taken, f"{kind} ({total} samples)"


def calibration_data(
    calibration: Any, method_id: str, *, size: int | None = None
) -> CalibrationData:
    """At most ``size`` calibration samples as a fixed list of batches (see the module docstring)."""
    import torch

    from ..data.split import DemographicSplit

    limit = DEFAULT_CALIBRATION_SIZE if size is None else int(size)
    if calibration is None:
        raise CompressionError(MSG_NEEDS_CALIBRATION.format(method_id=method_id))
    if isinstance(calibration, DemographicSplit):
        batches, source = _from_split(calibration, limit, method_id)
    elif isinstance(calibration, torch.Tensor):
        batches, source = _from_tensor(calibration, limit)
    elif isinstance(calibration, np.ndarray):
        batches, source = _from_tensor(torch.from_numpy(calibration), limit)
    elif isinstance(calibration, torch.utils.data.DataLoader):
        batches, source = _from_batches(calibration, limit, "DataLoader")
    elif isinstance(calibration, (list, tuple)):
        batches, source = _from_batches(calibration, limit, "sequence of batches")
    else:
        raise InputError(
            MSG_BAD_CALIBRATION.format(method_id=method_id, kind=type(calibration).__name__)
        )
    total = sum(_batch_length(b) for b in batches)
    if total == 0:
        raise InputError(MSG_EMPTY_CALIBRATION.format(method_id=method_id))
    return CalibrationData(tuple(batches), total, source, _digest(batches))


def require_calibration(calibration: CalibrationData | None, method_id: str) -> CalibrationData:
    """``calibration``, or the error saying the method needs it (``apply`` called directly)."""
    if calibration is None:
        raise CompressionError(MSG_NEEDS_CALIBRATION.format(method_id=method_id))
    return calibration
