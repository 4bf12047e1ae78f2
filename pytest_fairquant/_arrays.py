"""Turning user inputs (numpy arrays, torch tensors on any device, lists, pandas objects) into
numpy arrays, without importing torch or pandas.

Every public metric and statistic goes through :func:`as_array`, so the accepted types and the
error messages are the same everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import InputError

MSG_NOT_ARRAY = "{name} must be array-like (numpy, torch tensor, list); got {kind}"
MSG_EMPTY = "{name} is empty: pass at least one sample"
MSG_LENGTH = (
    "{name} has {got} samples but {ref_name} has {want}: they must be aligned sample by sample"
)
MSG_NONFINITE = "{name} contains {count} NaN or infinite values (first at index {first}); drop or fix those samples"
MSG_NOT_LABELS = (
    "{name} must hold integer class labels, but holds non-integer values such as {example!r}; "
    "pass predicted labels (e.g. probs.argmax(1)), or pass probabilities through the *_prob argument"
)
MSG_PROB_RANGE = "{name} must hold probabilities in [0, 1]; found {bad!r}"


def _is_torch_tensor(x: object) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def as_array(x: Any, *, name: str) -> NDArray[Any]:
    """Convert ``x`` to a numpy array (a torch tensor is detached and copied to the CPU)."""
    if isinstance(x, np.ndarray):
        return x
    if _is_torch_tensor(x):
        t = x.detach()
        if t.dtype.is_floating_point and t.dtype.itemsize < 4:  # bf16/fp16 have no numpy twin
            t = t.float()
        return np.asarray(t.cpu().numpy())
    if hasattr(x, "to_numpy"):  # pandas Series / DataFrame, polars
        return np.asarray(x.to_numpy())
    if isinstance(x, (Sequence, range)) and not isinstance(x, (str, bytes)):
        return np.asarray(x)
    if hasattr(x, "__array__"):
        return np.asarray(x)
    raise InputError(MSG_NOT_ARRAY.format(name=name, kind=type(x).__name__))


def check_length(arr: NDArray[Any], n: int, *, name: str, ref_name: str) -> None:
    """Raise when ``arr`` is not aligned with a reference of ``n`` samples."""
    if len(arr) != n:
        raise InputError(MSG_LENGTH.format(name=name, got=len(arr), ref_name=ref_name, want=n))


def as_labels(
    x: Any, *, name: str, n: int | None = None, ref_name: str = "y_true"
) -> NDArray[np.int64]:
    """Integer labels: (n,) class ids or (n, L) multi-label indicators."""
    arr = as_array(x, name=name)
    if arr.size == 0:
        raise InputError(MSG_EMPTY.format(name=name))
    if n is not None:
        check_length(arr, n, name=name, ref_name=ref_name)
    if arr.dtype == bool:
        return arr.astype(np.int64)
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.int64, copy=False)
    if np.issubdtype(arr.dtype, np.floating):
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            example = arr.flat[int(np.flatnonzero(bad.ravel())[0])]
            raise InputError(MSG_NOT_LABELS.format(name=name, example=float(example)))
        return arr.astype(np.int64)
    raise InputError(MSG_NOT_LABELS.format(name=name, example=arr.flat[0]))


def as_probabilities(
    x: Any, *, name: str, n: int | None = None, ref_name: str = "y_true"
) -> NDArray[np.float64]:
    """Probabilities in [0, 1]; NaN or inf is an error that says where."""
    arr = np.asarray(as_array(x, name=name), dtype=np.float64)
    if arr.size == 0:
        raise InputError(MSG_EMPTY.format(name=name))
    if n is not None:
        check_length(arr, n, name=name, ref_name=ref_name)
    finite = np.isfinite(arr)
    if not finite.all():
        bad = np.flatnonzero(~finite.ravel())
        raise InputError(MSG_NONFINITE.format(name=name, count=len(bad), first=int(bad[0])))
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0.0 or hi > 1.0:
        raise InputError(MSG_PROB_RANGE.format(name=name, bad=lo if lo < 0.0 else hi))
    return arr


def as_finite(
    x: Any, *, name: str, n: int | None = None, ref_name: str = "y_true"
) -> NDArray[np.float64]:
    """A float array with no NaN or inf (scores, logits, similarities)."""
    arr = np.asarray(as_array(x, name=name), dtype=np.float64)
    if arr.size == 0:
        raise InputError(MSG_EMPTY.format(name=name))
    if n is not None:
        check_length(arr, n, name=name, ref_name=ref_name)
    finite = np.isfinite(arr)
    if not finite.all():
        bad = np.flatnonzero(~finite.ravel())
        raise InputError(MSG_NONFINITE.format(name=name, count=len(bad), first=int(bad[0])))
    return arr


def is_nan(value: float) -> bool:
    return isinstance(value, float) and math.isnan(value)
