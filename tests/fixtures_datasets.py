"""Tiny on-disk copies of FairFace, UTKFace, CelebA and FACET, in each data set's real format.

Each ``write_*`` function writes a few small generated JPEGs plus the annotation files exactly as
the data set ships them (column names, separators, value spellings, the known malformed UTKFace
names), and returns a :class:`WrittenDataset` saying what it wrote: one record per sample with
the values written and the group each sample was built to fall in, so tests compare a reader's
output with the generator's intent rather than with a second implementation of the reader.

Import them from tests (``from fixtures_datasets import write_facet``); they depend on numpy,
Pillow and the standard library only.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pytest_fairquant.data.facet import FACET_CLASSES
from pytest_fairquant.data.fairface import FAIRFACE_AGES, FAIRFACE_GENDERS, FAIRFACE_RACES

CELEBA_ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair",
    "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair",
    "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes",
    "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks",
    "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat",
    "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)  # fmt: skip
#: File names in the real UTKFace release that lack a field; readers must skip them.
UTKFACE_MALFORMED = (
    "39_1_20170116174525125.jpg.chip.jpg",
    "61_1_20170109142408075.jpg.chip.jpg",
    "61_1_20170109150557335.jpg.chip.jpg",
)
FACET_ATTRIBUTE_COLUMNS = (
    "gender_presentation_masc", "gender_presentation_fem", "gender_presentation_non_binary",
    "gender_presentation_na",
    *(f"skin_tone_{t}" for t in range(1, 11)), "skin_tone_na",
    "age_presentation_young", "age_presentation_middle", "age_presentation_older",
    "age_presentation_na",
    "hair_color_black", "hair_color_blonde", "hair_color_brown", "hair_color_colored",
    "hair_color_grey", "hair_color_red", "hair_color_na",
    "hairtype_coily", "hairtype_dreadlocks", "hairtype_bald", "hairtype_straight",
    "hairtype_curly", "hairtype_wavy", "hairtype_na",
    "has_facial_hair", "has_tattoo", "has_cap", "has_mask", "has_headscarf", "has_eyeware",
    "visible_torso", "visible_face", "visible_minimal",
    "lighting_underexposed", "lighting_dimly_lit", "lighting_well_lit", "lighting_overexposed",
    "lighting_na",
)  # fmt: skip
FACET_COLUMNS = (
    "person_id",
    "filename",
    "class1",
    "class2",
    *FACET_ATTRIBUTE_COLUMNS,
    "bounding_box",
)


@dataclass(frozen=True)
class WrittenDataset:
    """What a ``write_*`` function wrote: the root, annotation files, images and one record per sample.

    ``rows`` holds, per sample in the order of the annotation file, the values written plus the
    groups the sample was built to fall in. ``malformed`` lists files written to be skipped.
    """

    root: Path
    files: tuple[Path, ...]
    images: tuple[Path, ...]
    rows: tuple[dict[str, Any], ...]
    malformed: tuple[str, ...] = ()


def _write_jpeg(
    path: Path, size: tuple[int, int], color: Sequence[int], rng: np.random.Generator
) -> Path:
    """A small JPEG of ``color`` plus noise (so no two images are byte-identical)."""
    width, height = size
    pixels = np.clip(
        np.asarray(color, dtype=np.int16) + rng.integers(-20, 21, (height, width, 3)), 0, 255
    ).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="JPEG", quality=85)
    return path


def _color(*codes: int) -> tuple[int, int, int]:
    """A colour that depends on a sample's groups, so a model could tell them apart."""
    return (40 + 50 * (codes[0] % 5), 40 + 37 * (sum(codes) % 6), 200 - 45 * (codes[-1] % 4))


