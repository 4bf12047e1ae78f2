"""FACET (Gustafson et al., 2023): people in SA-1B photos, annotated by experts.

Layout: ``root/annotations/annotations.csv``, one row per person, with ``person_id``,
``filename``, ``class1`` (one of 52 person classes), ``class2``, ``bounding_box`` (JSON with
``x``, ``y``, ``width``, ``height`` in pixels), the perceived gender presentation
(``gender_presentation_{masc,fem,non_binary,na}``), the Monk skin tone votes
(``skin_tone_1`` .. ``skin_tone_10``, ``skin_tone_na``: how many annotators chose each tone), the
perceived age (``age_presentation_{young,middle,older,na}``) and more (hair, lighting, ...); the
images under ``root/images/`` or the archive's ``root/imgs_1/``, ``imgs_2/``, ``imgs_3/``.
Each sample is the person's crop. Paper 000 (after Slyman et al. 2024) compares masculine vs
feminine presentation, lighter (MST 1-4) vs darker (MST 6-10) skin, and middle vs young / older.
"""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from ..errors import DataError, InputError
from ._files import PathLike, SkipLog, check_option, image_split, read_csv, require, require_columns
from .images import ImageRef
from .split import DemographicSplit

#: The 52 person classes of FACET's ``class1`` column, as the annotations spell them.
FACET_CLASSES = (
    "astronaut", "backpacker", "ballplayer", "bartender", "basketball_player", "boatman",
    "carpenter", "cheerleader", "climber", "computer_user", "craftsman", "dancer", "disk_jockey",
    "doctor", "drummer", "electrician", "farmer", "fireman", "flutist", "gardener", "guard",
    "guitarist", "gymnast", "hairdresser", "horseman", "judge", "laborer", "lawman", "lifeguard",
    "machinist", "motorcyclist", "nurse", "painter", "patient", "prayer", "referee", "repairman",
    "reporter", "retailer", "runner", "sculptor", "seller", "singer", "skateboarder",
    "soccer_player", "soldier", "speaker", "student", "teacher", "tennis_player", "trumpeter",
    "waiter",
)  # fmt: skip
#: Paper 000's skin tone groups on the Monk scale; tone 5 belongs to neither.
PAPER000_SKIN_TONE_BUCKETS: Mapping[str, tuple[int, ...]] = {
    "lighter": (1, 2, 3, 4),
    "darker": (6, 7, 8, 9, 10),
}
GENDER_PRESENTATIONS = ("masc", "fem", "non_binary", "na")
AGE_PRESENTATIONS = ("young", "middle", "older", "na")
SKIN_TONE_COLUMNS = tuple(f"skin_tone_{t}" for t in range(1, 11))
#: The value of ``skin_tone``/``skin_tone_mst`` when votes disagree, when no tone was annotated,
#: and (``skin_tone`` only) when the decided tone is in no bucket.
MIXED, NOT_ANNOTATED, UNGROUPED = "mixed", "na", "other"

MSG_BUCKETS = (
    "skin_tone buckets must map group names to disjoint Monk tones in 1..10; got {buckets}"
)
MSG_NOT_COUNTS = (
    "FACET: {path} column {column!r} must hold annotator counts (integers); found {value!r}"
)
MSG_NO_IMAGE_DIR = "FACET: no image folder under {root} (looked for images/ and imgs_1/, imgs_2/, imgs_3/); pass images_dir= or use the layout {layout}"
_LAYOUT = "root/annotations/annotations.csv and the images under root/images/ (or the archive's root/imgs_1/, imgs_2/, imgs_3/)"

SkinToneVote = Literal["majority", "unanimous", "mean"]


def _buckets(
    skin_tone: Literal["paper000", "raw"] | Mapping[str, Sequence[int]],
) -> dict[int, str] | None:
    """Monk tone -> group name, or ``None`` for the decided tone itself."""
    if isinstance(skin_tone, str):
        check_option(skin_tone, ("paper000", "raw"), name="skin_tone")
        if skin_tone == "raw":
            return None
        skin_tone = PAPER000_SKIN_TONE_BUCKETS
    tones = [(int(t), g) for g, ts in skin_tone.items() for t in ts]
    if len({t for t, _ in tones}) != len(tones) or any(not 1 <= t <= 10 for t, _ in tones):
        raise InputError(MSG_BUCKETS.format(buckets=dict(skin_tone)))
    return dict(tones)


