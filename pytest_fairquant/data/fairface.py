"""FairFace (Kärkkäinen and Joo, 2021): face crops annotated with perceived age, gender and race.

Layout: ``root/fairface_label_{train,val}.csv`` (columns ``file,age,gender,race,service_test``)
and the images the ``file`` column names, relative to ``root`` (``val/1.jpg``). Paper 000 uses
the validation set for retrieval, with age binned younger (0-19) / middle (20-49) / older (50+).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import DataError, InputError
from ._files import (
    MSG_BAD_VALUES,
    PathLike,
    SkipLog,
    check_option,
    image_split,
    read_csv,
    require,
    require_columns,
)
from .split import DemographicSplit

FAIRFACE_AGES = ("0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "more than 70")
FAIRFACE_RACES = (
    "White",
    "Black",
    "Latino_Hispanic",
    "East Asian",
    "Southeast Asian",
    "Indian",
    "Middle Eastern",
)
FAIRFACE_GENDERS = ("Male", "Female")
#: Paper 000's age groups (after Slyman et al. 2024), from FairFace's nine raw bins.
PAPER000_AGE_BINS: Mapping[str, tuple[str, ...]] = {
    "younger": ("0-2", "3-9", "10-19"),
    "middle": ("20-29", "30-39", "40-49"),
    "older": ("50-59", "60-69", "more than 70"),
}
MSG_AGE_BINS = (
    "age_bins leaves FairFace age bins {unassigned} without a group; map every one of {known}"
)
_LAYOUT = "root/fairface_label_{split}.csv with columns file,age,gender,race,service_test and the images it names under root (e.g. root/{split}/1.jpg)"
_COLUMNS = ("file", "age", "gender", "race")


def _age_groups(
    age_bins: Literal["paper000", "raw"] | Mapping[str, Sequence[str]],
) -> dict[str, str] | None:
    """Raw bin -> group name, or ``None`` to keep the raw bins."""
    if isinstance(age_bins, str):
        check_option(age_bins, ("paper000", "raw"), name="age_bins")
        if age_bins == "raw":
            return None
        age_bins = PAPER000_AGE_BINS
    groups = {raw: group for group, raws in age_bins.items() for raw in raws}
    unassigned = [a for a in FAIRFACE_AGES if a not in groups]
    if unassigned:
        raise InputError(MSG_AGE_BINS.format(unassigned=unassigned, known=list(FAIRFACE_AGES)))
    return groups


def read_fairface(
    root: PathLike,
    split: Literal["train", "val"] = "val",
    *,
    age_bins: Literal["paper000", "raw"] | Mapping[str, Sequence[str]] = "paper000",
    label: Literal["gender", "race", "age"] | None = None,
    transform: Callable[[Any], Any] | None = None,
    check_images: bool = False,
) -> DemographicSplit:
    """Read FairFace's ``split`` with attributes ``age``, ``age_raw``, ``gender`` and ``race``.

    ``age`` holds the groups of ``age_bins`` ("paper000": younger/middle/older, a mapping
    group -> raw bins for another grouping, "raw": the nine bins); ``age_raw`` always holds the
    nine raw bins. FairFace has no task label: with ``label=None`` every label is 0 (retrieval
    ignores labels), otherwise the labels are the class ids of that attribute's values, in
    ``class_names`` order. Rows with an empty field are skipped with one
    :class:`~pytest_fairquant.data.DataWarning`.
    """
    check_option(split, ("train", "val"), name="split")
    check_option(label, (None, "gender", "race", "age"), name="label")
    groups = _age_groups(age_bins)
    root = Path(root).expanduser()
    csv = require(
        root / f"fairface_label_{split}.csv",
        dataset="FairFace",
        layout=_LAYOUT.format(split=split),
    )
    table = read_csv(csv, dataset="FairFace")
    require_columns(table.columns, _COLUMNS, dataset="FairFace", path=csv)
    for column, known in (
        ("age", FAIRFACE_AGES),
        ("gender", FAIRFACE_GENDERS),
        ("race", FAIRFACE_RACES),
    ):
        unknown = sorted(set(table[column]) - set(known) - {""})
        if unknown:
            raise DataError(
                MSG_BAD_VALUES.format(
                    dataset="FairFace",
                    path=csv,
                    column=column,
                    values=unknown,
                    expected=list(known),
                )
            )
    skipped = SkipLog("FairFace", csv)
    complete = (table[list(_COLUMNS)] != "").all(axis=1).to_numpy()
    for file in table["file"][~complete]:
        skipped.skip("with an empty field", repr(file) if file else "(no file name)")
    skipped.warn(len(table))
    kept = table[complete]
    raw_age = kept["age"].to_numpy(dtype=object)
    age = raw_age if groups is None else np.asarray([groups[a] for a in raw_age], dtype=object)
    attributes = {
        "age": age,
        "age_raw": raw_age,
        "gender": kept["gender"].to_numpy(dtype=object),
        "race": kept["race"].to_numpy(dtype=object),
    }
    if label is None:
        labels = np.zeros(len(kept), dtype=np.int64)
        class_names = None
    else:
        class_names = tuple(sorted(set(attributes[label].tolist())))
        lookup = {c: i for i, c in enumerate(class_names)}
        labels = np.asarray([lookup[v] for v in attributes[label]], dtype=np.int64)
    return image_split(
        dataset="FairFace",
        root=root,
        items=[str(root / f) for f in kept["file"]],
        labels=labels,
        attributes=attributes,
        transform=transform,
        check=check_images,
        name=f"fairface-{split}",
        metadata={
            "split": split,
            "age_bins": "raw"
            if groups is None
            else (age_bins if isinstance(age_bins, str) else dict(age_bins)),
            "label": label,
        },
        source=csv,
        class_names=class_names,
    )