def write_fairface(
    root: str | Path,
    n: int = 36,
    *,
    split: str = "val",
    seed: int = 0,
    image_size: tuple[int, int] = (32, 32),
) -> WrittenDataset:
    """``root/fairface_label_{split}.csv`` and ``root/{split}/{1..n}.jpg``, every age bin, gender and race covered."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    images: list[Path] = []
    for i in range(n):
        a, g, r = i % len(FAIRFACE_AGES), i % 2, (i // 2) % len(FAIRFACE_RACES)
        row = {
            "file": f"{split}/{i + 1}.jpg",
            "age": FAIRFACE_AGES[a],
            "gender": FAIRFACE_GENDERS[g],
            "race": FAIRFACE_RACES[r],
            "service_test": "True" if rng.random() < 0.5 else "False",
        }
        images.append(_write_jpeg(root / row["file"], image_size, _color(a, g, r), rng))
        rows.append(row)
    csv_path = root / f"fairface_label_{split}.csv"
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["file", "age", "gender", "race", "service_test"])
        writer.writeheader()
        writer.writerows(rows)
    return WrittenDataset(root, (csv_path,), tuple(images), tuple(rows))


def write_utkface(
    root: str | Path,
    n: int = 30,
    *,
    seed: int = 0,
    malformed: bool = True,
    image_size: tuple[int, int] = (32, 32),
) -> WrittenDataset:
    """``root/UTKFace/[age]_[gender]_[race]_[date&time].jpg.chip.jpg`` files, plus the real release's malformed names."""
    folder = Path(root) / "UTKFace"
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    images: list[Path] = []
    for i in range(n):
        age = int(rng.integers(1, 100))
        gender, race = i % 2, (i // 2) % 5
        stamp = 20170116000000000 + int(rng.integers(0, 10**9))
        name = f"{age}_{gender}_{race}_{stamp}.jpg.chip.jpg"
        images.append(_write_jpeg(folder / name, image_size, _color(race, gender), rng))
        rows.append({"file": name, "age": age, "gender": gender, "race": race})
    bad = UTKFACE_MALFORMED if malformed else ()
    for name in bad:
        images.append(_write_jpeg(folder / name, image_size, (128, 128, 128), rng))
    rows.sort(key=lambda r: str(r["file"]))
    return WrittenDataset(Path(root), (), tuple(images), tuple(rows), bad)


def write_celeba(
    root: str | Path,
    n: int = 30,
    *,
    seed: int = 0,
    bbox: bool = True,
    image_size: tuple[int, int] = (36, 44),
    wild_size: tuple[int, int] = (80, 96),
) -> WrittenDataset:
    """The flat CelebA layout: the three list files and ``img_align_celeba/`` (+ ``img_celeba/`` with ``bbox``).

    Partitions cycle train/val/test (0/1/2); attribute values are random -1/1.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    values = rng.choice([-1, 1], size=(n, len(CELEBA_ATTRIBUTES)))
    rows: list[dict[str, Any]] = []
    images: list[Path] = []
    for i in range(n):
        name = f"{i + 1:06d}.jpg"
        male, young = values[i, CELEBA_ATTRIBUTES.index("Male")] == 1, values[i, -1] == 1
        images.append(
            _write_jpeg(root / "img_align_celeba" / name, image_size, _color(male, young), rng)
        )
        box = (int(rng.integers(0, 20)), int(rng.integers(0, 20)), 40, 50)
        if bbox:
            images.append(
                _write_jpeg(root / "img_celeba" / name, wild_size, _color(young, male), rng)
            )
        rows.append(
            {
                "file": name,
                "attributes": dict(zip(CELEBA_ATTRIBUTES, values[i].tolist(), strict=True)),
                "partition": i % 3,
                "box": box,
            }
        )
    attr = root / "list_attr_celeba.txt"
    # As shipped: the count, the names (trailing space), then each value right-aligned in 2
    # characters after one space, which gives the double spaces before every 1.
    lines = [str(n), " ".join(CELEBA_ATTRIBUTES) + " "]
    lines += [r["file"] + "".join(f" {v:>2}" for v in values[i]) for i, r in enumerate(rows)]
    attr.write_text("\n".join(lines) + "\n")
    part = root / "list_eval_partition.txt"
    part.write_text("".join(f"{r['file']} {r['partition']}\n" for r in rows))
    files = [attr, part]
    if bbox:
        box_file = root / "list_bbox_celeba.txt"
        body = "".join(
            f"{r['file']}{r['box'][0]:>6}{r['box'][1]:>4}{r['box'][2]:>4}{r['box'][3]:>4}\n"
            for r in rows
        )
        box_file.write_text(f"{n}\nimage_id x_1 y_1 width height\n{body}")
        files.append(box_file)
    return WrittenDataset(root, tuple(files), tuple(images), tuple(rows))


def _facet_votes(intent: str, rng: np.random.Generator) -> dict[int, int]:
    """Three annotators' Monk tone votes that every vote rule reads as ``intent``.

    Edge intents: ``other`` (all on tone 5), ``mixed`` (one vote each on 4 and 6: the majority
    and unanimous rules cannot decide; the mean, 5, is in no paper000 group), ``na`` (no vote).
    """
    if intent in ("lighter", "darker"):
        low, high = (1, 4) if intent == "lighter" else (6, 10)
        tone = int(rng.integers(low, high + 1))
        neighbour = tone + 1 if tone < high else tone - 1
        return {tone: 2, neighbour: 1}
    return {"other": {5: 3}, "mixed": {4: 1, 6: 1}, "na": {}}[intent]


def write_facet(
    root: str | Path,
    n: int = 48,
    *,
    seed: int = 0,
    classes: Sequence[str] = FACET_CLASSES[:4],
    persons_per_image: int = 2,
    edge_cases: bool = True,
    image_size: tuple[int, int] = (96, 64),
) -> WrittenDataset:
    """``root/annotations/annotations.csv`` and ``root/images/sa_*.jpg`` with ``n`` people.

    Person ``i`` has class ``classes[i % len(classes)]``; within each class, people cycle
    masc/fem gender presentation, lighter/darker skin tone (clear votes) and young/middle/older
    age, so every class has both groups of every paper-000 comparison. ``edge_cases`` adds three people whose
    skin tone is ``other`` (tone 5), ``mixed`` and ``na``, with ``non_binary``/``na`` gender and
    ``na`` age. Each record's ``skin_tone``, ``gender_presentation`` and ``age_presentation``
    are the groups it was built for; ``box`` is its crop (x, y, width, height).
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    # Cycle the groups by position within the class (j), so every class gets all of them.
    people = [
        (classes[i % len(classes)], ("masc", "fem")[j % 2], ("lighter", "darker")[(j // 2) % 2],
         ("young", "middle", "older")[j % 3])
        for i, j in ((i, i // len(classes)) for i in range(n))
    ]  # fmt: skip
    if edge_cases:
        people += [
            (classes[0], "non_binary", "other", "na"),
            (classes[0], "na", "mixed", "middle"),
            (classes[-1], "masc", "na", "na"),
        ]
    width, height = image_size
    slot = width // persons_per_image
    rows: list[dict[str, Any]] = []
    images: list[Path] = []
    for first in range(0, len(people), persons_per_image):
        filename = f"sa_{1000 + first // persons_per_image}.jpg"
        frame = np.full((height, width, 3), 128, dtype=np.int16)
        for k, (cls, gender, tone, age) in enumerate(people[first : first + persons_per_image]):
            x, y, w, h = slot * k + 2, 3, slot - 4, height - 6
            # Paint the person in a colour of its groups, so a crop differs from the frame.
            frame[y : y + h, x : x + w] = _color(classes.index(cls), len(gender), len(tone))
            votes = _facet_votes(tone, rng)
            record: dict[str, Any] = dict.fromkeys(FACET_ATTRIBUTE_COLUMNS, 0)
            record.update(
                person_id=str(2000 + first + k),
                filename=filename,
                class1=cls,
                class2="",
                bounding_box=json.dumps(
                    {"x": float(x), "y": float(y), "width": float(w), "height": float(h)}
                ),
                visible_face=1,
                lighting_well_lit=1,
            )
            record[f"gender_presentation_{gender}"] = 1
            record[f"age_presentation_{age}"] = 1
            for t, count in votes.items():
                record[f"skin_tone_{t}"] = count
            if not votes:
                record["skin_tone_na"] = 3
            rows.append(
                {
                    **record,
                    "box": (float(x), float(y), float(w), float(h)),
                    "skin_tone": tone,
                    "gender_presentation": gender,
                    "age_presentation": age,
                }
            )
        image = root / "images" / filename
        image.parent.mkdir(parents=True, exist_ok=True)
        noisy = frame + rng.integers(-10, 11, frame.shape)
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(image, "JPEG", quality=90)
        images.append(image)
    csv_path = root / "annotations" / "annotations.csv"
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FACET_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return WrittenDataset(root, (csv_path,), tuple(images), tuple(rows))
