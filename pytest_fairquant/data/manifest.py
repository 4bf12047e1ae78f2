"""A generic image manifest: a CSV or Parquet table with a path, a label and attribute columns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from ._files import (
    MSG_BAD_VALUES,
    MSG_UNREADABLE_TABLE,
    PathLike,
    SkipLog,
    image_split,
    read_csv,
    require,
    require_columns,
)
from .split import DemographicSplit

_LAYOUT = "a .csv or .parquet table with one row per image: a path column, optionally a label column, and one column per sensitive attribute"


def _is_missing(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, float) and value != value)


def read_manifest(
    path: PathLike,
    *,
    path_column: str,
    attribute_columns: Sequence[str],
    label_column: str | None = None,
    class_names: Sequence[str] | None = None,
    root: PathLike | None = None,
    transform: Callable[[Any], Any] | None = None,
    check_images: bool = False,
) -> DemographicSplit:
    """Read a manifest (``.parquet``/``.pq`` with pandas+pyarrow, anything else as CSV).

    Relative paths resolve against ``root`` (default: the manifest's folder). Labels are integer
    class ids, or class names mapped to ids in ``class_names`` order (default: sorted names);
    without ``label_column`` every label is 0. Attributes keep their column names and values.
    Rows with an empty path, label or attribute are skipped with one
    :class:`~pytest_fairquant.data.DataWarning`.
    """
    manifest = require(Path(path).expanduser(), dataset="manifest", layout=_LAYOUT)
    if manifest.suffix.lower() in (".parquet", ".pq"):
        import pandas as pd

        try:
            table = pd.read_parquet(manifest)
        except (OSError, ValueError, ImportError) as exc:
            raise DataError(
                MSG_UNREADABLE_TABLE.format(dataset="manifest", path=manifest, error=exc)
            ) from exc
    else:
        table = read_csv(manifest, dataset="manifest")
    columns = [path_column, *([label_column] if label_column else []), *attribute_columns]
    require_columns(table.columns, columns, dataset="manifest", path=manifest)
    base = Path(root).expanduser() if root is not None else manifest.parent
    skipped = SkipLog("manifest", manifest)
    missing = np.asarray(
        [any(_is_missing(v) for v in row) for row in table[columns].itertuples(index=False)],
        dtype=bool,
    )
    for position in np.flatnonzero(missing):
        skipped.skip("with an empty value", f"row {position + 1}")
    skipped.warn(len(table))
    kept = table[~missing]
    items = [str(base / str(p)) for p in kept[path_column]]
    labels: Any = np.zeros(len(kept), dtype=np.int64)
    names: tuple[str, ...] | None = tuple(class_names) if class_names is not None else None
    if label_column is not None:
        raw = kept[label_column].to_numpy(dtype=object)
        as_text = [str(v) for v in raw]
        if all(t.lstrip("-").isdigit() for t in as_text):
            labels = np.asarray([int(t) for t in as_text], dtype=np.int64)
        else:
            names = names if names is not None else tuple(sorted(set(as_text)))
            unknown = sorted(set(as_text) - set(names))
            if unknown:
                raise DataError(
                    MSG_BAD_VALUES.format(
                        dataset="manifest",
                        path=manifest,
                        column=label_column,
                        values=unknown,
                        expected=list(names),
                    )
                )
            lookup = {c: i for i, c in enumerate(names)}
            labels = np.asarray([lookup[t] for t in as_text], dtype=np.int64)
    return image_split(
        dataset="manifest",
        root=base,
        items=items,
        labels=labels,
        attributes={a: kept[a].to_numpy() for a in attribute_columns},
        transform=transform,
        check=check_images,
        name=manifest.stem,
        metadata={"manifest": str(manifest), "label_column": label_column},
        source=manifest,
        class_names=names,
    )