def _counts(table: Any, columns: Sequence[str], path: Path) -> NDArray[np.int64]:
    """The annotator counts of ``columns`` as an (n, k) int array, empty cells as 0."""
    cells = table[list(columns)].to_numpy(dtype=object)
    cells[cells == ""] = "0"
    try:
        numbers: NDArray[np.float64] = cells.astype(np.float64)
    except ValueError:
        for j, column in enumerate(columns):
            for value in cells[:, j]:
                try:
                    float(value)
                except ValueError:
                    raise DataError(
                        MSG_NOT_COUNTS.format(path=path, column=column, value=value)
                    ) from None
        raise
    return np.rint(numbers).astype(np.int64).reshape(len(table), len(columns))


def _presentation(counts: NDArray[np.int64], values: Sequence[str]) -> NDArray[Any]:
    """The value most annotators chose; ``"na"`` when none was chosen or the top is tied."""
    top = counts.max(axis=1, keepdims=True)
    unique_top = ((counts == top).sum(axis=1) == 1) & (top[:, 0] > 0)
    chosen = np.asarray(values, dtype=object)[counts.argmax(axis=1)]
    return np.where(unique_top, chosen, NOT_ANNOTATED).astype(object)


def _skin_tone(
    votes: NDArray[np.int64], rule: SkinToneVote, buckets: dict[int, str] | None
) -> tuple[NDArray[Any], NDArray[Any]]:
    """``(skin_tone_mst, skin_tone)``: the decided Monk tone and its group, per person.

    majority: the tone with the most votes (a tie between tones of one group still gives that
    group); unanimous: every voted tone in one group; mean: the vote-weighted mean tone, rounded.
    """
    tones = np.arange(1, 11)

    def group_of(tone: int) -> str:
        return str(tone) if buckets is None else buckets.get(tone, UNGROUPED)

    mst: list[str] = []
    group: list[str] = []
    for row in votes:
        if row.sum() == 0:
            mst.append(NOT_ANNOTATED)
            group.append(NOT_ANNOTATED)
            continue
        if rule == "mean":
            tone = int(np.floor(float(tones @ row) / row.sum() + 0.5))
            mst.append(str(tone))
            group.append(group_of(tone))
            continue
        candidates = tones[row == row.max()] if rule == "majority" else tones[row > 0]
        groups = {group_of(int(t)) for t in candidates}
        mst.append(str(candidates[0]) if len(candidates) == 1 else MIXED)
        group.append(groups.pop() if len(groups) == 1 else MIXED)
    return np.asarray(mst, dtype=object), np.asarray(group, dtype=object)


def _parse_box(text: str) -> tuple[float, float, float, float] | None:
    try:
        box = json.loads(text)
    except ValueError:
        try:
            box = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return None
    try:
        return (float(box["x"]), float(box["y"]), float(box["width"]), float(box["height"]))
    except (KeyError, TypeError, ValueError):
        return None


def _image_dirs(root: Path, images_dir: PathLike | None) -> list[Path]:
    if images_dir is not None:
        return [require(Path(images_dir).expanduser(), dataset="FACET", layout=_LAYOUT)]
    if (root / "images").is_dir():
        return [root / "images"]
    parts = [root / f"imgs_{i}" for i in (1, 2, 3) if (root / f"imgs_{i}").is_dir()]
    if not parts:
        raise DataError(MSG_NO_IMAGE_DIR.format(root=root, layout=_LAYOUT))
    return parts


