"""CelebA (Liu et al., 2015): celebrity faces with 40 binary attributes.

Layout (flat, as torchvision's ``celeba/`` folder, or as the official ``Anno/``, ``Eval/`` and
``Img/`` folders): ``list_attr_celeba.txt`` (line 1 the count, line 2 the 40 attribute names,
then ``filename v1 ... v40`` with -1/1, whitespace-separated), ``list_eval_partition.txt``
(``filename 0|1|2`` for train/val/test), optionally ``list_bbox_celeba.txt`` (boxes in the
in-the-wild ``img_celeba/`` images), and the aligned images in ``img_align_celeba/``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


def _read_listing(
    path: Path, *, header_lines: int, columns: int | None
) -> tuple[list[str], list[str], list[list[str]]]:
    """``(header lines, file names, value fields)`` of a whitespace-separated CelebA list file."""
    lines = path.read_text().splitlines()
    header, body = lines[:header_lines], lines[header_lines:]
    files: list[str] = []
    values: list[list[str]] = []
    for number, line in enumerate(body, start=header_lines + 1):
        fields = line.split()
        if not fields:
            continue
        if columns is not None and len(fields) != columns + 1:
            raise DataError(
                MSG_BAD_LINE.format(
                    path=path,
                    line=number,
                    problem=f"{len(fields) - 1} values after the file name, expected {columns}",
                    layout=_LAYOUT,
                )
            )
        files.append(fields[0])
        values.append(fields[1:])
    return header, files, values


def _as_ints(
    values: list[list[str]], path: Path, width: int, allowed: set[int] | None
) -> NDArray[np.int64]:
    try:
        arr = np.asarray(values, dtype=np.int64).reshape(len(values), width)
    except ValueError as exc:
        raise DataError(
            MSG_BAD_LINE.format(path=path, line="?", problem=str(exc), layout=_LAYOUT)
        ) from exc
    if allowed is not None:
        bad = ~np.isin(arr, sorted(allowed))
        if bad.any():
            row = int(np.flatnonzero(bad.any(axis=1))[0])
            raise DataError(
                MSG_BAD_LINE.format(
                    path=path,
                    line="after the header, data row " + str(row + 1),
                    problem=f"values must be {sorted(allowed)}, found {arr[bad][0]}",
                    layout=_LAYOUT,
                )
            )
    return arr


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
    root = Path(require(Path(root), dataset="CelebA", layout=_LAYOUT))
    attr_path = require(_locate(root, "list_attr_celeba.txt"), dataset="CelebA", layout=_LAYOUT)
    part_path = require(_locate(root, "list_eval_partition.txt"), dataset="CelebA", layout=_LAYOUT)
    folder = (
        Path(images_dir)
        if images_dir is not None
        else _locate(root, "img_celeba" if bbox else "img_align_celeba")
    )
    require(folder, dataset="CelebA", layout=_LAYOUT)
    header, files, values = _read_listing(attr_path, header_lines=2, columns=None)
    names = header[1].split() if len(header) == 2 else []
    if not names or any(len(v) != len(names) for v in values):
        raise DataError(
            MSG_BAD_LINE.format(
                path=attr_path,
                line=2,
                problem="the attribute names do not match the number of values per row",
                layout=_LAYOUT,
            )
        )
    matrix = _as_ints(values, attr_path, len(names), {-1, 1}) == 1
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
    _, part_files, part_values = _read_listing(part_path, header_lines=0, columns=1)
    partition = dict(
        zip(part_files, _as_ints(part_values, part_path, 1, {0, 1, 2})[:, 0].tolist(), strict=True)
    )
    boxes: dict[str, tuple[float, float, float, float]] = {}
    if bbox:
        box_path = require(_locate(root, "list_bbox_celeba.txt"), dataset="CelebA", layout=_LAYOUT)
        _, box_files, box_values = _read_listing(box_path, header_lines=2, columns=4)
        box_arr = _as_ints(box_values, box_path, 4, None).astype(float)
        boxes = {
            f: (b[0], b[1], b[2], b[3]) for f, b in zip(box_files, box_arr.tolist(), strict=True)
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
    items = [
        ImageRef(str(folder / files[i]), boxes[files[i]]) if bbox else str(folder / files[i])
        for i in rows
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
