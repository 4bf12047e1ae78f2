"""CelebA (Liu et al., 2015): celebrity faces with 40 binary attributes.

Layout (flat, as torchvision's ``celeba/`` folder, or as the official ``Anno/``, ``Eval/`` and
``Img/`` folders): ``list_attr_celeba.txt`` (line 1 the count, line 2 the 40 attribute names,
then ``filename v1 ... v40`` with -1/1, whitespace-separated), ``list_eval_partition.txt``
(``filename 0|1|2`` for train/val/test), optionally ``list_bbox_celeba.txt`` (boxes in the
in-the-wild ``img_celeba/`` images), and the aligned images in ``img_align_celeba/``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from ..errors import DataError
from ._files import (
    MSG_UNKNOWN_COLUMNS,
    PathLike,
    SkipLog,
    check_option,
    image_split,
    require,
)
from .images import ImageRef
from .split import DemographicSplit

CELEBA_PARTITIONS = {"train": 0, "val": 1, "valid": 1, "test": 2}
MSG_BAD_LINE = (
    "CelebA: {path} line {line}: {problem}; the file should be the one CelebA ships ({layout})"
)
_SUBDIRS = {
    "list_attr_celeba.txt": "Anno",
    "list_bbox_celeba.txt": "Anno",
    "list_eval_partition.txt": "Eval",
    "img_align_celeba": "Img",
    "img_celeba": "Img",
}
_LAYOUT = "root/list_attr_celeba.txt, root/list_eval_partition.txt, optionally root/list_bbox_celeba.txt, and root/img_align_celeba/*.jpg (or the same under Anno/, Eval/ and Img/)"


def _locate(root: Path, name: str) -> Path:
    """``root/name`` or, in the official archive layout, ``root/<Anno|Eval|Img>/name``."""
    nested = root / _SUBDIRS[name] / name
    return nested if not (root / name).exists() and nested.exists() else root / name


@dataclass(frozen=True)
class _Listing:
    """A whitespace-separated CelebA list file: header lines, then a file name and integers per line."""

    path: Path
    header: list[str]
    files: list[str]
    values: NDArray[np.int64]


def _line_number(path: Path, header_lines: int, row: int) -> int:
    """The file line of data row ``row`` (blank lines do not count as rows); only on errors."""
    with path.open() as f:
        seen = -1
        for number, line in enumerate(f, start=1):
            if number > header_lines and line.strip():
                seen += 1
                if seen == row:
                    return number
    return header_lines + row + 1


def _read_listing(
    path: Path, *, header_lines: int, width: int | None, allowed: set[int] | None
) -> _Listing:
    """Parse a list file with pandas' C parser (CelebA's has 202,599 lines); errors name the line.

    ``width`` is the number of values after the file name; ``None`` takes it from the last
    header line (the attribute names).
    """
    import pandas as pd

    with path.open() as f:
        header = [f.readline().strip() for _ in range(header_lines)]
    width = len(header[-1].split()) if width is None and header else width or 0

    def bad(row: int, problem: str) -> DataError:
        line = _line_number(path, header_lines, row)
        return DataError(MSG_BAD_LINE.format(path=path, line=line, problem=problem, layout=_LAYOUT))

    try:
        frame = pd.read_csv(
            path,
            sep=r"\s+",
            header=None,
            skiprows=header_lines,
            names=range(width + 1),
            dtype={0: str},
            index_col=False,
        )
    except pd.errors.EmptyDataError:
        frame = pd.DataFrame(columns=range(width + 1))
    except pd.errors.ParserError as exc:
        found = re.search(r"line (\d+), saw (\d+)", str(exc))
        line, saw = (found.group(1), int(found.group(2)) - 1) if found else ("?", "more")
        problem = f"{saw} values after the file name, expected {width}"
        raise DataError(
            MSG_BAD_LINE.format(path=path, line=line, problem=problem, layout=_LAYOUT)
        ) from exc
    cells = frame.iloc[:, 1:]
    short = cells.isna().any(axis=1).to_numpy()
    if short.any():
        row = int(np.flatnonzero(short)[0])
        given = int(cells.iloc[row].notna().sum())
        raise bad(row, f"{given} values after the file name, expected {width}")
    try:
        values = cells.to_numpy(dtype=np.int64).reshape(len(frame), width)
    except (ValueError, TypeError):
        text = cells.astype(str).to_numpy()
        row = int(np.flatnonzero([not all(v.lstrip("-").isdigit() for v in r) for r in text])[0])
        raise bad(row, f"non-integer values {text[row].tolist()}") from None
    if allowed is not None:
        wrong = ~np.isin(values, sorted(allowed))
        if wrong.any():
            row = int(np.flatnonzero(wrong.any(axis=1))[0])
            found_value = int(values[row][wrong[row]][0])
            raise bad(row, f"values must be {sorted(allowed)}, found {found_value}")
    return _Listing(path, header, frame[0].astype(str).tolist(), values)


def read_celeba(
    root: PathLike,
    split: Literal["train", "val", "valid", "test", "all"] = "test",
    *,
    label: str | Sequence[str] | None = None,
    sensitive: str | Sequence[str] = ("Male", "Young"),
    bbox: bool = False,
    images_dir: PathLike | None = None,
    transform: Callable[[Any], Any] | None = None,
    check_images: bool = False,
) -> DemographicSplit:
    """Read CelebA's ``split``: labels from ``label``, attributes from ``sensitive``.

    ``label`` is one attribute (binary labels, 1 where the file says 1; ``class_names``
    ``("not X", "X")``), several (multi-label ``(n, L)`` 0/1 labels, ``label_names`` in the
    given order), or ``None`` for all 40 as multi-label labels. Each ``sensitive`` attribute
    becomes an attribute of the split with groups ``"X"`` and ``"not X"`` (e.g. ``Male`` /
    ``not Male``). ``bbox=True`` crops each image to its ``list_bbox_celeba.txt`` box; those
    boxes are in the in-the-wild images, so the images then default to ``img_celeba/``.
    """
    check_option(split, ("all", *CELEBA_PARTITIONS), name="split")
    root = Path(require(Path(root).expanduser(), dataset="CelebA", layout=_LAYOUT))
    attr_path = require(_locate(root, "list_attr_celeba.txt"), dataset="CelebA", layout=_LAYOUT)
    part_path = require(_locate(root, "list_eval_partition.txt"), dataset="CelebA", layout=_LAYOUT)
    folder = (
        Path(images_dir).expanduser()
        if images_dir is not None
        else _locate(root, "img_celeba" if bbox else "img_align_celeba")
    )
    require(folder, dataset="CelebA", layout=_LAYOUT)
    attrs = _read_listing(attr_path, header_lines=2, width=None, allowed={-1, 1})
    names = attrs.header[1].split() if len(attrs.header) == 2 else []
    if not names:
        raise DataError(
            MSG_BAD_LINE.format(
                path=attr_path, line=2, problem="no attribute names", layout=_LAYOUT
            )
        )
    files = attrs.files
    matrix = attrs.values == 1
    wanted_labels = names if label is None else [label] if isinstance(label, str) else list(label)
    wanted_sensitive = [sensitive] if isinstance(sensitive, str) else list(sensitive)
    unknown = [a for a in [*wanted_labels, *wanted_sensitive] if a not in names]
    if unknown:
        raise DataError(
            MSG_UNKNOWN_COLUMNS.format(
                dataset="CelebA",
                path=attr_path,
                missing=", ".join(repr(a) for a in unknown),
                present=names,
            )
        )
    parts = _read_listing(part_path, header_lines=0, width=1, allowed={0, 1, 2})
    partition = dict(zip(parts.files, parts.values[:, 0].tolist(), strict=True))
    boxes: dict[str, tuple[float, float, float, float]] = {}
    if bbox:
        box_path = require(_locate(root, "list_bbox_celeba.txt"), dataset="CelebA", layout=_LAYOUT)
        listed = _read_listing(box_path, header_lines=2, width=4, allowed=None)
        box_arr = listed.values.astype(float)
        boxes = {
            f: (b[0], b[1], b[2], b[3]) for f, b in zip(listed.files, box_arr.tolist(), strict=True)
        }
    skipped = SkipLog("CelebA", attr_path)
    want = None if split == "all" else CELEBA_PARTITIONS[split]
    rows: list[int] = []
    for i, file in enumerate(files):
        if file not in partition:
            skipped.skip(f"missing from {part_path.name}", file)
        elif bbox and file not in boxes:
            skipped.skip("without a box in list_bbox_celeba.txt", file)
        elif want is None or partition[file] == want:
            rows.append(i)
    skipped.warn(len(files))
    kept = matrix[rows]
    column = {a: names.index(a) for a in names}
    attributes = {
        a: np.where(kept[:, column[a]], a, f"not {a}").astype(object) for a in wanted_sensitive
    }
    label_cols = [column[a] for a in wanted_labels]
    multi = label is None or not isinstance(label, str)
    labels = (
        kept[:, label_cols].astype(np.int64) if multi else kept[:, label_cols[0]].astype(np.int64)
    )
    prefix = os.path.join(folder, "")  # string joins: 200k Path objects cost seconds
    items = [
        ImageRef(prefix + files[i], boxes[files[i]]) if bbox else prefix + files[i] for i in rows
    ]
    return image_split(
        dataset="CelebA",
        root=root,
        items=items,
        labels=labels,
        attributes=attributes,
        transform=transform,
        check=check_images,
        name=f"celeba-{split}",
        metadata={
            "split": split,
            "label": wanted_labels,
            "sensitive": wanted_sensitive,
            "bbox": bbox,
        },
        source=attr_path,
        class_names=None if multi else (f"not {wanted_labels[0]}", wanted_labels[0]),
        label_names=wanted_labels if multi else None,
    )