def read_facet(
    root: PathLike,
    *,
    skin_tone: Literal["paper000", "raw"] | Mapping[str, Sequence[int]] = "paper000",
    skin_tone_vote: SkinToneVote = "majority",
    classes: Sequence[str] | None = None,
    crop: bool = True,
    images_dir: PathLike | None = None,
    transform: Callable[[Any], Any] | None = None,
    check_images: bool = False,
) -> DemographicSplit:
    """Read FACET: one sample per annotated person, labelled with ``class1``.

    Labels are class ids into ``class_names``: the ``class1`` values present in the file,
    sorted (the 52 of :data:`FACET_CLASSES` for the full release), or ``classes`` when given
    (rows of other classes are then skipped with a warning). Attributes:

    - ``gender_presentation``: ``masc``, ``fem``, ``non_binary`` or ``na`` (the most-voted
      column; ``na`` too when none is set or the top is tied);
    - ``age_presentation``: ``young``, ``middle``, ``older`` or ``na`` (same rule);
    - ``skin_tone_mst``: the Monk tone decided from the votes by ``skin_tone_vote``
      (``"1"``..``"10"``, ``mixed`` when the votes do not decide, ``na`` when none);
    - ``skin_tone``: the group of that tone under ``skin_tone`` ("paper000": ``lighter`` 1-4,
      ``darker`` 6-10; a mapping group -> tones; "raw": the tone), ``other`` for a tone in no
      group (5 under paper000), ``mixed`` when the voted tones span groups, ``na``.

    ``crop=True`` (the paper's protocol) makes each input the person's bounding-box crop.
    """
    buckets = _buckets(skin_tone)
    check_option(skin_tone_vote, ("majority", "unanimous", "mean"), name="skin_tone_vote")
    root = Path(root).expanduser()
    csv = require(root / "annotations" / "annotations.csv", dataset="FACET", layout=_LAYOUT)
    dirs = _image_dirs(root, images_dir)
    table = read_csv(csv, dataset="FACET")
    gender_columns = [f"gender_presentation_{v}" for v in GENDER_PRESENTATIONS]
    age_columns = [f"age_presentation_{v}" for v in AGE_PRESENTATIONS]
    needed = ["filename", "class1", *gender_columns, *SKIN_TONE_COLUMNS, *age_columns]
    require_columns(
        table.columns, [*needed, "bounding_box"] if crop else needed, dataset="FACET", path=csv
    )
    locations: dict[str, Path] = {}
    if len(dirs) > 1:
        for folder in reversed(dirs):
            locations.update(dict.fromkeys(os.listdir(folder), folder))
    known = set(classes) if classes is not None else None
    skipped = SkipLog("FACET", csv)
    rows: list[int] = []
    items: list[str | ImageRef] = []
    for i, (person, file, cls, box_text) in enumerate(
        zip(
            table.get("person_id", table.index.astype(str)),
            table["filename"],
            table["class1"],
            table["bounding_box"] if crop else [""] * len(table),
            strict=True,
        )
    ):
        box = _parse_box(box_text) if crop else None
        if not file or not cls:
            skipped.skip("without a filename or class1", f"person {person}")
        elif known is not None and cls not in known:
            skipped.skip("of a class not in classes", f"person {person} ({cls})")
        elif crop and box is None:
            skipped.skip("with an unreadable bounding_box", f"person {person} ({box_text!r})")
        elif len(dirs) > 1 and file not in locations:
            skipped.skip("whose image is in none of the image folders", file)
        else:
            path = os.path.join(locations.get(file, dirs[0]), file)
            rows.append(i)
            items.append(ImageRef(path, box) if crop else path)
    skipped.warn(len(table))
    kept = table.iloc[rows]
    mst, tone_group = _skin_tone(_counts(kept, SKIN_TONE_COLUMNS, csv), skin_tone_vote, buckets)
    class_names = tuple(classes) if classes is not None else tuple(sorted(set(kept["class1"])))
    lookup = {c: k for k, c in enumerate(class_names)}
    return image_split(
        dataset="FACET",
        root=root,
        items=items,
        labels=np.asarray([lookup[c] for c in kept["class1"]], dtype=np.int64),
        attributes={
            "gender_presentation": _presentation(
                _counts(kept, gender_columns, csv), GENDER_PRESENTATIONS
            ),
            "age_presentation": _presentation(_counts(kept, age_columns, csv), AGE_PRESENTATIONS),
            "skin_tone": tone_group,
            "skin_tone_mst": mst,
        },
        transform=transform,
        check=check_images,
        name="facet",
        metadata={
            "skin_tone": "raw"
            if buckets is None
            else (
                skin_tone
                if isinstance(skin_tone, str)
                else {g: list(t) for g, t in skin_tone.items()}
            ),
            "skin_tone_vote": skin_tone_vote,
            "crop": crop,
        },
        source=csv,
        class_names=class_names,
    )
