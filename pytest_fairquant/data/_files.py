"""What every data set reader shares: file checks, the skipped-rows warning, and the split it builds.

Messages name the file, what was wrong with it, and the layout the reader expected, so a user
with a half-unpacked download knows which archive to fetch or which folder to move.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DataError, InputError
from .images import ImageRef, LoadImage, check_images
from .split import DemographicSplit

if TYPE_CHECKING:
    import pandas as pd

MSG_MISSING_FILE = "{dataset}: {path} does not exist; the expected layout is {layout}"
MSG_UNKNOWN_COLUMNS = "{dataset}: {path} has no column {missing}; the columns present are {present}"
MSG_BAD_VALUES = (
    "{dataset}: {path} has unknown {column} values {values}; expected one of {expected}"
)
MSG_BAD_OPTION = "{name} must be one of {allowed}; got {value!r}"
MSG_UNREADABLE_TABLE = (
    "{dataset}: {path} could not be parsed ({error}); is it the file the data set ships?"
)
MSG_SKIPPED = "{dataset}: skipped {count} of {total} {unit} {path} ({reasons}); e.g. {examples}"
MSG_NOTHING_LEFT = "{dataset}: no usable sample in {path}: every row was skipped (see the DataWarning before this error) or none is in the split asked for"


class DataWarning(UserWarning):
    """A reader skipped rows or files it could not use; the message says how many and why."""


PathLike = str | os.PathLike[str]


def require(path: Path, *, dataset: str, layout: str) -> Path:
    """``path`` if it exists, else a :class:`DataError` naming it and the expected layout."""
    if not path.exists():
        raise DataError(MSG_MISSING_FILE.format(dataset=dataset, path=path, layout=layout))
    return path


def require_columns(
    columns: Iterable[str], needed: Iterable[str], *, dataset: str, path: Path
) -> None:
    present = list(columns)
    missing = [c for c in needed if c not in present]
    if missing:
        raise DataError(
            MSG_UNKNOWN_COLUMNS.format(
                dataset=dataset,
                path=path,
                missing=", ".join(repr(c) for c in missing),
                present=present,
            )
        )


def check_option(value: Any, allowed: Sequence[Any], *, name: str) -> None:
    if value not in allowed:
        raise InputError(MSG_BAD_OPTION.format(name=name, allowed=list(allowed), value=value))


def read_csv(path: Path, *, dataset: str, **kwargs: Any) -> pd.DataFrame:
    """A CSV as strings (never guessed dtypes: ``"3-9"`` must stay text), errors naming the file."""
    import pandas as pd

    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, **kwargs)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(MSG_UNREADABLE_TABLE.format(dataset=dataset, path=path, error=exc)) from exc


class SkipLog:
    """Rows a reader could not use, by reason; :meth:`warn` emits one :class:`DataWarning` for all."""

    def __init__(self, dataset: str, path: Path, *, unit: str = "rows of") -> None:
        self.dataset = dataset
        self.path = path
        self.unit = unit
        self.reasons: Counter[str] = Counter()
        self.examples: list[str] = []

    def skip(self, reason: str, example: str) -> None:
        self.reasons[reason] += 1
        self.examples.append(example)

    @property
    def count(self) -> int:
        return sum(self.reasons.values())

    def warn(self, total: int, *, name_all: bool = False) -> None:
        if not self.count:
            return
        shown = self.examples if name_all else self.examples[:5]
        more = len(self.examples) - len(shown)
        examples = ", ".join(shown) + (f" and {more} more" if more else "")
        reasons = "; ".join(f"{n} {why}" for why, n in self.reasons.most_common())
        warnings.warn(
            MSG_SKIPPED.format(
                dataset=self.dataset,
                count=self.count,
                total=total,
                unit=self.unit,
                path=self.path,
                reasons=reasons,
                examples=examples,
            ),
            DataWarning,
            stacklevel=3,
        )


def input_identity(dataset: str, keys: Iterable[str]) -> str:
    """The inputs' identity for the split fingerprint: relative names and crops, not the root.

    The same data set unpacked in another folder (another machine, an xdist worker's copy) keeps
    its fingerprint, so cached predictions stay valid.
    """
    h = hashlib.sha256(f"fairquant-images-v1:{dataset}".encode())
    for key in keys:
        h.update(key.encode() + b"\0")
    return h.hexdigest()[:32]


def image_split(
    *,
    dataset: str,
    root: Path,
    items: Sequence[str | ImageRef],
    labels: Any,
    attributes: Mapping[str, Any],
    transform: Callable[[Any], Any] | None,
    check: bool,
    name: str,
    metadata: Mapping[str, Any],
    source: Path,
    class_names: Sequence[str] | None = None,
    label_names: Sequence[str] | None = None,
) -> DemographicSplit:
    """The :class:`DemographicSplit` of an image data set, inputs as paths opened lazily."""
    if not items:
        raise DataError(MSG_NOTHING_LEFT.format(dataset=dataset, path=source))
    if check:
        check_images(items)

    prefix = os.path.join(root, "")

    def key(item: str | ImageRef) -> str:
        path = item.path if isinstance(item, ImageRef) else item
        rel = path[len(prefix) :] if path.startswith(prefix) else os.path.relpath(path, root)
        box = f"@{item.box}" if isinstance(item, ImageRef) and item.box is not None else ""
        return rel.replace(os.sep, "/") + box

    return DemographicSplit(
        labels,
        attributes,
        inputs=list(items),
        transform=LoadImage(transform),
        class_names=class_names,
        label_names=label_names,
        name=name,
        metadata={"dataset": dataset, "root": str(root), **metadata},
        input_id=input_identity(dataset, (key(it) for it in items)),
    )
