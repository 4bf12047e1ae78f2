"""UTKFace (Zhang et al., 2017): face crops whose file names carry age, gender and race.

Layout: one folder of ``[age]_[gender]_[race]_[date&time].jpg.chip.jpg`` files (the "aligned and
cropped" release; the in-the-wild ``.jpg`` names parse the same way). Gender is 0 male / 1
female, race 0 White, 1 Black, 2 Asian, 3 Indian, 4 Others. A few names in the real release
lack a field (``39_1_20170116174525125.jpg.chip.jpg``): they are skipped and named in one
warning, never guessed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import DataError, InputError
from ._files import MSG_NOTHING_LEFT, PathLike, SkipLog, check_option, image_split, require
from .split import DemographicSplit

UTKFACE_GENDERS = ("male", "female")
UTKFACE_RACES = ("White", "Black", "Asian", "Indian", "Others")
#: Paper 000's age groups in years (inclusive bounds), the FairFace grouping applied to UTKFace.
PAPER000_AGE_RANGES: Mapping[str, tuple[int, int]] = {
    "younger": (0, 19),
    "middle": (20, 49),
    "older": (50, 200),
}
UTKFACE_NAME = re.compile(
    r"^(?P<age>\d{1,3})_(?P<gender>[01])_(?P<race>[0-4])_(?P<date>\d+)\.jpg(?:\.chip\.jpg)?$"
)
MSG_NO_IMAGES = "UTKFace: no .jpg file in {path}; the expected layout is one folder of [age]_[gender]_[race]_[date&time].jpg.chip.jpg files (e.g. root/UTKFace/)"
MSG_AGE_RANGES = (
    "age_bins must cover every age from 0 to 116 once; age {age} falls in {count} ranges of {bins}"
)
_LAYOUT = "a folder of [age]_[gender]_[race]_[date&time].jpg.chip.jpg files"


def _image_folder(root: Path) -> Path:
    """``root`` itself, or the ``UTKFace/`` folder the archive unpacks to."""
    require(root, dataset="UTKFace", layout=_LAYOUT)
    nested = root / "UTKFace"
    if nested.is_dir() and not any(n.lower().endswith(".jpg") for n in os.listdir(root)):
        return nested
    return root


def _age_group(age: int, ranges: Mapping[str, tuple[int, int]]) -> str:
    hits = [g for g, (lo, hi) in ranges.items() if lo <= age <= hi]
    if len(hits) != 1:
        raise InputError(MSG_AGE_RANGES.format(age=age, count=len(hits), bins=dict(ranges)))
    return hits[0]


def read_utkface(
    root: PathLike,
    *,
    label: Literal["gender", "race", "age"] = "gender",
    age_bins: Literal["paper000"] | Mapping[str, tuple[int, int]] = "paper000",
    transform: Callable[[Any], Any] | None = None,
    check_images: bool = False,
) -> DemographicSplit:
    """Read UTKFace with attributes ``age`` (groups), ``age_years``, ``gender`` and ``race``.

    ``label`` picks the task: ``"gender"`` (class ids 0 male / 1 female, as in the file names;
    papers 002 and 004 classify gender with race as the sensitive feature), ``"race"`` (the five
    race codes) or ``"age"`` (the ``age_bins`` groups, in their given order). ``age_bins`` maps
    group -> inclusive (low, high) years; "paper000" is younger 0-19, middle 20-49, older 50+.
    Samples are in file-name order.
    """
    check_option(label, ("gender", "race", "age"), name="label")
    if isinstance(age_bins, str):
        check_option(age_bins, ("paper000",), name="age_bins")
    ranges = PAPER000_AGE_RANGES if isinstance(age_bins, str) else age_bins
    folder = _image_folder(Path(root).expanduser())
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(".jpg"))
    if not names:
        raise DataError(MSG_NO_IMAGES.format(path=folder))
    skipped = SkipLog("UTKFace", folder, unit="files in")
    parsed: list[tuple[str, int, int, int]] = []
    for name in names:
        match = UTKFACE_NAME.match(name)
        if match is None:
            skipped.skip("with a malformed [age]_[gender]_[race]_[date&time] file name", name)
            continue
        parsed.append((name, int(match["age"]), int(match["gender"]), int(match["race"])))
    skipped.warn(len(names), name_all=True)
    if not parsed:
        raise DataError(MSG_NOTHING_LEFT.format(dataset="UTKFace", path=folder))
    files, years, gender_codes, race_codes = (list(col) for col in zip(*parsed, strict=True))
    age = np.asarray([_age_group(a, ranges) for a in years], dtype=object)
    attributes = {
        "age": age,
        "age_years": np.asarray(years, dtype=np.int64),
        "gender": np.asarray(UTKFACE_GENDERS, dtype=object)[gender_codes],
        "race": np.asarray(UTKFACE_RACES, dtype=object)[race_codes],
    }
    class_names: tuple[str, ...]
    if label == "gender":
        labels, class_names = np.asarray(gender_codes, dtype=np.int64), UTKFACE_GENDERS
    elif label == "race":
        labels, class_names = np.asarray(race_codes, dtype=np.int64), UTKFACE_RACES
    else:
        class_names = tuple(ranges)
        labels = np.asarray([class_names.index(g) for g in age], dtype=np.int64)
    return image_split(
        dataset="UTKFace",
        root=folder,
        items=[str(folder / f) for f in files],
        labels=labels,
        attributes=attributes,
        transform=transform,
        check=check_images,
        name="utkface",
        metadata={"label": label, "age_bins": {g: list(r) for g, r in ranges.items()}},
        source=folder,
        class_names=class_names,
    )
