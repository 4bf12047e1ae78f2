"""read_utkface on a tiny copy of UTKFace, including the real release's malformed file names."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from fixtures_datasets import UTKFACE_MALFORMED, WrittenDataset, write_utkface

from pytest_fairquant.data import DataWarning, read_utkface
from pytest_fairquant.data.readers import MSG_NOTHING_LEFT
from pytest_fairquant.data.utkface import (
    MSG_AGE_RANGES,
    MSG_NO_IMAGES,
    UTKFACE_GENDERS,
    UTKFACE_RACES,
)
from pytest_fairquant.errors import DataError, InputError


def paper_group(age: int) -> str:
    return "younger" if age <= 19 else "middle" if age <= 49 else "older"


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> WrittenDataset:
    return write_utkface(tmp_path_factory.mktemp("utk"), n=25, seed=1)


def read_quietly(root: Path, **kwargs: object) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return read_utkface(root, **kwargs)  # type: ignore[arg-type]


def test_malformed_names_are_skipped_and_named_in_one_warning(written: WrittenDataset) -> None:
    with pytest.warns(DataWarning) as record:
        split = read_utkface(written.root)
    assert len(record) == 1
    message = str(record[0].message)
    assert message.startswith("UTKFace: skipped 3 of 28 files in ")
    for name in UTKFACE_MALFORMED:
        assert name in message
    assert len(split) == 25


def test_attributes_and_gender_labels_come_from_the_file_names(written: WrittenDataset) -> None:
    split = read_quietly(written.root)
    rows = written.rows
    assert [Path(p).name for p in split.inputs] == [r["file"] for r in rows]
    assert split.labels.tolist() == [r["gender"] for r in rows]
    assert split.class_names == ("male", "female") == UTKFACE_GENDERS
    assert split.attributes["gender"].tolist() == [UTKFACE_GENDERS[r["gender"]] for r in rows]
    assert split.attributes["race"].tolist() == [UTKFACE_RACES[r["race"]] for r in rows]
    assert split.attributes["age_years"].tolist() == [r["age"] for r in rows]
    assert split.attributes["age"].tolist() == [paper_group(r["age"]) for r in rows]


def test_race_and_age_can_be_the_label(written: WrittenDataset) -> None:
    by_race = read_quietly(written.root, label="race")
    assert by_race.labels.tolist() == [r["race"] for r in written.rows]
    assert by_race.class_names == ("White", "Black", "Asian", "Indian", "Others")
    by_age = read_quietly(written.root, label="age")
    assert by_age.class_names == ("younger", "middle", "older")
    names = np.asarray(by_age.class_names, dtype=object)[by_age.labels]
    assert names.tolist() == [paper_group(r["age"]) for r in written.rows]


def test_custom_age_ranges_must_not_overlap(written: WrittenDataset) -> None:
    split = read_quietly(written.root, age_bins={"child": (0, 17), "adult": (18, 130)})
    assert split.attributes["age"].tolist() == [
        "child" if r["age"] <= 17 else "adult" for r in written.rows
    ]
    overlapping = {"a": (0, 50), "b": (40, 130)}
    first_clash = next(r["age"] for r in written.rows if 40 <= r["age"] <= 50)
    with pytest.raises(InputError) as err:
        read_quietly(written.root, age_bins=overlapping)
    assert str(err.value) == MSG_AGE_RANGES.format(age=first_clash, count=2, bins=overlapping)


def test_the_image_folder_itself_can_be_the_root(written: WrittenDataset) -> None:
    nested = read_quietly(written.root)
    direct = read_quietly(written.root / "UTKFace")
    assert direct.inputs == nested.inputs
    assert direct.fingerprint == nested.fingerprint


def test_a_folder_without_images_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=re.escape(MSG_NO_IMAGES.format(path=tmp_path))):
        read_utkface(tmp_path)


def test_only_malformed_names_leaves_nothing(tmp_path: Path) -> None:
    write_utkface(tmp_path, n=0)
    folder = tmp_path / "UTKFace"
    with pytest.raises(
        DataError, match=re.escape(MSG_NOTHING_LEFT.format(dataset="UTKFace", path=folder))
    ):
        read_quietly(tmp_path)
