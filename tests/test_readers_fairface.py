"""read_fairface on a tiny copy of FairFace written in the real CSV format."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from fixtures_datasets import WrittenDataset, write_fairface

from pytest_fairquant.data import DataWarning, read_fairface
from pytest_fairquant.data.fairface import FAIRFACE_AGES, FAIRFACE_RACES, MSG_AGE_BINS
from pytest_fairquant.data.readers import (
    MSG_BAD_OPTION,
    MSG_BAD_VALUES,
    MSG_MISSING_FILE,
    MSG_UNKNOWN_COLUMNS,
)
from pytest_fairquant.errors import DataError, InputError

# Paper 000: younger 0-19, middle 20-49, older 50-70+, from FairFace's nine bins.
PAPER_GROUP = {
    "0-2": "younger",
    "3-9": "younger",
    "10-19": "younger",
    "20-29": "middle",
    "30-39": "middle",
    "40-49": "middle",
    "50-59": "older",
    "60-69": "older",
    "more than 70": "older",
}


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> WrittenDataset:
    return write_fairface(tmp_path_factory.mktemp("fairface"), n=45, seed=3)


def test_reads_every_row_with_paper000_age_groups(written: WrittenDataset) -> None:
    split = read_fairface(written.root)
    assert len(split) == 45
    assert split.name == "fairface-val"
    assert split.attributes["age_raw"].tolist() == [r["age"] for r in written.rows]
    assert split.attributes["age"].tolist() == [PAPER_GROUP[r["age"]] for r in written.rows]
    assert split.attributes["gender"].tolist() == [r["gender"] for r in written.rows]
    assert split.attributes["race"].tolist() == [r["race"] for r in written.rows]
    assert set(split.attributes["race"]) == set(FAIRFACE_RACES)
    assert split.groups("age").names == ("middle", "older", "younger")
    assert split.inputs == [str(written.root / r["file"]) for r in written.rows]


def test_without_a_label_every_label_is_zero(written: WrittenDataset) -> None:
    split = read_fairface(written.root)
    assert split.labels.tolist() == [0] * 45
    assert split.class_names is None


def test_an_attribute_can_be_the_label(written: WrittenDataset) -> None:
    split = read_fairface(written.root, label="race")
    assert split.class_names == tuple(sorted(FAIRFACE_RACES))
    names = np.asarray(split.class_names, dtype=object)[split.labels]
    assert names.tolist() == [r["race"] for r in written.rows]
    assert split.task_kind == "multiclass"


def test_raw_and_custom_age_bins(written: WrittenDataset) -> None:
    raw = read_fairface(written.root, age_bins="raw")
    assert raw.attributes["age"].tolist() == [r["age"] for r in written.rows]
    halves = {"under 30": FAIRFACE_AGES[:4], "30 and over": FAIRFACE_AGES[4:]}
    custom = read_fairface(written.root, age_bins=halves)
    expected = [
        "under 30" if r["age"] in FAIRFACE_AGES[:4] else "30 and over" for r in written.rows
    ]
    assert custom.attributes["age"].tolist() == expected
    assert custom.metadata["age_bins"] == halves


def test_age_bins_must_cover_every_raw_bin(written: WrittenDataset) -> None:
    with pytest.raises(InputError) as err:
        read_fairface(written.root, age_bins={"young": ("0-2", "3-9")})
    assert str(err.value) == MSG_AGE_BINS.format(
        unassigned=list(FAIRFACE_AGES[2:]), known=list(FAIRFACE_AGES)
    )


def test_train_split_and_bad_split_name(tmp_path: Path) -> None:
    written = write_fairface(tmp_path, n=9, split="train")
    assert read_fairface(tmp_path, "train").inputs[0] == str(tmp_path / "train" / "1.jpg")
    assert len(written.rows) == 9
    with pytest.raises(
        InputError,
        match=re.escape(
            MSG_BAD_OPTION.format(name="split", allowed=["train", "val"], value="test")
        ),
    ):
        read_fairface(tmp_path, "test")  # type: ignore[arg-type]


def test_missing_label_file_names_it_and_the_layout(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        read_fairface(tmp_path)
    message = str(err.value)
    assert message.startswith(
        MSG_MISSING_FILE.split("{layout}")[0].format(
            dataset="FairFace", path=tmp_path / "fairface_label_val.csv"
        )
    )
    assert "file,age,gender,race,service_test" in message


def test_unknown_columns_are_named_with_the_columns_present(tmp_path: Path) -> None:
    written = write_fairface(tmp_path, n=3)
    csv = written.files[0]
    csv.write_text(csv.read_text().replace("race", "ethnicity", 1))
    with pytest.raises(DataError) as err:
        read_fairface(tmp_path)
    assert str(err.value) == MSG_UNKNOWN_COLUMNS.format(
        dataset="FairFace",
        path=csv,
        missing="'race'",
        present=["file", "age", "gender", "ethnicity", "service_test"],
    )


def test_unknown_values_are_an_error_not_a_new_group(tmp_path: Path) -> None:
    written = write_fairface(tmp_path, n=3)
    csv = written.files[0]
    csv.write_text(csv.read_text().replace(",3-9,", ",3-10,"))
    with pytest.raises(DataError) as err:
        read_fairface(tmp_path)
    assert str(err.value) == MSG_BAD_VALUES.format(
        dataset="FairFace", path=csv, column="age", values=["3-10"], expected=list(FAIRFACE_AGES)
    )


def test_rows_with_an_empty_field_are_skipped_with_one_warning(tmp_path: Path) -> None:
    written = write_fairface(tmp_path, n=5)
    csv = written.files[0]
    with csv.open("a") as f:
        f.write("val/6.jpg,,Male,White,False\nval/7.jpg,20-29,,Indian,True\n")
    with pytest.warns(
        DataWarning,
        match=r"FairFace: skipped 2 of 7 rows of .*fairface_label_val\.csv \(2 with an empty field\); e\.g\. 'val/6\.jpg', 'val/7\.jpg'",
    ):
        split = read_fairface(tmp_path)
    assert len(split) == 5


def test_a_root_under_the_home_folder_is_expanded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_fairface(tmp_path / "ff", n=2)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert read_fairface("~/ff").inputs == [
        str(tmp_path / "ff" / "val" / f"{i}.jpg") for i in (1, 2)
    ]
